#!/usr/bin/env python3
"""Self-test of the fake provider: every route and every fault kind, over real HTTP.

Runs the server as a subprocess exactly as the C++ tests do (port 0, read the
LISTENING line), so the start-up and shutdown contract is checked too.
"""

from __future__ import annotations

import http.client
import json
import re
import select
import signal
import subprocess
import sys
import threading
import time
import unittest
from pathlib import Path

SERVER = Path(__file__).resolve().with_name("fake_provider.py")
UA = {"User-Agent": "dtq-selftest/1.0"}
FORECAST_VARS = "temperature_2m,relative_humidity_2m,wind_speed_10m,weather_code"
GITHUB_FIELDS = (
    "login id node_id avatar_url html_url type site_admin name company blog location email "
    "bio twitter_username public_repos public_gists followers following created_at updated_at"
).split()


def start_server() -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, str(SERVER), "--port", "0"],
                            stdout=subprocess.PIPE, text=True)
    ready, _, _ = select.select([proc.stdout], [], [], 10)
    line = proc.stdout.readline() if ready else ""
    match = re.fullmatch(r"LISTENING (\d+)\n", line)
    if not match:
        proc.kill()
        raise RuntimeError(f"unexpected start-up line {line!r}")
    return proc, int(match[1])


class Client:
    def __init__(self, port: int):
        self.port = port

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict | None = None, timeout: float = 5):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response, response.read()
        finally:
            conn.close()

    def get(self, path: str, headers: dict | None = None):
        """GET returning (status, response, parsed JSON body)."""
        status, response, body = self.request("GET", path, headers=UA if headers is None else headers)
        return status, response, json.loads(body)

    def add_fault(self, **spec) -> int:
        status, _, body = self.request("POST", "/__faults", json.dumps(spec).encode())
        assert status == 201, (status, body)
        return json.loads(body)["id"]

    def logged(self) -> list[dict]:
        return self.get("/__requests")[2]


class FakeProviderTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.proc, port = start_server()
        cls.client = Client(port)

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        cls.proc.wait(5)
        cls.proc.stdout.close()

    def setUp(self):
        status, _, _ = self.client.request("DELETE", "/__faults")
        self.assertEqual(status, 204)

    # --- control API -------------------------------------------------------

    def test_health(self):
        status, response, body = self.client.get("/__health")
        self.assertEqual((status, body), (200, {"ok": True}))
        self.assertEqual(response.getheader("Content-Type"), "application/json; charset=utf-8")

    def test_keep_alive(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.client.port, timeout=5)
        try:
            sockets = []
            for path in ("/__health", "/quotes/random", "/v1/search?name=Tokyo"):
                conn.request("GET", path)
                response = conn.getresponse()
                self.assertEqual(response.status, 200)
                self.assertIsNotNone(response.getheader("Content-Length"))
                response.read()
                sockets.append(conn.sock)
            self.assertIsNotNone(sockets[0])
            self.assertTrue(all(s is sockets[0] for s in sockets))
        finally:
            conn.close()

    def test_request_log(self):
        self.client.get("/v1/search?name=Paris&count=2")
        self.client.get("/users/octocat", {**UA, "Authorization": "Bearer ghp_secret123"})
        log = self.client.logged()
        self.assertEqual([e["path"] for e in log], ["/v1/search", "/users/octocat"])
        self.assertEqual(log[0]["method"], "GET")
        self.assertEqual(log[0]["query"], {"name": "Paris", "count": "2"})
        self.assertEqual(log[0]["headers"]["user-agent"], "dtq-selftest/1.0")
        self.assertIsNone(log[0]["fault"])
        self.assertEqual(log[1]["headers"]["authorization"], "Bearer ***")
        self.assertNotIn("ghp_secret123", json.dumps(log))

        self.client.request("DELETE", "/__faults")
        self.assertEqual(self.client.logged(), [])

    def test_fault_validation(self):
        bad_specs = [
            b"{not json",
            b"[1, 2]",
            json.dumps({"kind": "explode"}).encode(),
            json.dumps({"kind": "latency"}).encode(),
            json.dumps({"kind": "latency", "delay": 5}).encode(),
            json.dumps({"kind": "status", "times": 0}).encode(),
            json.dumps({"kind": "status", "status": "500"}).encode(),
            json.dumps({"kind": "status", "headers": {"Content-Length": "3"}}).encode(),
        ]
        for spec in bad_specs:
            with self.subTest(spec=spec):
                status, _, body = self.client.request("POST", "/__faults", spec)
                self.assertEqual(status, 400)
                self.assertIn("message", json.loads(body))

    def test_unknown_control_route(self):
        status, _, body = self.client.get("/__nothing")
        self.assertEqual(status, 404)

    # --- Open-Meteo geocoding --------------------------------------------

    def test_geocoding(self):
        status, response, body = self.client.get("/v1/search?name=austin&count=1&language=en")
        self.assertEqual(status, 200)
        self.assertEqual(response.getheader("Content-Type"), "application/json; charset=utf-8")
        (austin,) = body["results"]
        self.assertEqual(
            {k: austin[k] for k in ("name", "country_code", "latitude", "longitude", "timezone", "admin1")},
            {"name": "Austin", "country_code": "US", "latitude": 30.26715, "longitude": -97.74306,
             "timezone": "America/Chicago", "admin1": "Texas"})
        for name, country in [("Berlin", "DE"), ("London", "GB"), ("Paris", "FR"), ("Tokyo", "JP"), ("Sydney", "AU")]:
            with self.subTest(name=name):
                _, _, body = self.client.get(f"/v1/search?name={name.upper()}&count=1")
                self.assertEqual(body["results"][0]["country_code"], country)

    def test_geocoding_country_filter_and_count(self):
        _, _, body = self.client.get("/v1/search?name=London&count=10")
        self.assertEqual([r["country_code"] for r in body["results"]], ["GB", "CA"])
        _, _, body = self.client.get("/v1/search?name=London&count=1&countryCode=CA")
        self.assertEqual([r["admin1"] for r in body["results"]], ["Ontario"])

    def test_geocoding_no_match_has_no_results_key(self):
        status, _, body = self.client.get("/v1/search?name=Atlantis&count=1")
        self.assertEqual(status, 200)
        self.assertNotIn("results", body)
        self.assertIn("generationtime_ms", body)
        _, _, body = self.client.get("/v1/search?name=Berlin&countryCode=US")
        self.assertNotIn("results", body)

    def test_geocoding_requires_name(self):
        status, _, body = self.client.get("/v1/search?count=1")
        self.assertEqual((status, body), (400, {"error": True, "reason": "Parameter 'name' is required"}))

    # --- Open-Meteo forecast ---------------------------------------------

    def test_forecast_recorded_metric(self):
        status, _, body = self.client.get(f"/v1/forecast?latitude=30.27&longitude=-97.74&current={FORECAST_VARS}")
        self.assertEqual(status, 200)
        for key in ("latitude", "longitude", "generationtime_ms", "utc_offset_seconds", "timezone", "elevation"):
            self.assertIn(key, body)
        self.assertEqual(body["current_units"], {
            "time": "iso8601", "interval": "seconds", "temperature_2m": "°C",
            "relative_humidity_2m": "%", "wind_speed_10m": "km/h", "weather_code": "wmo code"})
        current = body["current"]
        self.assertEqual(current["interval"], 900)
        self.assertRegex(current["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d$")
        self.assertEqual(
            (current["temperature_2m"], current["relative_humidity_2m"], current["wind_speed_10m"], current["weather_code"]),
            (22.4, 61, 14.8, 2))

    def test_forecast_imperial(self):
        _, _, body = self.client.get(
            f"/v1/forecast?latitude=30.26715&longitude=-97.74306&current={FORECAST_VARS}"
            "&temperature_unit=fahrenheit&wind_speed_unit=mph")
        self.assertEqual(body["current_units"]["temperature_2m"], "°F")
        self.assertEqual(body["current_units"]["wind_speed_10m"], "mp/h")
        self.assertEqual(body["current"]["temperature_2m"], 72.3)
        self.assertEqual(body["current"]["wind_speed_10m"], 9.2)

    def test_forecast_recorded_cities_cover_several_conditions(self):
        codes = set()
        for lat, lon in [(52.52, 13.41), (51.51, -0.13), (48.85, 2.35), (35.69, 139.69), (-33.87, 151.21)]:
            _, _, body = self.client.get(f"/v1/forecast?latitude={lat}&longitude={lon}&current={FORECAST_VARS}")
            codes.add(body["current"]["weather_code"])
        self.assertTrue({0, 3, 61, 95} <= codes, codes)

    def test_forecast_unrecorded_is_deterministic(self):
        path = f"/v1/forecast?latitude=12.3&longitude=45.6&current={FORECAST_VARS}"
        first, second = self.client.get(path)[2], self.client.get(path)[2]
        self.assertEqual(first, second)
        self.assertTrue(0 <= first["current"]["relative_humidity_2m"] <= 100)
        self.assertIsInstance(first["current"]["weather_code"], int)

    def test_forecast_only_requested_variables(self):
        _, _, body = self.client.get("/v1/forecast?latitude=1&longitude=2&current=weather_code")
        self.assertEqual(set(body["current"]), {"time", "interval", "weather_code"})
        _, _, body = self.client.get("/v1/forecast?latitude=1&longitude=2")
        self.assertNotIn("current", body)
        status, _, body = self.client.get("/v1/forecast?latitude=1&longitude=2&current=snow_depth_cm")
        self.assertEqual((status, body["error"]), (400, True))

    def test_forecast_bad_coordinates(self):
        latitude_error = {"error": True, "reason": "Latitude must be in range of -90 to 90"}
        longitude_error = {"error": True, "reason": "Longitude must be in range of -180 to 180"}
        cases = [("latitude=91&longitude=0", latitude_error), ("latitude=abc&longitude=0", latitude_error),
                 ("longitude=0", latitude_error), ("latitude=0&longitude=-180.5", longitude_error),
                 ("latitude=0&longitude=nan", longitude_error)]
        for query, expected in cases:
            with self.subTest(query=query):
                status, _, body = self.client.get(f"/v1/forecast?{query}&current=temperature_2m")
                self.assertEqual((status, body), (400, expected))

    # --- Frankfurter -------------------------------------------------------

    def test_frankfurter(self):
        for path in ("/latest", "/v1/latest"):
            with self.subTest(path=path):
                status, _, body = self.client.get(f"{path}?from=USD&to=EUR")
                self.assertEqual(status, 200)
                self.assertEqual(set(body), {"amount", "base", "date", "rates"})
                self.assertEqual((body["amount"], body["base"], list(body["rates"])), (1.0, "USD", ["EUR"]))
                self.assertAlmostEqual(body["rates"]["EUR"], 0.96, delta=0.02)

    def test_frankfurter_amount_and_list(self):
        _, _, one = self.client.get("/latest?from=GBP&to=USD,JPY")
        _, _, ten = self.client.get("/latest?from=GBP&to=USD,JPY&amount=10")
        self.assertEqual(ten["amount"], 10.0)
        self.assertEqual(set(ten["rates"]), {"USD", "JPY"})
        for currency in ("USD", "JPY"):
            self.assertAlmostEqual(ten["rates"][currency], one["rates"][currency] * 10,
                                   delta=one["rates"][currency] * 0.001)

    def test_frankfurter_defaults_to_eur(self):
        _, _, body = self.client.get("/latest")
        self.assertEqual(body["base"], "EUR")
        self.assertTrue({"USD", "GBP", "JPY", "CHF", "CAD", "AUD", "CNY", "SEK", "NOK"} <= set(body["rates"]))
        self.assertNotIn("EUR", body["rates"])

    def test_frankfurter_not_found(self):
        for query in ("from=XXX&to=EUR", "from=USD&to=XXX", "from=USD&to=USD", "from=EUR&to=GBP,XXX"):
            with self.subTest(query=query):
                status, _, body = self.client.get(f"/latest?{query}")
                self.assertEqual((status, body), (404, {"message": "not found"}))

    # --- dummyjson quotes ------------------------------------------------

    def test_quote_rotation(self):
        ids = [self.client.get("/quotes/random")[2]["id"] for _ in range(11)]
        self.assertEqual(ids[:10], list(range(1, 11)))
        self.assertEqual(ids[10], 1)
        self.client.request("DELETE", "/__faults")
        _, _, quote = self.client.get("/quotes/random")
        self.assertEqual(set(quote), {"id", "quote", "author"})
        self.assertEqual(quote["id"], 1)

    def test_quote_by_id(self):
        _, _, quote = self.client.get("/quotes/3")
        self.assertEqual(quote["id"], 3)
        self.assertEqual(self.client.get("/quotes/999")[0], 404)
        self.assertEqual(self.client.get("/quotes/abc")[0], 400)

    # --- GitHub ----------------------------------------------------------

    def test_github_users(self):
        for login, user_id, name in [("octocat", 583231, "The Octocat"), ("torvalds", 1024025, "Linus Torvalds")]:
            with self.subTest(login=login):
                status, _, user = self.client.get(f"/users/{login}")
                self.assertEqual(status, 200)
                for key in GITHUB_FIELDS:
                    self.assertIn(key, user)
                self.assertEqual((user["login"], user["id"], user["name"]), (login, user_id, name))

    def test_github_rate_limit_headers(self):
        before = int(time.time())
        _, first, _ = self.client.get("/users/octocat")
        _, second, _ = self.client.get("/users/nobody-here")
        self.assertEqual(first.getheader("x-ratelimit-limit"), "60")
        self.assertEqual(first.getheader("x-ratelimit-remaining"), "59")
        self.assertEqual(first.getheader("x-ratelimit-used"), "1")
        self.assertEqual(first.getheader("x-ratelimit-resource"), "core")
        self.assertGreater(int(first.getheader("x-ratelimit-reset")), before)
        self.assertEqual(second.getheader("x-ratelimit-remaining"), "58")

    def test_github_unknown_user(self):
        status, _, body = self.client.get("/users/no-such-user-xyz")
        self.assertEqual((status, body), (404, {
            "message": "Not Found",
            "documentation_url": "https://docs.github.com/rest/users/users#get-a-user",
            "status": "404"}))

    def test_github_requires_user_agent(self):
        status, _, body = self.client.get("/users/octocat", headers={})
        self.assertEqual(status, 403)
        self.assertIn("User-Agent", body["message"])

    def test_unknown_route(self):
        for method, path in [("GET", "/v2/everything"), ("POST", "/quotes/random")]:
            with self.subTest(path=path):
                status, _, body = self.client.request(method, path, b"{}")
                self.assertEqual((status, json.loads(body)), (404, {"message": "no such route in fake provider"}))

    # --- faults ----------------------------------------------------------

    def test_fault_latency(self):
        self.client.add_fault(path="/quotes", kind="latency", delay_ms=300)
        started = time.monotonic()
        status, _, _ = self.client.get("/quotes/random")
        self.assertEqual(status, 200)
        self.assertGreaterEqual(time.monotonic() - started, 0.29)

    def test_fault_status(self):
        self.client.add_fault(path="/v1/forecast", kind="status", status=503, body="upstream down",
                              headers={"Retry-After": "3", "Content-Type": "text/plain"})
        self.client.add_fault(path="/v1/forecast", kind="status", status=502)
        status, response, body = self.client.request("GET", "/v1/forecast?latitude=1&longitude=2")
        self.assertEqual((status, body), (503, b"upstream down"))
        self.assertEqual(response.getheader("Retry-After"), "3")
        self.assertEqual(response.getheader("Content-Type"), "text/plain")
        status, _, body = self.client.get("/v1/forecast?latitude=1&longitude=2")
        self.assertEqual((status, body), (502, {"message": "Bad Gateway"}))
        self.assertEqual(self.client.get("/v1/forecast?latitude=1&longitude=2")[0], 200)

    def test_fault_rate_limit_plain(self):
        self.client.add_fault(path="/latest", kind="rate_limit", retry_after=7)
        status, response, _ = self.client.get("/latest?from=USD&to=EUR")
        self.assertEqual(status, 429)
        self.assertEqual(response.getheader("Retry-After"), "7")
        self.assertIsNone(response.getheader("x-ratelimit-remaining"))

    def test_fault_rate_limit_github(self):
        self.client.add_fault(path="/users/", kind="rate_limit", status=403, reset_in=120)
        now = int(time.time())
        status, response, body = self.client.get("/users/octocat")
        self.assertEqual(status, 403)
        self.assertEqual(response.getheader("x-ratelimit-remaining"), "0")
        self.assertEqual(response.getheader("x-ratelimit-limit"), "60")
        self.assertEqual(response.getheader("x-ratelimit-used"), "60")
        self.assertEqual(response.getheader("x-ratelimit-resource"), "core")
        self.assertTrue(now + 119 <= int(response.getheader("x-ratelimit-reset")) <= now + 122)
        self.assertTrue(body["message"].startswith("API rate limit exceeded for 127.0.0.1."))
        self.assertIn("rate-limiting", body["documentation_url"])

    def test_fault_malformed(self):
        _, _, whole = self.client.request("GET", "/v1/search?name=Berlin", headers=UA)
        self.client.add_fault(path="/v1/search", kind="malformed")
        status, response, body = self.client.request("GET", "/v1/search?name=Berlin", headers=UA)
        self.assertEqual(status, 200)
        self.assertEqual(int(response.getheader("Content-Length")), len(body))
        self.assertTrue(whole.startswith(body) and len(body) < len(whole))
        with self.assertRaises(ValueError):
            json.loads(body)

    def test_fault_reset(self):
        self.client.add_fault(kind="reset")
        with self.assertRaises(ConnectionResetError) as caught:
            self.client.request("GET", "/quotes/random")
        # RemoteDisconnected is a ConnectionResetError too, but means a clean FIN.
        self.assertNotIsInstance(caught.exception, http.client.RemoteDisconnected)
        self.assertEqual(self.client.get("/quotes/random")[0], 200)

    def test_fault_timeout_does_not_block_others(self):
        self.client.add_fault(path="/v1/forecast", kind="timeout", delay_ms=1500)
        outcome = {}

        def hang():
            started = time.monotonic()
            try:
                self.client.request("GET", "/v1/forecast?latitude=1&longitude=2")
            except Exception as error:  # noqa: BLE001 - recorded for the assertions below
                outcome["error"] = error
            outcome["elapsed"] = time.monotonic() - started

        thread = threading.Thread(target=hang)
        thread.start()
        time.sleep(0.2)
        started = time.monotonic()
        self.assertEqual(self.client.get("/__health")[0], 200)
        self.assertLess(time.monotonic() - started, 1.0)
        thread.join(5)
        self.assertIsInstance(outcome.get("error"), http.client.RemoteDisconnected)
        self.assertGreaterEqual(outcome["elapsed"], 1.4)

    def test_fault_times_order_and_prefix(self):
        self.client.add_fault(path="/v1/", kind="status", status=500, times=2)
        self.client.add_fault(path="/v1/", kind="status", status=503)
        self.client.add_fault(kind="status", status=418, times=-1)
        results = [self.client.request("GET", path, headers=UA)[0] for path in (
            "/v1/search?name=Tokyo", "/v1/forecast?latitude=1&longitude=2", "/v1/search?name=Tokyo",
            "/v1/search?name=Tokyo", "/quotes/random", "/users/octocat")]
        self.assertEqual(results, [500, 500, 503, 418, 418, 418])
        self.assertEqual(self.client.get("/__health")[0], 200)  # control routes are never faulted
        self.assertEqual([e["fault"] for e in self.client.logged()], ["status"] * 6)


class ShutdownTest(unittest.TestCase):
    def test_signal_stops_promptly_even_with_hanging_request(self):
        for signum in (signal.SIGTERM, signal.SIGINT):
            with self.subTest(signal=signum.name):
                proc, port = start_server()
                client = Client(port)
                try:
                    client.add_fault(kind="timeout")  # the default 30 s hang
                    outcome = {}

                    def hang():
                        try:
                            outcome["reply"] = client.request("GET", "/quotes/random", timeout=10)
                        except (http.client.HTTPException, OSError) as error:
                            outcome["error"] = error

                    thread = threading.Thread(target=hang)
                    thread.start()
                    deadline = time.monotonic() + 5
                    while not client.logged() and time.monotonic() < deadline:
                        time.sleep(0.02)
                    started = time.monotonic()
                    proc.send_signal(signum)
                    self.assertEqual(proc.wait(5), 0)
                    self.assertLess(time.monotonic() - started, 2)
                    self.assertEqual(proc.stdout.read(), "")
                    thread.join(5)
                    self.assertIn("error", outcome)  # closed without any response
                finally:
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait()
                    proc.stdout.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
