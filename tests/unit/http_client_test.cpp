// HttpClient against the fake provider: allow-list, base-URL override,
// retries and backoff, Retry-After, timeouts, cancellation, size cap and
// response headers. Backoff is kept to milliseconds so the suite runs fast;
// timing is asserted only as lower bounds, except that a cancelled request
// must end well before the server would have answered.
#include "dtq/host/http_client.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/fake_provider.hpp"

namespace dtq::host {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

constexpr char kGeocodePath[] = "/v1/search?name=Berlin&count=1";

class NeverInterrupted final : public Interruption {
 public:
  bool interrupted() const override { return false; }
  // The backoff between retries is a real wait; nothing cuts it short.
  bool sleep_for(milliseconds duration) const override {
    std::this_thread::sleep_for(duration);
    return true;
  }
};

// Interrupted once `after` has passed since construction, as a job cancelled
// mid-request would be.
class InterruptedAfter final : public Interruption {
 public:
  explicit InterruptedAfter(milliseconds after) : at_(SteadyClock::now() + after) {}
  bool interrupted() const override { return SteadyClock::now() >= at_; }
  bool sleep_for(milliseconds duration) const override {
    std::this_thread::sleep_until(std::min(SteadyClock::now() + duration, at_));
    return !interrupted();
  }

 private:
  SteadyClock::time_point at_;
};

HttpClientSettings fast_settings() {
  HttpClientSettings settings;
  settings.connect_timeout = milliseconds(2000);
  settings.attempt_timeout = milliseconds(5000);
  settings.max_attempts = 3;
  settings.backoff_base = milliseconds(10);
  settings.backoff_max = milliseconds(50);
  return settings;
}

Deadline far_deadline() {
  return SteadyClock::now() + std::chrono::seconds(60);
}

std::optional<std::string> header(const HttpResult& result, const std::string& name) {
  for (const auto& [key, value] : result.headers) {
    if (key == name) return value;
  }
  return std::nullopt;
}

// Note the leading "::": inside dtq, plain `testing` names dtq::testing.
class HttpClientTest : public ::testing::Test {
 protected:
  void SetUp() override { fake().reset(); }

  static dtq::testing::FakeProvider& fake() { return dtq::testing::shared_fake_provider(); }

  // Requests straight to the fake provider.
  OutboundPolicy direct() const { return OutboundPolicy{{"127.0.0.1"}, std::nullopt}; }
  // Requests to the real providers' hosts, redirected to the fake provider.
  OutboundPolicy redirected(const std::string& prefix = "") const {
    return OutboundPolicy{{"api.open-meteo.com", "geocoding-api.open-meteo.com"},
                          fake().base_url() + prefix};
  }
  std::string url(const std::string& path) const { return fake().base_url() + path; }

  HttpResult get(const std::string& target, const OutboundPolicy& policy,
                 const HttpClientSettings& settings = fast_settings()) const {
    HttpRequestSpec request;
    request.url = target;
    return HttpClient(settings).perform(request, policy, far_deadline(), never_);
  }

