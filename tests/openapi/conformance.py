#!/usr/bin/env python3
"""The document's status codes, the other way round: against a real `dtq
serve`, every status code the document lists for an operation is provoked
and its response validated (validate.py), but those listed in EXEMPT with
the reason they cannot be provoked on one healthy `dtq serve` (a backend
down, a worker late, a fault of the server's). A code documented and never
answered fails, as does a response that does not conform. Also checks that
/openapi.json needs no key and equals the document built in.

  conformance.py DTQ PLUGIN_DIR DOCUMENT LOGS
"""
import json
import pathlib
import socket
import sys
import time
import urllib.parse

import harness
import validate

# (operation, status): why no request here provokes it.
EXEMPT_ANY = {
    "500": "a fault of the server's (an exception in a handler); none is known",
    "503": "a backend, or the API key store, unreachable: a healthy serve always reaches them",
    "504": "a backend or a worker not answering in time: distributed mode only",
}
EXEMPT = {
    ("GET /readyz", "503"): "answered before the engine runs and while it drains, not once ready",
}


class Client:
    def __init__(self, url, document):
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.document = document
        self.seen = set()
        self.problems = []

    def raw(self, method, path, headers=(), body=b"", read_all=True):
        """Sends one request on a connection of its own; (status, headers,
        body). Reads the body by its Content-Length or its chunks (the
        server need not close: see docs/openapi.md, findings); an event
        stream only up to its head unless `read_all` (a job's ends)."""
        head = f"{method} {path} HTTP/1.1\r\n"
        if not any(n.lower() == "host" for n, _ in headers):
            head += f"Host: 127.0.0.1:{self.port}\r\n"
        for name, value in headers:
            head += f"{name}: {value}\r\n"
        if body and not any(n.lower() == "content-length" for n, _ in headers):
            head += f"Content-Length: {len(body)}\r\n"
        data = head.encode() + b"\r\n" + body
        with socket.create_connection((self.host, self.port), timeout=15) as sock:
            try:
                sock.sendall(data)
            except OSError:
                pass  # refused early and closed: the answer is still readable
            received = b""

            def more():
                nonlocal received
                chunk = sock.recv(65536)
                received += chunk
                return bool(chunk)

            while b"\r\n\r\n" not in received and more():
                pass
            raw_head, _, rest = received.partition(b"\r\n\r\n")
            lines = raw_head.decode(errors="replace").split("\r\n")
            status = int(lines[0].split()[1])
            fields = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                fields[name.strip().lower()] = value.strip()
            stream = fields.get("content-type", "").startswith("text/event-stream")
            if "content-length" in fields:
                while len(received) - len(raw_head) - 4 < int(fields["content-length"]) and more():
                    pass
                rest = received.partition(b"\r\n\r\n")[2]
            elif fields.get("transfer-encoding", "").lower() == "chunked":
                if read_all or not stream:
                    while not received.endswith(b"0\r\n\r\n") and more():
                        pass
                rest = dechunk(received.partition(b"\r\n\r\n")[2])
        return status, fields, rest.decode(errors="replace")

    def check(self, method, path, status_wanted, headers=(), body=b"", read_all=True):
        status, fields, text = self.raw(method, path, headers, body, read_all)
        template, _ = self.document.operation(method, path)
        key = f"{method} {template}"
        if status != status_wanted:
            self.problems.append(f"{key}: wanted {status_wanted}, got {status}: {text[:200]}")
        self.seen.add((key, str(status)))
        if fields.get("content-type", "").startswith("text/event-stream"):
            text = ""  # a stream: its media type is checked, not its endless body
        self.problems += self.document.problems(method, path, status,
                                                fields.get("content-type", ""), text)
        return status, fields, text


def dechunk(data):
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        try:
            size = int(size_line.split(b";")[0], 16)
        except ValueError:
            break
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2:]
    return out


