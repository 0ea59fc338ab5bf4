#!/usr/bin/env python3
"""The reference page (api/reference/: Swagger UI over /openapi.json) as
`dtq serve --ui-dir` serves it from a UI folder it was built into: every
file it loads is the server's own (no CDN), and headless Chromium renders
every operation of the document from /openapi.json.

  reference_test.py DTQ PLUGIN_DIR DOCUMENT LOGS
"""
import json
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request

import harness


def get(url):
    with urllib.request.urlopen(url, timeout=15) as reply:
        return reply.status, reply.headers.get("Content-Type", ""), reply.read()


def main(dtq, plugin_dir, document_path, logs):
    logs = pathlib.Path(logs)
    logs.mkdir(parents=True, exist_ok=True)
    problems = []
    ui = pathlib.Path(tempfile.mkdtemp(prefix="dtq-reference-"))
    try:
        (ui / "index.html").write_text("<!doctype html><title>ui</title>")
        subprocess.run([str(harness.SOURCE / "api/reference/build.sh"), str(ui / "api-reference")],
                       check=True)
        with harness.serve(dtq, plugin_dir, logs, ["--ui-dir", str(ui)]) as url:
            status, kind, page = get(url + "/api-reference/")
            if status != 200 or not kind.startswith("text/html"):
                problems.append(f"/api-reference/: {status} {kind}")
            for src in re.findall(rb'(?:src|href)="([^"]+)"', page):
                source = src.decode()
                if re.match(r"^(https?:)?//", source):
                    problems.append(f"the page loads {source} from elsewhere")
                    continue
                status, kind, _ = get(url + source)
                if status != 200:
                    problems.append(f"{source}: {status}")
            chromium = shutil.which("chromium")
            if chromium is None:
                print("reference: no chromium (scripts/install-deps.sh test): render not checked")
            else:
                profile = tempfile.mkdtemp(prefix="dtq-reference-chromium-")
                dom = subprocess.run(
                    [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                     "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
                     "--virtual-time-budget=10000", "--dump-dom", url + "/api-reference/"],
                    capture_output=True, text=True, timeout=120).stdout
                shutil.rmtree(profile, ignore_errors=True)
                (logs / "reference-dom.html").write_text(dom)
                document = json.loads(pathlib.Path(document_path).read_text())
                for path in document["paths"]:
                    if f'data-path="{path}"' not in dom:
                        problems.append(f"the rendered page does not show {path}")
    finally:
        shutil.rmtree(ui, ignore_errors=True)
    for problem in problems:
        print("reference:", problem)
    print(f"reference: {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