  NeverInterrupted never_;
};

TEST_F(HttpClientTest, GetsARecordedRoute) {
  const HttpResult result = get(url(kGeocodePath), direct());

  EXPECT_EQ(result.outcome, HttpOutcome::kResponse) << result.error;
  EXPECT_EQ(result.status_code, 200);
  EXPECT_EQ(result.attempts, 1U);
  EXPECT_NE(result.body.find(R"("name":"Berlin")"), std::string::npos) << result.body;
  EXPECT_EQ(header(result, "content-type"), "application/json; charset=utf-8");
  EXPECT_EQ(fake().request_count("/v1/search"), 1U);
  EXPECT_NE(fake().requests_json().find(R"("user-agent":"dtq/0.1")"), std::string::npos);
}

TEST_F(HttpClientTest, RequestUserAgentReplacesTheDefault) {
  HttpRequestSpec request;
  request.url = url(kGeocodePath);
  request.headers = {{"User-Agent", "weather-plugin/2.0"}, {"Accept", "application/json"}};
  const HttpResult result =
      HttpClient(fast_settings()).perform(request, direct(), far_deadline(), never_);

  ASSERT_EQ(result.outcome, HttpOutcome::kResponse) << result.error;
  const std::string log = fake().requests_json();
  EXPECT_NE(log.find(R"("user-agent":"weather-plugin/2.0")"), std::string::npos) << log;
  EXPECT_EQ(log.find("dtq/0.1"), std::string::npos) << log;
}

TEST_F(HttpClientTest, OneClientServesManyThreads) {
  constexpr size_t kThreads = 4;
  constexpr int kRequestsEach = 5;
  const HttpClient client(fast_settings());
  HttpRequestSpec request;
  request.url = url(kGeocodePath);
  const OutboundPolicy policy = direct();
  std::vector<int> ok(kThreads, 0);
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (size_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRequestsEach; ++i) {
        const HttpResult result = client.perform(request, policy, far_deadline(), never_);
        if (result.outcome == HttpOutcome::kResponse && result.status_code == 200) ++ok[t];
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  for (size_t t = 0; t < kThreads; ++t) EXPECT_EQ(ok[t], kRequestsEach) << "thread " << t;
  EXPECT_EQ(fake().request_count("/v1/search"), kThreads * kRequestsEach);
}

TEST_F(HttpClientTest, DeniesHostsOutsideTheAllowList) {
  const HttpResult result = get("https://evil.example/v1/search?name=Berlin", redirected());

  EXPECT_EQ(result.outcome, HttpOutcome::kDenied);
  EXPECT_EQ(result.error,
            "host \"evil.example\" is not in the plugin's allowed hosts "
            "(api.open-meteo.com, geocoding-api.open-meteo.com)");
  EXPECT_EQ(result.attempts, 0U);
  // The user-info part must not smuggle an allowed name past the check.
  EXPECT_EQ(get("https://api.open-meteo.com@evil.example/v1/search", redirected()).outcome,
            HttpOutcome::kDenied);
  EXPECT_EQ(get("https://api.open-meteo.com.evil.example/v1/search", redirected()).outcome,
            HttpOutcome::kDenied);
  // The override applies only after the check: nothing reached the server.
  EXPECT_EQ(fake().request_count("/"), 0U);
}

TEST_F(HttpClientTest, AllowsHttpAndHttpsAndIgnoresHostCase) {
  const std::string path = "/v1/forecast?latitude=52.52&longitude=13.41&current=temperature_2m";
  const HttpResult https = get("https://api.open-meteo.com" + path, redirected());
  const HttpResult http = get("http://API.Open-Meteo.COM" + path, redirected());

  EXPECT_EQ(https.outcome, HttpOutcome::kResponse) << https.error;
  EXPECT_EQ(https.status_code, 200);
  EXPECT_EQ(http.outcome, HttpOutcome::kResponse) << http.error;
  EXPECT_EQ(http.status_code, 200);
  EXPECT_EQ(fake().request_count("/v1/forecast"), 2U);
}

TEST_F(HttpClientTest, DeniesSchemesOtherThanHttp) {
  const HttpResult ftp = get("ftp://api.open-meteo.com/v1/forecast", redirected());
  EXPECT_EQ(ftp.outcome, HttpOutcome::kDenied);
  EXPECT_NE(ftp.error.find("ftp"), std::string::npos) << ftp.error;
  EXPECT_EQ(get("file:///etc/passwd", redirected()).outcome, HttpOutcome::kDenied);
  EXPECT_EQ(get("gopher://api.open-meteo.com/", redirected()).outcome, HttpOutcome::kDenied);
  EXPECT_EQ(fake().request_count("/"), 0U);
}

TEST_F(HttpClientTest, RejectsMalformedUrlsMethodsAndHeaders) {
  EXPECT_EQ(get("not a url", direct()).outcome, HttpOutcome::kInvalid);
  EXPECT_EQ(get("", direct()).outcome, HttpOutcome::kInvalid);
  EXPECT_EQ(get("http://exa mple.com/", direct()).outcome, HttpOutcome::kInvalid);
  EXPECT_EQ(get("http://:80/", direct()).outcome, HttpOutcome::kInvalid);
  EXPECT_EQ(get("http://127.0.0.1/a b", direct()).outcome, HttpOutcome::kInvalid);

  const HttpClient client(fast_settings());
  HttpRequestSpec request;
  request.url = url(kGeocodePath);
  for (const char* method : {"", "GE T", "GET\r\n"}) {
    request.method = method;
    EXPECT_EQ(client.perform(request, direct(), far_deadline(), never_).outcome,
              HttpOutcome::kInvalid)
        << "method \"" << method << "\"";
  }
  request.method = "GET";
  request.headers = {{"X-Token", "a\r\nX-Injected: 1"}};
  EXPECT_EQ(client.perform(request, direct(), far_deadline(), never_).outcome,
            HttpOutcome::kInvalid);
  request.headers = {{"Bad Name", "v"}};
  EXPECT_EQ(client.perform(request, direct(), far_deadline(), never_).outcome,
            HttpOutcome::kInvalid);
  EXPECT_EQ(fake().request_count("/"), 0U);
}

TEST_F(HttpClientTest, BaseUrlOverrideKeepsPathAndQuery) {
  OutboundPolicy policy{{"api.frankfurter.app"}, fake().base_url()};
  const HttpResult result = get("https://api.frankfurter.app/latest?from=USD&to=EUR", policy);

  ASSERT_EQ(result.outcome, HttpOutcome::kResponse) << result.error;
  EXPECT_EQ(result.status_code, 200) << result.body;
  EXPECT_NE(result.body.find(R"("base":"USD")"), std::string::npos) << result.body;
  EXPECT_NE(result.body.find(R"("EUR":)"), std::string::npos) << result.body;
  EXPECT_EQ(fake().request_count("/latest"), 1U);
}

TEST_F(HttpClientTest, BaseUrlOverridePrependsItsPathPrefix) {
  // The fake serves Frankfurter under /latest and /v1/latest; a doubled
  // slash ("/v1//latest") would be a 404.
  for (const std::string prefix : {"/v1", "/v1/"}) {
    OutboundPolicy policy{{"api.frankfurter.app"}, fake().base_url() + prefix};
    const HttpResult result = get("https://api.frankfurter.app/latest?from=USD&to=EUR", policy);
    ASSERT_EQ(result.outcome, HttpOutcome::kResponse) << result.error;
    EXPECT_EQ(result.status_code, 200) << "prefix " << prefix << ": " << result.body;
    EXPECT_NE(result.body.find(R"("base":"USD")"), std::string::npos) << result.body;
  }
  EXPECT_EQ(fake().request_count("/v1/latest"), 2U);
  EXPECT_EQ(fake().request_count("/"), 2U);
}

TEST_F(HttpClientTest, InvalidBaseUrlOverrideIsInvalid) {
  OutboundPolicy policy{{"api.frankfurter.app"}, "ftp://127.0.0.1:1/"};
  EXPECT_EQ(get("https://api.frankfurter.app/latest", policy).outcome, HttpOutcome::kInvalid);
  policy.base_url_override = fake().base_url() + "/?q=1";
  EXPECT_EQ(get("https://api.frankfurter.app/latest", policy).outcome, HttpOutcome::kInvalid);
  EXPECT_EQ(fake().request_count("/"), 0U);
}

TEST_F(HttpClientTest, RetriesOn503ThenSucceeds) {
  fake().add_fault(R"({"path":"/v1/search","kind":"status","status":503,"times":2})");
  const HttpResult result = get(url(kGeocodePath), direct());

  EXPECT_EQ(result.outcome, HttpOutcome::kResponse) << result.error;
  EXPECT_EQ(result.status_code, 200);
  EXPECT_EQ(result.attempts, 3U);
  EXPECT_EQ(fake().request_count("/v1/search"), 3U);
}

TEST_F(HttpClientTest, HonoursRetryAfterSeconds) {
  fake().add_fault(R"({"path":"/v1/search","kind":"rate_limit","retry_after":1,"times":1})");
  const auto start = SteadyClock::now();
  const HttpResult result = get(url(kGeocodePath), direct());
  const auto elapsed = SteadyClock::now() - start;

  EXPECT_EQ(result.outcome, HttpOutcome::kResponse) << result.error;
  EXPECT_EQ(result.status_code, 200);
  EXPECT_EQ(result.attempts, 2U);
  EXPECT_EQ(fake().request_count("/v1/search"), 2U);
  // Backoff alone would have waited at most 10 ms.
  EXPECT_GE(elapsed, milliseconds(950));
}

TEST_F(HttpClientTest, HonoursRetryAfterHttpDate) {
  // An HTTP-date two whole seconds ahead means a wait of more than one second.
  const std::time_t at = std::time(nullptr) + 2;
  std::tm utc{};
  gmtime_r(&at, &utc);
  char date[64];
  ASSERT_GT(std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &utc), 0U);
  fake().add_fault(std::string(R"({"path":"/v1/search","kind":"status","status":503,)") +
                   R"("headers":{"Retry-After":")" + date + R"("},"times":1})");
  const auto start = SteadyClock::now();
  const HttpResult result = get(url(kGeocodePath), direct());
  const auto elapsed = SteadyClock::now() - start;

  EXPECT_EQ(result.status_code, 200) << result.error;
  EXPECT_EQ(result.attempts, 2U);
  EXPECT_GE(elapsed, milliseconds(950));
}

TEST_F(HttpClientTest, ReturnsRateLimitAtOnceWhenRetryAfterIsTooLong) {
  fake().add_fault(R"({"path":"/v1/search","kind":"rate_limit","retry_after":5,"times":-1})");
  HttpClientSettings settings = fast_settings();
  settings.max_retry_after = milliseconds(500);
  const HttpResult result = get(url(kGeocodePath), direct(), settings);

  EXPECT_EQ(result.outcome, HttpOutcome::kResponse) << result.error;
  EXPECT_EQ(result.status_code, 429);
  EXPECT_EQ(result.attempts, 1U);
  EXPECT_EQ(header(result, "retry-after"), "5");
  EXPECT_EQ(fake().request_count("/v1/search"), 1U);
}

TEST_F(HttpClientTest, ExhaustedRetriesReturnTheLastResponse) {
  fake().add_fault(
      R"({"path":"/v1/search","kind":"status","status":502,"body":"upstream down","times":-1})");
  const HttpResult result = get(url(kGeocodePath), direct());

  EXPECT_EQ(result.outcome, HttpOutcome::kResponse) << result.error;
  EXPECT_EQ(result.status_code, 502);
  EXPECT_EQ(result.body, "upstream down");
  EXPECT_EQ(result.attempts, 3U);
  EXPECT_EQ(fake().request_count("/v1/search"), 3U);
}

TEST_F(HttpClientTest, RequestMaxAttemptsOverridesTheSettings) {
  fake().add_fault(R"({"path":"/v1/search","kind":"status","status":500,"times":-1})");
  HttpRequestSpec request;
  request.url = url(kGeocodePath);
  request.max_attempts = 1;
  const HttpResult result =
      HttpClient(fast_settings()).perform(request, direct(), far_deadline(), never_);

  EXPECT_EQ(result.status_code, 500);
  EXPECT_EQ(result.attempts, 1U);
  EXPECT_EQ(fake().request_count("/v1/search"), 1U);
}

TEST_F(HttpClientTest, NotFoundIsNotRetried) {
  const HttpResult result = get(url("/no/such/route"), direct());

  EXPECT_EQ(result.outcome, HttpOutcome::kResponse) << result.error;
  EXPECT_EQ(result.status_code, 404);
  EXPECT_EQ(result.attempts, 1U);
  EXPECT_EQ(fake().request_count("/no/such/route"), 1U);
}

TEST_F(HttpClientTest, TimesOutEachAttempt) {
  fake().add_fault(R"({"path":"/v1/search","kind":"timeout","delay_ms":5000,"times":2})");
  HttpRequestSpec request;
  request.url = url(kGeocodePath);
  request.attempt_timeout = milliseconds(300);
  request.max_attempts = 2;
  const HttpResult result =
      HttpClient(fast_settings()).perform(request, direct(), far_deadline(), never_);

  EXPECT_EQ(result.outcome, HttpOutcome::kTimeout) << result.error;
  EXPECT_EQ(result.status_code, 0);
  EXPECT_EQ(result.attempts, 2U);
  EXPECT_FALSE(result.error.empty());
  EXPECT_EQ(fake().request_count("/v1/search"), 2U);
}

TEST_F(HttpClientTest, RetriesAfterConnectionReset) {
  fake().add_fault(R"({"path":"/v1/search","kind":"reset","times":1})");
  // A fresh thread has a fresh connection cache. On a reused connection
  // libcurl itself silently resends a request that died before any byte of
  // reply, which would hide the reset from HttpClient's own retry.
  HttpResult result;
  std::thread([&] { result = get(url(kGeocodePath), direct()); }).join();

  EXPECT_EQ(result.outcome, HttpOutcome::kResponse) << result.error;
  EXPECT_EQ(result.status_code, 200);
  EXPECT_EQ(result.attempts, 2U);
  EXPECT_EQ(fake().request_count("/v1/search"), 2U);
}

TEST_F(HttpClientTest, ConnectionRefusedIsATransportErrorAfterRetries) {
  // A port that was free a moment ago: bound, then released.
  const int probe = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(probe, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ASSERT_EQ(bind(probe, reinterpret_cast<sockaddr*>(&address), length), 0);
  ASSERT_EQ(getsockname(probe, reinterpret_cast<sockaddr*>(&address), &length), 0);
  close(probe);

  const HttpResult result =
      get("http://127.0.0.1:" + std::to_string(ntohs(address.sin_port)) + "/", direct());
  EXPECT_EQ(result.outcome, HttpOutcome::kTransport);
  EXPECT_EQ(result.attempts, 3U);
  EXPECT_FALSE(result.error.empty());
}

TEST_F(HttpClientTest, MalformedBodyIsStillAResponse) {
  const HttpResult normal = get(url(kGeocodePath), direct());
  ASSERT_EQ(normal.status_code, 200) << normal.error;
  fake().add_fault(R"({"path":"/v1/search","kind":"malformed","times":1})");
  const HttpResult result = get(url(kGeocodePath), direct());

  EXPECT_EQ(result.outcome, HttpOutcome::kResponse) << result.error;
  EXPECT_EQ(result.status_code, 200);
  EXPECT_EQ(result.attempts, 1U);
  EXPECT_EQ(result.body, normal.body.substr(0, normal.body.size() / 2));
}

TEST_F(HttpClientTest, LatencyWithinTheTimeoutSucceeds) {
  fake().add_fault(R"({"path":"/v1/search","kind":"latency","delay_ms":200,"times":1})");
  HttpRequestSpec request;
  request.url = url(kGeocodePath);
  request.attempt_timeout = milliseconds(3000);
  const auto start = SteadyClock::now();
  const HttpResult result =
      HttpClient(fast_settings()).perform(request, direct(), far_deadline(), never_);

  EXPECT_EQ(result.outcome, HttpOutcome::kResponse) << result.error;
  EXPECT_EQ(result.status_code, 200);
  EXPECT_EQ(result.attempts, 1U);
  EXPECT_GE(SteadyClock::now() - start, milliseconds(200));
}

TEST_F(HttpClientTest, CancellationAbortsAHangingRequest) {
  fake().add_fault(R"({"path":"/v1/search","kind":"timeout","delay_ms":10000,"times":1})");
  HttpRequestSpec request;
  request.url = url(kGeocodePath);
  request.attempt_timeout = milliseconds(8000);
  const InterruptedAfter cancel(milliseconds(200));
  const auto start = SteadyClock::now();
  const HttpResult result =
      HttpClient(fast_settings()).perform(request, direct(), far_deadline(), cancel);
  const auto elapsed = SteadyClock::now() - start;

  EXPECT_EQ(result.outcome, HttpOutcome::kCancelled) << result.error;
  EXPECT_EQ(result.status_code, 0);
  EXPECT_EQ(result.attempts, 1U);
  EXPECT_EQ(fake().request_count("/v1/search"), 1U);
  // Far below the 8 s attempt timeout and the 10 s the server would hang.
  EXPECT_LT(elapsed, milliseconds(4000));
}

TEST_F(HttpClientTest, CancellationDuringBackoffStopsRetrying) {
  fake().add_fault(R"({"path":"/v1/search","kind":"rate_limit","retry_after":5,"times":-1})");
  const InterruptedAfter cancel(milliseconds(300));
  HttpRequestSpec request;
  request.url = url(kGeocodePath);
  const HttpResult result =
      HttpClient(fast_settings()).perform(request, direct(), far_deadline(), cancel);

  EXPECT_EQ(result.outcome, HttpOutcome::kCancelled) << result.error;
  EXPECT_EQ(result.attempts, 1U);
  EXPECT_EQ(fake().request_count("/v1/search"), 1U);
}

// A deadline that has already passed is reported as kCancelled (the job's
// time is up), not kTimeout (which means an attempt ran out of time), and
// no request is sent.
TEST_F(HttpClientTest, PastDeadlineSendsNothing) {
  HttpRequestSpec request;
  request.url = url(kGeocodePath);
  const HttpResult result =
      HttpClient(fast_settings())
          .perform(request, direct(), SteadyClock::now() - std::chrono::seconds(1), never_);

  EXPECT_EQ(result.outcome, HttpOutcome::kCancelled);
  EXPECT_EQ(result.attempts, 0U);
  EXPECT_EQ(fake().request_count("/"), 0U);
}

TEST_F(HttpClientTest, NeverSleepsPastTheDeadline) {
  fake().add_fault(R"({"path":"/v1/search","kind":"status","status":503,"times":-1})");
  HttpClientSettings settings = fast_settings();
  settings.backoff_base = milliseconds(4000);  // the first delay is 2..4 s
  settings.backoff_max = milliseconds(4000);
  HttpRequestSpec request;
  request.url = url(kGeocodePath);
  const HttpResult result = HttpClient(settings).perform(
      request, direct(), SteadyClock::now() + std::chrono::seconds(1), never_);

  EXPECT_EQ(result.outcome, HttpOutcome::kResponse) << result.error;
  EXPECT_EQ(result.status_code, 503);
  EXPECT_EQ(result.attempts, 1U);
  EXPECT_EQ(fake().request_count("/v1/search"), 1U);
}

TEST_F(HttpClientTest, ResponseLargerThanTheCapIsATransportError) {
  HttpClientSettings settings = fast_settings();
  settings.max_response_bytes = 64;
  const HttpResult result = get(url(kGeocodePath), direct(), settings);

  EXPECT_EQ(result.outcome, HttpOutcome::kTransport);
  EXPECT_EQ(result.error, "response larger than 64 bytes");
  EXPECT_TRUE(result.body.empty());
  EXPECT_EQ(result.attempts, 1U);
  EXPECT_EQ(fake().request_count("/v1/search"), 1U);
}

TEST_F(HttpClientTest, HeadersAreLowerCasedAndFromTheFinalAttempt) {
  fake().add_fault(
      R"({"path":"/v1/search","kind":"status","status":503,"headers":{"X-First-Attempt":"yes"}})");
  fake().add_fault(R"({"path":"/v1/search","kind":"status","status":200,"body":"{}",)"
                   R"("headers":{"X-Final-Attempt":"Yes, Mixed Case"}})");
  const HttpResult result = get(url(kGeocodePath), direct());

  ASSERT_EQ(result.outcome, HttpOutcome::kResponse) << result.error;
  EXPECT_EQ(result.status_code, 200);
  EXPECT_EQ(result.attempts, 2U);
  EXPECT_EQ(result.body, "{}");
  EXPECT_EQ(header(result, "x-final-attempt"), "Yes, Mixed Case");
  EXPECT_EQ(header(result, "content-length"), "2");
  EXPECT_EQ(header(result, "x-first-attempt"), std::nullopt);
  for (const auto& [name, value] : result.headers) {
    EXPECT_TRUE(std::none_of(name.begin(), name.end(), [](unsigned char c) {
      return std::isupper(c) != 0;
    })) << name;
  }
}

TEST_F(HttpClientTest, PostIsNotRetriedOn500) {
  fake().add_fault(R"({"path":"/v1/search","kind":"status","status":500,"times":-1})");
  HttpRequestSpec request;
  request.method = "POST";
  request.url = url("/v1/search");
  request.headers = {{"Content-Type", "application/json"}};
  request.body = R"({"name":"Berlin"})";
  const HttpResult result =
      HttpClient(fast_settings()).perform(request, direct(), far_deadline(), never_);

  EXPECT_EQ(result.outcome, HttpOutcome::kResponse) << result.error;
  EXPECT_EQ(result.status_code, 500);
  EXPECT_EQ(result.attempts, 1U);
  EXPECT_EQ(fake().request_count("/v1/search"), 1U);
  EXPECT_NE(fake().requests_json().find(R"("method":"POST")"), std::string::npos);
}

TEST_F(HttpClientTest, PostIsRetriedOn503) {
  // 503 says the request was not processed, so even a POST may go again.
  fake().add_fault(R"({"path":"/v1/search","kind":"status","status":503,"times":1})");
  HttpRequestSpec request;
  request.method = "POST";
  request.url = url("/v1/search");
  request.body = "{}";
  const HttpResult result =
      HttpClient(fast_settings()).perform(request, direct(), far_deadline(), never_);

  EXPECT_EQ(result.outcome, HttpOutcome::kResponse) << result.error;
  EXPECT_EQ(result.status_code, 404);  // the fake routes only GET
  EXPECT_EQ(result.attempts, 2U);
  EXPECT_EQ(fake().request_count("/v1/search"), 2U);
}

}  // namespace
}  // namespace dtq::host
