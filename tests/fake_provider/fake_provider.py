#!/usr/bin/env python3
"""Local stand-in for the internet providers that dtq's plugins call.

Tests cannot reach Open-Meteo, Frankfurter, dummyjson or GitHub (and would be
flaky if they could), so this server answers the same paths with the same
response shapes from recorded data in recordings.json.  A control API under
/__ lets a test inject the failures real providers produce: latency, error
statuses, rate limits, broken bodies, connection resets and hangs.

Start-up contract relied on by the C++ tests: after binding, exactly one line
"LISTENING <port>" is printed to stdout; SIGTERM or SIGINT stops the server
with exit status 0.  See README.md.
"""

from __future__ import annotations

import argparse
import http
import json
import math
import re
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

RECORDINGS = Path(__file__).with_name("recordings.json")
JSON_TYPE = "application/json; charset=utf-8"

NO_ROUTE = {"message": "no such route in fake provider"}

METRIC_UNITS = {
    "temperature_2m": "°C",
    "relative_humidity_2m": "%",
    "wind_speed_10m": "km/h",
    "weather_code": "wmo code",
}
# WMO codes handed out to unrecorded coordinates, one per condition family.
WMO_CYCLE = (0, 1, 2, 3, 45, 51, 61, 71, 80, 95)
KMH_PER_MPH = 1.609344

GITHUB_LIMIT = 60
GITHUB_NOT_FOUND = {
    "message": "Not Found",
    "documentation_url": "https://docs.github.com/rest/users/users#get-a-user",
    "status": "404",
}
GITHUB_NO_USER_AGENT = {
    "message": "Request forbidden by administrative rules. "
    "Please make sure your request has a User-Agent header",
}

# Per fault kind, the options a rule may carry besides path, kind and times.
FAULT_OPTIONS = {
    "latency": {"delay_ms"},
    "status": {"status", "body", "headers"},
    "rate_limit": {"status", "retry_after", "reset_in"},
    "malformed": set(),
    "reset": set(),
    "timeout": {"delay_ms"},
}
TIMEOUT_DEFAULT_MS = 30_000


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(status: int, payload: object, headers: dict[str, str] | None = None) -> Reply:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return Reply(status, body, {"Content-Type": JSON_TYPE, **(headers or {})})


