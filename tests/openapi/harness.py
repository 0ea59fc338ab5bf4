"""The servers tests/openapi/ runs against, started as the functional tests
start them: the fake provider (tests/fake_provider/) for the plugins'
outbound calls, and either a real `dtq serve` on a temporary data folder, or
a real `dtq api` with one `dtq worker` per shipped plugin on the Redis,
RabbitMQ, Kafka and FerretDB servers of the `distributed_servers` fixture
(tests/functional/distributed_servers.sh; DTQ_TEST_DISTRIBUTED_STATE names
their folder). Each prints "LISTENING <url>" first; stderr goes to a log.
"""
import contextlib
import ctypes
import json
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

HERE = pathlib.Path(__file__).resolve().parent
SOURCE = HERE.parent.parent
TOKEN = "openapi-test-token-0123456789"
PLUGINS = ("weather", "quote", "exchange_rate", "github_user")


def _die_with_parent():
    """In the child before exec: SIGTERM when this harness dies, however it
    dies (a ctest timeout, a kill), so no server outlives it."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _listening(process, what):
    line = process.stdout.readline().decode().strip()
    if not line.startswith("LISTENING "):
        raise RuntimeError(f"{what} did not start: {line!r}")
    return line.split(" ", 1)[1]


@contextlib.contextmanager
def fake_provider(logs):
    process = subprocess.Popen(
        ["python3", str(SOURCE / "tests/fake_provider/fake_provider.py"), "--port", "0"],
        stdout=subprocess.PIPE, stderr=open(logs / "fake_provider.log", "wb"),
        preexec_fn=_die_with_parent)
    try:
        port = _listening(process, "the fake provider")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def _start(dtq, args, env, log):
    return subprocess.Popen([dtq, *args], stdout=subprocess.PIPE, stderr=open(log, "wb"), env=env,
                            preexec_fn=_die_with_parent)


def _stop(processes):
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_ready(url, seconds=60):
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=5) as reply:
                if reply.status == 200:
                    return
        except Exception:  # not yet
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} not ready within {seconds} s")
        time.sleep(0.2)


@contextlib.contextmanager
def serve(dtq, plugin_dir, logs, extra=()):
    """A real `dtq serve`; yields its base URL."""
    data = pathlib.Path(tempfile.mkdtemp(prefix="dtq-openapi-"))
    with fake_provider(logs) as provider:
        env = dict(os.environ, DTQ_HTTP_BASE_URL=provider, DTQ_API_TOKEN=TOKEN)
        process = _start(dtq, ["--plugin-dir", plugin_dir, "--data-dir", str(data), "--log-level",
                               "warn", "serve", "--listen", "127.0.0.1:0", *extra],
                         env, logs / "serve.log")
        try:
            url = _listening(process, "dtq serve")
            wait_ready(url)
            yield url
        finally:
            _stop([process])
            shutil.rmtree(data, ignore_errors=True)


def distributed_env(state):
    env = {}
    for server in ("redis", "rabbitmq", "kafka", "ferretdb"):
        for line in (pathlib.Path(state) / server / "env").read_text().splitlines():
            name, _, value = line.partition("=")
            if value:
                env[name] = value
    return env


@contextlib.contextmanager
def api(dtq, plugin_dir, logs, state):
    """A real `dtq api` and a `dtq worker --only TYPE` per shipped plugin on
    the distributed servers in `state`; yields the API's base URL."""
    with fake_provider(logs) as provider:
        env = dict(os.environ, **distributed_env(state), DTQ_HTTP_BASE_URL=provider,
                   DTQ_API_TOKEN=TOKEN, DTQ_CLUSTER_SECRET="openapi-test-cluster-secret")
        common = ["--plugin-dir", plugin_dir, "--log-level", "warn"]
        workers = [_start(dtq, [*common, "worker", "--only", plugin], env,
                          logs / f"worker-{plugin}.log") for plugin in PLUGINS]
        process = _start(dtq, [*common, "api", "--listen", "127.0.0.1:0"], env, logs / "api.log")
        try:
            url = _listening(process, "dtq api")
            wait_ready(url, 120)
            # Every pool registered: a submit finds its job type.
            deadline = time.monotonic() + 120
            while True:
                request = urllib.request.Request(url + "/v1/job-types",
                                                 headers={"Authorization": f"Bearer {TOKEN}"})
                with urllib.request.urlopen(request, timeout=10) as reply:
                    types = json.load(reply)["job_types"]
                if all(any(t["job_type"] == p and t["pools"] > 0 for t in types) for p in PLUGINS):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"pools not registered: {types}")
                time.sleep(0.5)
            yield url
        finally:
            _stop([process, *workers])
