"""Starts the server (harness.py) and runs the Schemathesis CLI against it;
see schemathesis.sh. Exits with Schemathesis's status."""
import os
import pathlib
import subprocess
import sys

import harness

CHECKS = ",".join(["not_a_server_error", "response_schema_conformance",
                   "status_code_conformance", "content_type_conformance"])
# The streams: described, never run (they do not end).
EXCLUDE = r"^/v1/(jobs/\{id\}/)?events$"


def schemathesis(url, logs, name):
    examples = os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "100")
    command = [sys.executable, "-m", "schemathesis.cli", "run", f"{url}/openapi.json",
               "--url", url,
               "--header", f"Authorization: Bearer {harness.TOKEN}",
               "--checks", CHECKS,
               "--phases", "examples,coverage,fuzzing,stateful",
               "--exclude-path-regex", EXCLUDE,
               "--max-examples", examples,
               "--request-timeout", "30",
               "--workers", "1",
               "--seed", os.environ.get("SCHEMATHESIS_SEED", "19"),
               "--no-color",
               "--report", "junit", "--report-dir", str(logs / f"report-{name}")]
    print("schemathesis:", " ".join(command), flush=True)
    # In the logs folder: Schemathesis keeps a .schemathesis/ of its own
    # where it runs, which must not land in the source tree.
    return subprocess.run(command, cwd=logs).returncode


def main(mode, dtq, plugin_dir, logs, state=None):
    logs = pathlib.Path(logs).resolve()
    logs.mkdir(parents=True, exist_ok=True)
    if mode == "serve":
        # A rate no test run reaches: a 429 would hide what the submit does.
        with harness.serve(dtq, plugin_dir, logs, ["--submit-rate", "100000"]) as url:
            return schemathesis(url, logs, "serve")
    if mode == "api":
        with harness.api(dtq, plugin_dir, logs, state) as url:
            return schemathesis(url, logs, "api")
    sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