def run(client, document_json):
    key = [("Authorization", f"Bearer {harness.TOKEN}")]
    as_json = key + [("Content-Type", "application/json")]
    paths = []
    for template, item in document_json["paths"].items():
        for method in item:
            if method in validate.METHODS:
                paths.append((method.upper(), template))
    unknown = "/v1/jobs/00000000-0000-4000-8000-000000000000"
    concrete = {"{id}": unknown[len("/v1/jobs/"):], "{job_type}": "quote"}

    def fill(template):
        for name, value in concrete.items():
            template = template.replace(name, value)
        return template

    # Whatever the route: a broken head, a declared body over the limit, a
    # head over the limit; without a key; from a Host not served.
    for method, template in paths:
        path = fill(template)
        client.check(method, path, 400, key + [("Content-Length", "12x")])
        # The batch submit takes 4 MiB; every other route 1 MiB.
        declared = 8 << 20 if template == "/v1/jobs:batch" else 2 << 20
        client.check(method, path, 413, key + [("Content-Length", str(declared))])
        client.check(method, path, 431, key + [("X-Filler", "a" * (20 << 10))])
        secured = document_json["paths"][template][method.lower()].get("security") != [{}]
        if secured:
            client.check(method, path, 401)
        if template not in ("/healthz", "/readyz"):
            client.check(method, path, 403, key + [("Host", "elsewhere.example")])

    # The probes, the metrics, the document itself.
    client.check("GET", "/healthz", 200)
    client.check("GET", "/readyz", 200)
    client.check("GET", "/metrics", 200, key)
    status, _, text = client.check("GET", "/openapi.json", 200)
    if json.loads(text) != document_json:
        client.problems.append("GET /openapi.json: not the document built in")

    # Job types, submits, lookups.
    client.check("GET", "/v1/job-types", 200, key)
    def submit(status, body):
        time.sleep(1.05)  # serve takes one submit a second here
        return client.check("POST", "/v1/jobs", status, as_json, body)

    submit(400, b"{")
    submit(400, b'{"job_type":1}')
    submit(400, b'{"job_type":"weather","payload":{"city":7}}')
    submit(404, b'{"job_type":"nope","payload":{}}')
    client.check("POST", "/v1/jobs", 415, key + [("Content-Type", "text/plain")], b"{}")
    client.check("POST", "/v1/jobs", 413, as_json, b"x" * ((1 << 20) + 1))
    _, _, text = submit(202, b'{"job_type":"quote","payload":{}}')
    job_id = json.loads(text)["job_id"]
    # Past the rate (serve runs with --submit-rate 1).
    for _ in range(5):
        status, _, _ = client.raw("POST", "/v1/jobs", as_json, b'{"job_type":"quote","payload":{}}')
        if status == 429:
            break
    client.check("POST", "/v1/jobs", 429, as_json, b'{"job_type":"quote","payload":{}}')
    deadline = time.monotonic() + 60
    while True:
        _, _, text = client.check("GET", f"/v1/jobs/{job_id}/status", 200, key)
        if json.loads(text)["state"] in ("completed", "failed", "cancelled"):
            break
        if time.monotonic() > deadline:
            client.problems.append(f"job {job_id} did not end: {text}")
            break
        time.sleep(0.2)
    _, _, text = client.check("GET", f"/v1/jobs/{job_id}", 200, key)
    if "result" not in json.loads(text):
        client.problems.append(f"GET /v1/jobs/{{id}}: an ended job without its result: {text}")
    client.check("POST", f"/v1/jobs/{job_id}/cancel", 409, key)
    client.check("GET", f"/v1/jobs/{job_id}/events", 200, key)  # ends after the final status
    client.check("GET", f"/v1/jobs/{job_id}/history", 200, key)
    for suffix in ("", "/status", "/cancel", "/events", "/history"):
        method = "POST" if suffix == "/cancel" else "GET"
        client.check(method, f"/v1/jobs/not-a-uuid{suffix}", 400, key)
        client.check(method, f"{unknown}{suffix}", 404, key)
    # Idempotency keys: a repeat is the same 202, the key with another
    # payload 409, a malformed key 400.
    def keyed(status, key, body):
        time.sleep(1.05)
        return client.check("POST", "/v1/jobs", status, as_json + [("Idempotency-Key", key)], body)

    _, _, first = keyed(202, "conformance-1", b'{"job_type":"quote","payload":{}}')
    _, fields, again = keyed(202, "conformance-1", b'{"job_type":"quote","payload":{}}')
    if fields.get("idempotent-replayed") != "true" or json.loads(again) != json.loads(first):
        client.problems.append(f"POST /v1/jobs: a keyed repeat is not the first answer: {again}")
    keyed(409, "conformance-1", b'{"job_type":"quote","payload":{"max_length":100}}')
    keyed(400, "k" * 256, b'{"job_type":"quote","payload":{}}')
    # A queued job cancelled (submitted after the rate's second passed).
    _, _, text = submit(202, b'{"job_type":"weather","payload":{"city":"Austin","country_code":"US"}}')
    client.check("POST", f"/v1/jobs/{json.loads(text)['job_id']}/cancel", 200, key)

    # Batch submits: each job answered on its own; the request refused
    # whole only when it is not {jobs: [1 to 1,000]}. One request, one
    # submit of the rate.
    def batch(status, body, headers=None):
        time.sleep(1.05)
        return client.check("POST", "/v1/jobs:batch", status, headers or as_json, body)

    _, _, text = batch(200, json.dumps({"jobs": [
        {"job_type": "quote", "payload": {}},
        {"job_type": "quote", "payload": {}, "delay_seconds": 3600},
        {"job_type": "quote", "payload": {}, "idempotency_key": "conformance-1"},
        {"job_type": "nope", "payload": {}},
        {"job_type": "weather", "payload": {"city": 7}},
        {"job_type": "quote"},
        {"job_type": "quote", "payload": {"max_length": 100}, "idempotency_key": "conformance-1"},
    ]}).encode())
    if [("job_id" in r) for r in json.loads(text)["results"]] != [True] * 3 + [False] * 4:
        client.problems.append(f"POST /v1/jobs:batch: not each job answered in order: {text}")
    batch(400, b"{")
    batch(400, b'{"jobs":[]}')
    batch(400, json.dumps({"jobs": [{"job_type": "quote", "payload": {}}] * 1001}).encode())
    client.check("POST", "/v1/jobs:batch", 415, key + [("Content-Type", "text/plain")], b"{}")
    client.check("POST", "/v1/jobs:batch", 413, as_json, b" " * ((4 << 20) + 1))
    client.check("POST", "/v1/jobs:batch", 429, as_json, b'{"jobs":[]}')

    # Lists.
    client.check("GET", "/v1/jobs", 200, key)
    client.check("GET", "/v1/jobs?limit=1&state=&job_type=quote", 200, key)
    client.check("GET", "/v1/jobs?state=bogus", 400, key)
    client.check("GET", "/v1/jobs?limit=0", 400, key)
    client.check("GET", "/v1/jobs?cursor=not-a-cursor", 400, key)

    # The stream of every job: open one (serve allows one), a second is 429.
    with socket.create_connection((client.host, client.port), timeout=10) as held:
        held.sendall(f"GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
                     f"{harness.TOKEN}\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += held.recv(4096)
        status = int(head.split()[1])
        fields = dict((l.split(":", 1)[0].strip().lower(), l.split(":", 1)[1].strip())
                      for l in head.decode().split("\r\n\r\n")[0].split("\r\n")[1:] if ":" in l)
        client.seen.add(("GET /v1/events", str(status)))
        client.problems += client.document.problems("GET", "/v1/events", status,
                                                    fields.get("content-type", ""), "")
        client.check("GET", "/v1/events", 429, key)
        client.check("GET", f"{unknown}/events".replace(unknown, f"/v1/jobs/{job_id}"), 429, key)
    client.check("GET", "/v1/events?state=bogus", 400, key)

    # Dead letters and retries: a github_user job for a user the fake
    # GitHub does not know fails for good and is dead-lettered.
    _, _, text = submit(202, b'{"job_type":"github_user","payload":{"username":"no-such-user-dtq"}}')
    dead = json.loads(text)["job_id"]
    deadline = time.monotonic() + 60
    while True:
        _, _, text = client.check("GET", "/v1/dead-letters?job_type=github_user&limit=5", 200, key)
        if any(letter["job_id"] == dead for letter in json.loads(text)["dead_letters"]):
            break
        if time.monotonic() > deadline:
            client.problems.append(f"job {dead} was never dead-lettered: {text}")
            break
        time.sleep(0.2)
    client.check("GET", "/v1/dead-letters", 200, key)
    client.check("GET", "/v1/dead-letters?job_type=Not%20A%20Type", 400, key)
    client.check("GET", "/v1/dead-letters?limit=0", 400, key)
    _, _, text = client.check("POST", f"/v1/jobs/{dead}:retry", 202, key)
    client.check("POST", f"/v1/jobs/{job_id}:retry", 409, key)  # the quote job completed
    client.check("POST", f"{unknown}:retry", 404, key)
    client.check("POST", "/v1/jobs/not-a-uuid:retry", 400, key)
    client.check("POST", f"/v1/dead-letters/{dead}:replay", 202, key)
    client.check("POST", f"/v1/dead-letters/{dead}:replay", 409, key)
    client.check("POST", "/v1/dead-letters/not-a-uuid:replay", 400, key)
    client.check("POST", f"/v1/dead-letters/{concrete['{id}']}:replay", 404, key)
    client.check("POST", "/v1/dead-letters:replay?job_type=github_user", 200, key)
    client.check("POST", "/v1/dead-letters:replay", 400, key)
    client.check("DELETE", f"/v1/dead-letters/{dead}", 200, key)
    client.check("DELETE", f"/v1/dead-letters/{dead}", 404, key)
    client.check("DELETE", "/v1/dead-letters/not-a-uuid", 400, key)

    # Pausing a job type (admin); resumed before the end, whatever follows.
    for verb in ("pause", "resume"):
        client.check("POST", f"/v1/job-types/quote:{verb}", 200, key)
        client.check("POST", f"/v1/job-types/nope:{verb}", 404, key)
        client.check("POST", f"/v1/job-types/Not%20A%20Type:{verb}", 400, key)


def main(dtq, plugin_dir, document_path, logs):
    logs = pathlib.Path(logs)
    logs.mkdir(parents=True, exist_ok=True)
    document = validate.Document(document_path)
    with harness.serve(dtq, plugin_dir, logs,
                       ["--allowed-hosts", "127.0.0.1", "--metrics-key", "--submit-rate", "1",
                        "--max-streams", "1"]) as url:
        client = Client(url, document)
        run(client, document.document)
    missing = []
    for template, item in document.document["paths"].items():
        for method, operation in item.items():
            if method not in validate.METHODS:
                continue
            key = f"{method.upper()} {template}"
            for status in operation["responses"]:
                if (key, status) in client.seen or (key, status) in EXEMPT or status in EXEMPT_ANY:
                    continue
                missing.append(f"{key} {status}: documented, never answered")
    for problem in client.problems + missing:
        print("openapi:", problem)
    exempt = sorted({s for s in EXEMPT_ANY} | {f"{k} {s}" for k, s in EXEMPT})
    print(f"conformance: {len(client.seen)} (operation, status) pairs answered; exempt: "
          f"{', '.join(exempt)}; {len(client.problems) + len(missing)} problems")
    return 1 if client.problems or missing else 0


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
