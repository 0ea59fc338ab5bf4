#!/usr/bin/env python3
"""What a dtq process costs before it runs a job: start-up time and idle memory.

Issue 15 asks that an idle worker use under 30 MB and that start-up with the
four shipped plugins take under 100 ms. This measures both, for the real
binaries with the real plugins, and prints them; like every benchmark here it
asserts nothing.

  process_bench.py BUILD_DIR [--rounds N] [--idle-seconds S] [--distributed]

For each case, N rounds, each in a fresh data folder:
  - start-up: from exec to ready: `dtq serve`'s LISTENING line (its API,
    pools and plugin runners are up), or `dtq worker`'s /readyz answering 200
    on its admin port (polled every 2 ms);
  - idle memory, after S seconds without work: the RSS of the dtq process, of
    each plugin runner, and the PSS of them all (resident pages shared by
    several processes counted once, in shares: what the tree costs the
    machine; RSS summed would count the shared libraries once per process).
Cases: `dtq serve` and `dtq worker` on the embedded backends, each with the
plugins isolated (the default: one runner process per plugin) and in
process (`--isolation in_process`). With --distributed, also `dtq worker` on
Kafka, Redis, MongoDB (FerretDB) and RabbitMQ, started by
tests/functional/distributed_servers.sh on loopback ports of their own and
stopped after.
"""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)
SERVERS_SCRIPT = os.path.join(SOURCE, "tests", "functional", "distributed_servers.sh")
SERVERS = ["redis", "rabbitmq", "kafka", "ferretdb"]
SHIPPED = ["weather", "quote", "exchange_rate", "github_user"]
TOKEN = "process-bench-token-0123456789abcdef"
SECRET = "process-bench-cluster-secret"


def tree(pid):
    """pid and its descendants, parents first."""
    found = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            for child in children.read().split():
                found += tree(int(child))
    except OSError:
        pass
    return found


def kib(path, field):
    with open(path) as source:
        for line in source:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def footprint(pid):
    """(RSS of pid, [RSS of each runner], PSS of the whole tree), in MiB."""
    host_rss = kib(f"/proc/{pid}/status", "VmRSS") / 1024
    runners = []
    pss = 0
    for member in tree(pid):
        try:
            pss += kib(f"/proc/{member}/smaps_rollup", "Pss")
            if member != pid:
                with open(f"/proc/{member}/comm") as comm:
                    name = comm.read().strip()
                if name.startswith("dtq-plugin-run"):
                    runners.append(kib(f"/proc/{member}/status", "VmRSS") / 1024)
        except OSError:
            continue  # it ended between the listing and the read
    return host_rss, runners, pss / 1024


def ready_line(process, prefix, deadline):
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            return None
        if line.startswith(prefix):
            return line[len(prefix):].strip()
    return None


def readyz(address, deadline):
    url = f"http://{address}/readyz"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.002)
    return False


def stop(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def one_round(build, plugins, command, isolation, env, idle_seconds):
    """(start-up ms, host RSS, runner RSS list, tree PSS) or None."""
    data = tempfile.mkdtemp(prefix="dtq-process-bench-")
    args = [os.path.join(build, "bin", "dtq"), "--plugin-dir", plugins, "--data-dir", data,
            "--log-level", "warn", command]
    if command == "serve":
        args += ["--listen", "127.0.0.1:0"]
    else:
        args += ["--admin-listen", "127.0.0.1:0"]
    if isolation == "in_process":
        args += ["--isolation", "in_process"]
    child_env = dict(os.environ, DTQ_API_TOKEN=TOKEN, DTQ_CLUSTER_SECRET=SECRET, **env)
    deadline = time.monotonic() + 60
    started = time.monotonic()
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True, env=child_env, cwd=data)
    try:
        if command == "serve":
            ready = ready_line(process, "LISTENING ", deadline) is not None
        else:
            admin = ready_line(process, "ADMIN_LISTENING ", deadline)
            ready = admin is not None and readyz(admin, deadline)
        startup_ms = (time.monotonic() - started) * 1000
        if not ready:
            print(f"process_bench: {' '.join(args[-4:])} did not become ready", file=sys.stderr)
            return None
        time.sleep(idle_seconds)
        host, runners, pss = footprint(process.pid)
        return startup_ms, host, runners, pss
    finally:
        stop(process)
        shutil.rmtree(data, ignore_errors=True)


def start_servers(state):
    env = {}
    starting = [subprocess.Popen([SERVERS_SCRIPT, server, "start", state],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
                for server in SERVERS]
    if any(process.wait() != 0 for process in starting):
        return None
    for server in SERVERS:
        with open(os.path.join(state, server, "env")) as source:
            for line in source:
                name, _, value = line.strip().partition("=")
                if value:
                    env[name] = value
    return env


def stop_servers(state):
    for server in SERVERS:
        subprocess.run([SERVERS_SCRIPT, server, "stop", state], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
    shutil.rmtree(state, ignore_errors=True)


def spread(values, unit, digits=1):
    if not values:
        return "-"
    return (f"{statistics.median(values):.{digits}f} {unit} "
            f"(min {min(values):.{digits}f}, max {max(values):.{digits}f})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("build")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--idle-seconds", type=float, default=3)
    parser.add_argument("--distributed", action="store_true")
    options, _ = parser.parse_known_args()
    options.build = os.path.abspath(options.build)

    plugins = tempfile.mkdtemp(prefix="dtq-process-bench-plugins-")
    for name in SHIPPED:
        shutil.copy(os.path.join(options.build, "plugins", name + ".so"), plugins)
    cases = [(command, "embedded", isolation, {})
             for command in ("serve", "worker") for isolation in ("process", "in_process")]
    state = None
    try:
        if options.distributed:
            state = tempfile.mkdtemp(prefix="dtq-process-bench-servers-")
            env = start_servers(state)
            if env is None:
                print("process_bench: the distributed servers did not start", file=sys.stderr)
                return 1
            cases += [("worker", "distributed", isolation, env)
                      for isolation in ("process", "in_process")]

        print(f"process_bench: {len(SHIPPED)} shipped plugins, {options.rounds} rounds, "
              f"idle {options.idle_seconds:g} s, load average "
              f"{os.getloadavg()[0]:.2f} before")
        header = (f"{'process':<10} {'backends':<12} {'plugins':<11} {'start-up':<30} "
                  f"{'RSS of dtq':<30} {'RSS per runner':<16} {'PSS of the tree':<30}")
        print(header)
        for command, backends, isolation, env in cases:
            rounds = [one_round(options.build, plugins, command, isolation, env,
                                options.idle_seconds) for _ in range(options.rounds)]
            rounds = [r for r in rounds if r is not None]
            runners = [rss for r in rounds for rss in r[2]]
            per_runner = f"{statistics.median(runners):.1f} MB x{len(rounds[-1][2])}" \
                if runners else "none"
            print(f"{'dtq ' + command:<10} {backends:<12} "
                  f"{'isolated' if isolation == 'process' else 'in process':<11} "
                  f"{spread([r[0] for r in rounds], 'ms', 0):<30} "
                  f"{spread([r[1] for r in rounds], 'MB'):<30} {per_runner:<16} "
                  f"{spread([r[3] for r in rounds], 'MB'):<30}")
        print(f"load average {os.getloadavg()[0]:.2f} after")
    finally:
        shutil.rmtree(plugins, ignore_errors=True)
        if state:
            stop_servers(state)
    return 0


if __name__ == "__main__":
    sys.exit(main())
