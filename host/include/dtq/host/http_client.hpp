// HttpClient: the blocking outbound HTTP that plugins reach through the host
// API (dtq_host_api::http_request), on libcurl.
//
// What it adds over a bare request: per-attempt and connect timeouts, a total
// deadline, retries with exponential backoff and jitter on 5xx / 429 /
// timeouts / transport errors (honouring Retry-After), an allow-list of the
// hosts a plugin declared, and an operator-set base-URL override that
// redirects a plugin's requests (tests, egress proxies).
//
// Thread-safety: perform() may be called concurrently from any number of
// threads; the object is immutable after construction.
// Ownership: HttpResult owns its bytes; nothing refers back into the client.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dtq/core/time.hpp"

namespace dtq::host {

struct HttpClientSettings {
  std::chrono::milliseconds connect_timeout{3000};
  std::chrono::milliseconds attempt_timeout{10000};  // when the request names none
  uint32_t max_attempts = 3;                         // when the request names none
  std::chrono::milliseconds backoff_base{200};
  std::chrono::milliseconds backoff_max{5000};
  // A Retry-After longer than this (or past the deadline) is not waited for:
  // the response is returned as it is.
  std::chrono::milliseconds max_retry_after{30000};
  size_t max_response_bytes = size_t{8} << 20;
  std::string user_agent = "dtq/0.1";
};

// Where one plugin may send requests.
struct OutboundPolicy {
  std::vector<std::string> allowed_hosts;  // exact host names, case-insensitive
  // "scheme://host[:port][/prefix]": replaces the origin of every allowed
  // request and prefixes its path. The allow-list is checked before rewriting.
  std::optional<std::string> base_url_override;
};

// Lets a request stop early: the job was cancelled or its deadline passed.
class Interruption {
 public:
  virtual ~Interruption() = default;
  virtual bool interrupted() const = 0;
  // Sleeps up to `duration`; returns false if interrupted meanwhile.
  virtual bool sleep_for(std::chrono::milliseconds duration) const = 0;
};

struct HttpRequestSpec {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds attempt_timeout{0};  // 0 = settings default
  uint32_t max_attempts = 0;                     // 0 = settings default
};

enum class HttpOutcome {
  kResponse,   // an HTTP response arrived (any status)
  kDenied,     // host not in the allow-list, or a scheme other than http(s)
  kInvalid,    // malformed URL or method
  kTimeout,    // the last attempt timed out
  kTransport,  // the last attempt failed below HTTP (connect, reset, TLS, too large)
  kCancelled,  // interrupted, or the deadline left no time for another attempt
};

struct HttpResult {
  HttpOutcome outcome = HttpOutcome::kTransport;
  int status_code = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, final attempt
  uint32_t attempts = 0;
  std::string error;  // why, when outcome is not kResponse
};

class HttpClient {
 public:
  explicit HttpClient(HttpClientSettings settings = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  HttpResult perform(const HttpRequestSpec& request, const OutboundPolicy& policy,
                     Deadline deadline, const Interruption& interruption) const;

  const HttpClientSettings& settings() const noexcept { return settings_; }

 private:
  HttpClientSettings settings_;
};

}  // namespace dtq::host