def merge_headers(base: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
    """Header names are case-insensitive, so an override must displace any spelling."""
    overridden = {name.lower() for name in extra}
    return {k: v for k, v in base.items() if k.lower() not in overridden} | extra


def default_error_body(status: int) -> bytes:
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "error"
    return json.dumps({"message": phrase}).encode()


def github_rate_headers(remaining: int, reset_at: int) -> dict[str, str]:
    return {
        "x-ratelimit-limit": str(GITHUB_LIMIT),
        "x-ratelimit-remaining": str(remaining),
        "x-ratelimit-reset": str(reset_at),
        "x-ratelimit-used": str(GITHUB_LIMIT - remaining),
        "x-ratelimit-resource": "core",
    }


def grid_key(latitude: float, longitude: float) -> tuple[float, float]:
    """Clients send rounded coordinates (52.52, 13.41); match recordings the same way."""
    return round(latitude, 2), round(longitude, 2)


def parse_coordinate(text: str | None, limit: float) -> float | None:
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and -limit <= value <= limit else None


def derived_reading(latitude: float, longitude: float) -> dict:
    """Unrecorded places still get stable, plausible weather, so any coordinate works."""
    seed = int(abs(latitude) * 100 + abs(longitude) * 100)
    return {
        "elevation": float(seed % 900),
        "temperature_2m": round(30 - abs(latitude) * 0.6 + (seed % 50) / 10, 1),
        "relative_humidity_2m": 30 + seed % 65,
        "wind_speed_10m": round((seed % 400) / 10, 1),
        "weather_code": WMO_CYCLE[seed % len(WMO_CYCLE)],
    }


def frankfurter_round(value: float) -> float:
    """Frankfurter prints about five significant digits (0.96042, 154.81)."""
    if value == 0:
        return 0.0
    integer_digits = math.floor(math.log10(abs(value))) + 1
    return round(value, max(0, 5 - integer_digits))


class Providers:
    """The four providers' routes, answered from the recordings."""

    def __init__(self, recordings: dict):
        self._places = sorted(recordings["geocoding"], key=lambda p: -p["population"])
        forecast = recordings["forecast"]
        self._forecast_time = forecast["time"]
        self._readings = {
            grid_key(r["latitude"], r["longitude"]): r for r in forecast["readings"]
        }
        fx = recordings["frankfurter"]
        self._fx_date = fx["date"]
        self._eur_rates = {"EUR": 1.0, **fx["eur_rates"]}
        self._quotes = recordings["quotes"]
        self._users = {login.lower(): user for login, user in recordings["github_users"].items()}
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Restart the quote rotation and the GitHub rate-limit window."""
        with self._lock:
            self._next_quote = 0
            self._github_remaining = GITHUB_LIMIT
            self._github_reset_at = int(time.time()) + 3600

    def route(self, method: str, path: str, query: dict[str, str], headers: Message) -> Reply:
        if method != "GET":
            return json_reply(404, NO_ROUTE)
        if path == "/v1/search":
            return self.geocode(query)
        if path == "/v1/forecast":
            return self.forecast(query)
        if path in ("/latest", "/v1/latest"):
            return self.latest(query)
        if path == "/quotes/random":
            return self.random_quote()
        if match := re.fullmatch(r"/quotes/([^/]+)", path):
            return self.quote(match[1])
        if match := re.fullmatch(r"/users/([^/]+)", path):
            return self.github_user(match[1], headers)
        return json_reply(404, NO_ROUTE)

    def geocode(self, query: dict[str, str]) -> Reply:
        if "name" not in query:
            return json_reply(400, {"error": True, "reason": "Parameter 'name' is required"})
        try:
            count = int(query.get("count", "10"))
        except ValueError:
            return json_reply(400, {"error": True, "reason": "Parameter 'count' must be an integer"})
        name = query["name"].strip().casefold()
        country = query.get("countryCode", "").upper()
        matches = [
            place for place in self._places
            if place["name"].casefold() == name and country in ("", place["country_code"])
        ]
        body: dict = {"results": matches[: max(1, min(count, 100))]} if matches else {}
        body["generationtime_ms"] = 0.42
        return json_reply(200, body)

    def forecast(self, query: dict[str, str]) -> Reply:
        latitude = parse_coordinate(query.get("latitude"), 90)
        if latitude is None:
            return json_reply(400, {"error": True, "reason": "Latitude must be in range of -90 to 90"})
        longitude = parse_coordinate(query.get("longitude"), 180)
        if longitude is None:
            return json_reply(400, {"error": True, "reason": "Longitude must be in range of -180 to 180"})
        variables = [v for v in query.get("current", "").split(",") if v]
        for variable in variables:
            if variable not in METRIC_UNITS:
                reason = f"Cannot initialize ForecastVariable from invalid String value {variable}"
                return json_reply(400, {"error": True, "reason": reason})

        reading = self._readings.get(grid_key(latitude, longitude)) or derived_reading(latitude, longitude)
        units = dict(METRIC_UNITS)
        values = {name: reading[name] for name in METRIC_UNITS}
        if query.get("temperature_unit") == "fahrenheit":
            units["temperature_2m"] = "°F"
            values["temperature_2m"] = round(reading["temperature_2m"] * 9 / 5 + 32, 1)
        if query.get("wind_speed_unit") == "mph":
            units["wind_speed_10m"] = "mp/h"
            values["wind_speed_10m"] = round(reading["wind_speed_10m"] / KMH_PER_MPH, 1)

        body = {
            "latitude": round(latitude, 2),
            "longitude": round(longitude, 2),
            "generationtime_ms": 0.05,
            "utc_offset_seconds": 0,
            "timezone": "GMT",
            "timezone_abbreviation": "GMT",
            "elevation": reading["elevation"],
        }
        if variables:
            body["current_units"] = {"time": "iso8601", "interval": "seconds"} | {
                v: units[v] for v in variables
            }
            body["current"] = {"time": self._forecast_time, "interval": 900} | {
                v: values[v] for v in variables
            }
        return json_reply(200, body)

    def latest(self, query: dict[str, str]) -> Reply:
        # "base" and "symbols" are Frankfurter's older names for "from" and "to".
        base = query.get("from", query.get("base", "EUR")).upper()
        wanted = query.get("to", query.get("symbols"))
        symbols = [s.upper() for s in wanted.split(",") if s] if wanted else list(self._eur_rates)
        try:
            amount = float(query.get("amount", "1"))
        except ValueError:
            return json_reply(422, {"message": "invalid amount"})
        targets = [s for s in symbols if s != base]
        if base not in self._eur_rates or not targets or any(s not in self._eur_rates for s in targets):
            return json_reply(404, {"message": "not found"})
        rates = {
            s: frankfurter_round(amount * self._eur_rates[s] / self._eur_rates[base])
            for s in sorted(targets)
        }
        return json_reply(200, {"amount": amount, "base": base, "date": self._fx_date, "rates": rates})

    def random_quote(self) -> Reply:
        """Rotates instead of picking at random so tests can predict the quote."""
        with self._lock:
            quote = self._quotes[self._next_quote % len(self._quotes)]
            self._next_quote += 1
        return json_reply(200, quote)

    def quote(self, raw_id: str) -> Reply:
        if not raw_id.isdigit():
            return json_reply(400, {"message": f"Invalid quote id '{raw_id}'"})
        for quote in self._quotes:
            if quote["id"] == int(raw_id):
                return json_reply(200, quote)
        return json_reply(404, {"message": f"Quote with id '{raw_id}' not found"})

    def github_user(self, username: str, headers: Message) -> Reply:
        if not headers.get("User-Agent"):
            return json_reply(403, GITHUB_NO_USER_AGENT)
        with self._lock:
            self._github_remaining = max(0, self._github_remaining - 1)
            rate_headers = github_rate_headers(self._github_remaining, self._github_reset_at)
        user = self._users.get(username.lower())
        if user is None:
            return json_reply(404, GITHUB_NOT_FOUND, rate_headers)
        return json_reply(200, user, rate_headers)


@dataclass
class Fault:
    id: int
    kind: str
    path: str
    remaining: int  # -1: applies forever
    options: dict


def _int_option(spec: dict, name: str, default: int | None, low: int, high: int | None = None) -> int:
    value = spec.get(name, default)
    if value is None:
        raise ValueError(f"'{name}' is required")
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if not is_int or value < low or (high is not None and value > high):
        bounds = f"{low}..{high}" if high is not None else f">= {low}"
        raise ValueError(f"'{name}' must be an integer {bounds}")
    return value


def parse_fault(spec: object) -> tuple[str, str, int, dict]:
    """Validates strictly: a misspelt option silently ignored would make a test pass for the wrong reason."""
    if not isinstance(spec, dict):
        raise ValueError("a fault must be a JSON object")
    kind = spec.get("kind")
    if kind not in FAULT_OPTIONS:
        raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_OPTIONS)}")
    unexpected = set(spec) - {"path", "kind", "times"} - FAULT_OPTIONS[kind]
    if unexpected:
        raise ValueError(f"unexpected field(s) for kind {kind}: {', '.join(sorted(unexpected))}")
    path = spec.get("path", "")
    if not isinstance(path, str):
        raise ValueError("'path' must be a string")
    times = _int_option(spec, "times", 1, -1)
    if times == 0:
        raise ValueError("'times' must be -1 (forever) or at least 1")

    options: dict = {}
    if kind == "latency":
        options["delay_ms"] = _int_option(spec, "delay_ms", None, 0)
    elif kind == "timeout":
        options["delay_ms"] = _int_option(spec, "delay_ms", TIMEOUT_DEFAULT_MS, 0)
    elif kind == "status":
        options["status"] = _int_option(spec, "status", 500, 200, 599)
        body = spec.get("body")
        if body is not None and not isinstance(body, str):
            raise ValueError("'body' must be a string")
        options["body"] = body
        headers = spec.get("headers", {})
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise ValueError("'headers' must be an object of strings")
        if any(name.lower() in ("content-length", "transfer-encoding") for name in headers):
            raise ValueError("'headers' may not set Content-Length or Transfer-Encoding")
        options["headers"] = headers
    elif kind == "rate_limit":
        options["status"] = _int_option(spec, "status", 429, 200, 599)
        if "retry_after" in spec:
            options["retry_after"] = _int_option(spec, "retry_after", None, 0)
        if "reset_in" in spec:
            options["reset_in"] = _int_option(spec, "reset_in", None, 0)
    return kind, path, times, options


class FaultTable:
    def __init__(self):
        self._lock = threading.Lock()
        self._rules: list[Fault] = []
        self._next_id = 1

    def add(self, spec: object) -> int:
        kind, path, times, options = parse_fault(spec)
        with self._lock:
            fault = Fault(self._next_id, kind, path, times, options)
            self._next_id += 1
            self._rules.append(fault)
        return fault.id

    def take(self, path: str) -> Fault | None:
        """The oldest rule matching path, charged one use."""
        with self._lock:
            for fault in self._rules:
                if path.startswith(fault.path):
                    if fault.remaining > 0:
                        fault.remaining -= 1
                        if fault.remaining == 0:
                            self._rules.remove(fault)
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()


class FakeProvider:
    """Everything the request handlers share."""

    def __init__(self, recordings: dict):
        self.providers = Providers(recordings)
        self.faults = FaultTable()
        self.stopping = threading.Event()
        self._log_lock = threading.Lock()
        self._log: list[dict] = []

    def record(self, entry: dict) -> None:
        with self._log_lock:
            self._log.append(entry)

    def requests(self) -> list[dict]:
        with self._log_lock:
            return list(self._log)

    def reset(self) -> None:
        """Back to the start state, so each test sees the same server whatever ran before."""
        self.faults.clear()
        self.providers.reset()
        with self._log_lock:
            self._log.clear()


def mask_credentials(value: str) -> str:
    scheme, _, secret = value.partition(" ")
    return f"{scheme} ***" if secret else "***"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, a kept-alive
    # client waits ~40 ms for the delayed ACK on every request.
    disable_nagle_algorithm = True
    server: FakeProviderServer

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        url = urlsplit(self.path)
        path = unquote(url.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        if path.startswith("/__"):
            self._send(self._control(path, body))
        else:
            self._provider(path, query)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def _control(self, path: str, body: bytes) -> Reply:
        fake = self.server.fake
        match self.command, path:
            case "POST", "/__faults":
                try:
                    fault_id = fake.faults.add(json.loads(body))
                except ValueError as error:
                    return json_reply(400, {"message": f"bad fault: {error}"})
                return json_reply(201, {"id": fault_id})
            case "DELETE", "/__faults":
                fake.reset()
                return Reply(204)
            case "GET", "/__requests":
                return json_reply(200, fake.requests())
            case "GET", "/__health":
                return json_reply(200, {"ok": True})
        return json_reply(404, {"message": f"no such control route: {self.command} {path}"})

    def _provider(self, path: str, query: dict[str, str]) -> None:
        fake = self.server.fake
        fault = fake.faults.take(path)
        fake.record({
            "method": self.command,
            "path": path,
            "query": query,
            "headers": self._logged_headers(),
            "fault": fault.kind if fault else None,
        })

        def normal() -> Reply:
            return fake.providers.route(self.command, path, query, self.headers)

        if fault is None:
            self._send(normal())
        elif fault.kind == "latency":
            if self._pause(fault.options["delay_ms"]):
                self._send(normal())
        elif fault.kind == "status":
            status = fault.options["status"]
            body = fault.options["body"]
            headers = merge_headers({"Content-Type": JSON_TYPE}, fault.options["headers"])
            self._send(Reply(status, body.encode() if body is not None else default_error_body(status), headers))
        elif fault.kind == "rate_limit":
            self._send(self._rate_limited(fault.options))
        elif fault.kind == "malformed":
            reply = normal()
            # Any proper prefix of a JSON object is invalid JSON.
            self._send(Reply(200, reply.body[: max(1, len(reply.body) // 2)], {"Content-Type": JSON_TYPE}))
        elif fault.kind == "reset":
            self._reset_connection()
        elif fault.kind == "timeout":
            self._pause(fault.options["delay_ms"])
            self.close_connection = True

    def _rate_limited(self, options: dict) -> Reply:
        status = options["status"]
        headers = {"Content-Type": JSON_TYPE}
        if "retry_after" in options:
            headers["Retry-After"] = str(options["retry_after"])
        if "reset_in" not in options:
            return Reply(status, default_error_body(status), headers)
        headers |= github_rate_headers(0, int(time.time()) + options["reset_in"])
        return json_reply(status, {
            "message": f"API rate limit exceeded for {self.client_address[0]}. (But here's the good news: "
            "Authenticated requests get a higher rate limit. Check out the documentation for more details.)",
            "documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting",
        }, headers)

    def _pause(self, delay_ms: int) -> bool:
        """Sleeps, but wakes at shutdown so a hanging fault never delays exit; False then."""
        if self.server.fake.stopping.wait(delay_ms / 1000):
            self.close_connection = True
            return False
        return True

    def _reset_connection(self) -> None:
        """SO_LINGER (1, 0) makes close() send RST instead of FIN.

        Closing here, rather than leaving it to socketserver, also keeps its
        shutdown(SHUT_WR) from sending a FIN first, which clients would read as
        a clean end of stream instead of a reset.
        """
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def _logged_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            name = name.lower()
            if name == "authorization":
                value = mask_credentials(value)
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        return headers

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.status != http.HTTPStatus.NO_CONTENT:  # 204 must not carry Content-Length
            self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args) -> None:
        if self.server.verbose:
            super().log_message(format, *args)


class FakeProviderServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], fake: FakeProvider, verbose: bool):
        self.fake = fake
        self.verbose = verbose
        super().__init__(address, Handler)

    def server_bind(self) -> None:
        """HTTPServer.server_bind looks up the host's FQDN, which can stall for seconds without DNS."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address) -> None:
        """Clients hanging up mid-response are routine under fault injection; report only real bugs."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--bind", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    args = parser.parse_args(argv)

    fake = FakeProvider(json.loads(RECORDINGS.read_text(encoding="utf-8")))
    server = FakeProviderServer((args.bind, args.port), fake, args.verbose)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: fake.stopping.set())
    # A short poll interval keeps shutdown() quick; tests start and stop this server often.
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    print(f"LISTENING {server.server_address[1]}", flush=True)

    fake.stopping.wait()
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
