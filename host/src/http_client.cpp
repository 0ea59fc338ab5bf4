// HttpClient on libcurl. One easy handle and one multi handle per thread, kept
// for the life of the thread, so connections (and TLS sessions, DNS entries)
// are reused across requests and across the jobs that thread runs.
//
// The transfer is driven through the multi interface rather than
// curl_easy_perform so the Interruption is checked every
// kInterruptPollInterval: curl_easy_perform only calls a progress callback
// about once a second while a server is silent, which would make cancelling a
// hanging request take up to a second.
//
// Policy choices: redirects are never followed (a Location may name a host
// outside the allow-list), so a 3xx reaches the plugin as a response. Methods
// that are not idempotent (POST, PATCH, ...) are retried only when the request
// never reached the server (DNS or connect failure) or the server said to come
// back (429, 503); timeouts, resets and other 5xx may follow a request that
// took effect. A deadline that has passed before the first attempt is
// kCancelled, with nothing sent.
//
// Request headers and bodies are never logged (they may hold credentials), nor
// are query strings.
#include "dtq/host/http_client.hpp"

#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <ctime>
#include <memory>
#include <new>
#include <stdexcept>
#include <string_view>
#include <system_error>

#include "dtq/core/backoff.hpp"

namespace dtq::host {
namespace {

using std::chrono::milliseconds;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr milliseconds kInterruptPollInterval{50};
constexpr size_t kMaxMethodLength = 32;

// Called by the first request, not when the client is made: curl's global
// set-up initialises OpenSSL, about 2 MB resident that a worker whose
// plugins have not called out yet would otherwise carry at rest.
void init_curl_once() {
  // A function-local static is initialised exactly once even when threads
  // race here. curl_global_cleanup is deliberately never called: handles
  // owned by thread_locals of other threads may outlive static destruction.
  static const bool initialised = [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      throw std::runtime_error("curl_global_init failed");
    }
    return true;
  }();
  static_cast<void>(initialised);
}

// The handles a thread keeps between requests. The easy handle is added to
// the multi handle only while a transfer runs; idle connections stay in the
// multi handle's connection cache.
class ThreadSession {
 public:
  ThreadSession() {
    init_curl_once();
    multi_ = curl_multi_init();
    easy_ = curl_easy_init();
    if (multi_ == nullptr || easy_ == nullptr) {
      cleanup();
      throw std::bad_alloc();
    }
  }
  ~ThreadSession() { cleanup(); }
  ThreadSession(const ThreadSession&) = delete;
  ThreadSession& operator=(const ThreadSession&) = delete;

  [[nodiscard]] CURLM* multi() const noexcept { return multi_; }
  [[nodiscard]] CURL* easy() const noexcept { return easy_; }

 private:
  void cleanup() noexcept {
    if (easy_ != nullptr) curl_easy_cleanup(easy_);
    if (multi_ != nullptr) curl_multi_cleanup(multi_);
  }

  CURLM* multi_ = nullptr;
  CURL* easy_ = nullptr;
};

ThreadSession& thread_session() {
  thread_local ThreadSession session;
  return session;
}

struct UrlDeleter {
  void operator()(CURLU* url) const noexcept { curl_url_cleanup(url); }
};
using UrlPtr = std::unique_ptr<CURLU, UrlDeleter>;

struct SlistDeleter {
  void operator()(curl_slist* list) const noexcept { curl_slist_free_all(list); }
};
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

UrlPtr new_url() {
  UrlPtr url(curl_url());
  if (!url) throw std::bad_alloc();
  return url;
}

std::optional<std::string> url_part(CURLU* url, CURLUPart part) {
  char* value = nullptr;
  if (curl_url_get(url, part, &value, 0) != CURLUE_OK) return std::nullopt;
  std::string text(value);
  curl_free(value);
  return text;
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n";
  const size_t begin = text.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  return text.substr(begin, text.find_last_not_of(kSpace) - begin + 1);
}

// RFC 9110 token characters: what a method and a header name may consist of.
bool is_token(std::string_view text) {
  constexpr std::string_view kSymbols = "!#$%&'*+-.^_`|~";
  return !text.empty() && std::all_of(text.begin(), text.end(), [&](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
           kSymbols.find(c) != std::string_view::npos;
  });
}

// Only methods RFC 9110 defines as idempotent are retried freely; anything
// else (POST, PATCH, extension methods) may have had an effect even when no
// response came back.
bool is_idempotent(std::string_view method) {
  constexpr std::array<std::string_view, 6> kIdempotent{"GET", "HEAD",   "OPTIONS",
                                                        "PUT", "DELETE", "TRACE"};
  return std::ranges::find(kIdempotent, method) != kIdempotent.end();
}

HttpResult refusal(HttpOutcome outcome, std::string error) {
  HttpResult result;
  result.outcome = outcome;
  result.error = std::move(error);
  return result;
}

std::string join(const std::vector<std::string>& items) {
  if (items.empty()) return "none";
  std::string out;
  for (const std::string& item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

bool is_http_scheme(std::string_view scheme) {
  return scheme == "http" || scheme == "https";
}

// Moves `url` onto the origin of `base` ("scheme://host[:port][/prefix]") and
// puts the base's path prefix in front of its path. Returns why on failure.
std::optional<std::string> rewrite_origin(CURLU* url, const std::string& base) {
  const std::string_view kShape = "scheme://host[:port][/prefix]";
  UrlPtr parsed = new_url();
  if (curl_url_set(parsed.get(), CURLUPART_URL, base.c_str(), 0) != CURLUE_OK) {
    return "base URL override is not a valid URL of the form " + std::string(kShape);
  }
  const auto scheme = url_part(parsed.get(), CURLUPART_SCHEME);
  const auto host = url_part(parsed.get(), CURLUPART_HOST);
  if (!scheme || !is_http_scheme(lower(*scheme)) || !host ||
      url_part(parsed.get(), CURLUPART_USER) || url_part(parsed.get(), CURLUPART_QUERY) ||
      url_part(parsed.get(), CURLUPART_FRAGMENT)) {
    return "base URL override must have the form " + std::string(kShape) + " with http(s)";
  }
  const auto port = url_part(parsed.get(), CURLUPART_PORT);  // absent: the scheme's default
  std::string path = url_part(parsed.get(), CURLUPART_PATH).value_or("/");
  while (!path.empty() && path.back() == '/') path.pop_back();
  path += url_part(url, CURLUPART_PATH).value_or("/");

  if (curl_url_set(url, CURLUPART_SCHEME, scheme->c_str(), 0) != CURLUE_OK ||
      curl_url_set(url, CURLUPART_HOST, host->c_str(), 0) != CURLUE_OK ||
      curl_url_set(url, CURLUPART_PORT, port ? port->c_str() : nullptr, 0) != CURLUE_OK ||
      curl_url_set(url, CURLUPART_PATH, path.c_str(), 0) != CURLUE_OK) {
    return "could not apply the base URL override";
  }
  return std::nullopt;
}

// What one attempt produced, before it becomes an HttpResult.
struct Attempt {
  enum class Kind { kResponse, kTimeout, kTransport, kCancelled };
  Kind kind = Kind::kTransport;
  CURLcode code = CURLE_OK;
  int status = 0;
  std::string body;
  Headers headers;
  std::string error;
};

// State the libcurl callbacks of one attempt write into.
struct Sink {
  size_t max_body = 0;
  bool too_large = false;
  std::string body;
  Headers headers;
};

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const size_t bytes = size * count;
  if (bytes > sink->max_body - sink->body.size()) {
    sink->too_large = true;
    return 0;  // anything but `bytes` aborts the transfer with CURLE_WRITE_ERROR
  }
  sink->body.append(data, bytes);
  return bytes;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const size_t bytes = size * count;
  const std::string_view line(data, bytes);
  if (line.starts_with("HTTP/")) {
    // A status line starts a new response: headers seen so far belonged to
    // an interim one (100 Continue, ...) and must not leak into the final.
    sink->headers.clear();
    return bytes;
  }
  if (line.starts_with(' ') || line.starts_with('\t')) {  // obsolete line folding
    if (!sink->headers.empty()) {
      std::string& value = sink->headers.back().second;
      value += ' ';
      value += trim(line);
    }
    return bytes;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return bytes;  // the blank line ending the headers
  sink->headers.emplace_back(lower(trim(line.substr(0, colon))),
                             std::string(trim(line.substr(colon + 1))));
  return bytes;
}

bool is_retryable_status(int status, bool idempotent) {
  if (status == 429 || status == 503) return true;  // the server asks to come back later
  return idempotent && (status == 500 || status == 502 || status == 504);
}

bool is_retryable_error(CURLcode code, bool idempotent) {
  switch (code) {
    // Nothing reached the server: safe to retry for any method.
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
      return true;
    // The request may have been received and acted upon.
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
      return idempotent;
    default:
      return false;
  }
}

// Retry-After as a delay: delta-seconds or an HTTP-date. nullopt when absent
// or unparseable; a date in the past is a zero delay.
std::optional<milliseconds> retry_after(const Headers& headers) {
  const auto it = std::find_if(headers.begin(), headers.end(),
                               [](const auto& header) { return header.first == "retry-after"; });
  if (it == headers.end()) return std::nullopt;
  const std::string& value = it->second;
  if (!value.empty() && std::all_of(value.begin(), value.end(),
                                    [](unsigned char c) { return std::isdigit(c) != 0; })) {
    // A year is "too long" for any sane max_retry_after; clamping keeps the
    // conversion to milliseconds from overflowing.
    constexpr uint64_t kMaxSeconds = 365ULL * 24 * 3600;
    uint64_t seconds = kMaxSeconds;
    // Only digits got here, so the one possible failure is overflow.
    if (std::from_chars(value.data(), value.data() + value.size(), seconds).ec != std::errc{}) {
      seconds = kMaxSeconds;
    }
    return milliseconds(std::min(seconds, kMaxSeconds) * 1000);
  }
  const time_t at = curl_getdate(value.c_str(), nullptr);
  if (at == -1) return std::nullopt;
  const auto delay =
      std::chrono::duration_cast<milliseconds>(Clock::from_time_t(at) - Clock::now());
  return std::max(delay, milliseconds(0));
}

const char* outcome_name(HttpOutcome outcome) {
  switch (outcome) {
    case HttpOutcome::kResponse:
      return "response";
    case HttpOutcome::kDenied:
      return "denied";
    case HttpOutcome::kInvalid:
      return "invalid";
    case HttpOutcome::kTimeout:
      return "timeout";
    case HttpOutcome::kTransport:
      return "transport error";
    case HttpOutcome::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

// Everything about a request that does not change between attempts.
struct PreparedRequest {
  const HttpRequestSpec* spec;
  UrlPtr url;               // the target, after any base-URL override
  SlistPtr headers;         // may be null
  bool sends_body = false;  // whether the method carries spec->body
  bool has_user_agent = false;
};

std::optional<std::string> add_headers(PreparedRequest& prepared) {
  const HttpRequestSpec& spec = *prepared.spec;
  bool has_content_type = false;
  std::vector<std::string> lines;
  for (const auto& [name, value] : spec.headers) {
    if (!is_token(name)) return "invalid header name";
    if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
      return "header \"" + name + "\" has a line break or NUL in its value";
    }
    prepared.has_user_agent = prepared.has_user_agent || iequals(name, "User-Agent");
    has_content_type = has_content_type || iequals(name, "Content-Type");
    // "Name;" is libcurl's spelling for a header sent with an empty value.
    lines.push_back(value.empty() ? name + ";" : name + ": " + value);
  }
  // libcurl labels a body application/x-www-form-urlencoded unless told
  // otherwise; an empty "Content-Type:" sends what the plugin asked for.
  if (prepared.sends_body && !has_content_type) lines.emplace_back("Content-Type:");
  for (const std::string& line : lines) {
    curl_slist* head = curl_slist_append(prepared.headers.get(), line.c_str());
    if (head == nullptr) throw std::bad_alloc();
    static_cast<void>(prepared.headers.release());
    prepared.headers.reset(head);
  }
  return std::nullopt;
}

// Keeps the thread's easy handle in its multi handle for one transfer,
// however the transfer ends. Removing an unfinished transfer closes its
// connection, so a cancelled request is never left half-read on a connection
// that a later request would reuse.
class Attachment {
 public:
  Attachment(CURLM* multi, CURL* easy)
      : multi_(multi), easy_(easy), code_(curl_multi_add_handle(multi, easy)) {}
  ~Attachment() {
    if (code_ == CURLM_OK) curl_multi_remove_handle(multi_, easy_);
  }
  Attachment(const Attachment&) = delete;
  Attachment& operator=(const Attachment&) = delete;

  [[nodiscard]] CURLMcode code() const noexcept { return code_; }

 private:
  CURLM* multi_;
  CURL* easy_;
  CURLMcode code_;
};

// Sets `easy` (reset) up for one attempt of `prepared`; the first option
// libcurl refused, or CURLE_OK.
CURLcode configure(CURL* easy, const PreparedRequest& prepared, const HttpClientSettings& settings,
                   milliseconds timeout, Sink& sink, char* error_buffer) {
  const HttpRequestSpec& spec = *prepared.spec;
  CURLcode setup = CURLE_OK;
  const auto set = [&](CURLoption option, auto value) {
    if (setup == CURLE_OK) setup = curl_easy_setopt(easy, option, value);
  };
  set(CURLOPT_CURLU, prepared.url.get());
  set(CURLOPT_PROTOCOLS_STR, "http,https");
  set(CURLOPT_NOSIGNAL, 1L);
  // Redirects are not followed: a Location may name a host outside the
  // allow-list, so a 3xx comes back to the plugin as a response like any other.
  set(CURLOPT_FOLLOWLOCATION, 0L);
  set(CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(settings.connect_timeout.count()));
  // 0 would mean "no timeout" to libcurl; the caller never passes less than 1 ms.
  set(CURLOPT_TIMEOUT_MS, static_cast<long>(std::max<int64_t>(timeout.count(), 1)));
  // "" offers every encoding libcurl can decode; the size cap applies to the
  // decoded body, so a small compressed bomb cannot exhaust memory.
  set(CURLOPT_ACCEPT_ENCODING, "");
  if (!prepared.has_user_agent) set(CURLOPT_USERAGENT, settings.user_agent.c_str());
  if (prepared.headers) set(CURLOPT_HTTPHEADER, prepared.headers.get());
  if (spec.method == "HEAD") {
    set(CURLOPT_NOBODY, 1L);
  } else if (prepared.sends_body) {
    set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(spec.body.size()));
    set(CURLOPT_POSTFIELDS, spec.body.data());
    if (spec.method != "POST") set(CURLOPT_CUSTOMREQUEST, spec.method.c_str());
  } else if (spec.method != "GET") {
    set(CURLOPT_CUSTOMREQUEST, spec.method.c_str());
  }
  set(CURLOPT_WRITEFUNCTION, &on_body);
  set(CURLOPT_WRITEDATA, static_cast<void*>(&sink));
  set(CURLOPT_HEADERFUNCTION, &on_header);
  set(CURLOPT_HEADERDATA, static_cast<void*>(&sink));
  set(CURLOPT_ERRORBUFFER, error_buffer);
  return setup;
}

// Runs the transfer of `easy` (attached to `multi`) until it ends or
// `interruption` says stop: libcurl's result, or nullopt with `cancelled`
// set, or with `error` when the multi interface itself failed.
std::optional<CURLcode> transfer(CURLM* multi, CURL* easy, const Interruption& interruption,
                                 bool& cancelled, std::string& error) {
  for (;;) {
    int running = 0;
    CURLMcode mc = curl_multi_perform(multi, &running);
    if (mc == CURLM_OK && running == 0) {
      std::optional<CURLcode> done;
      int queued = 0;
      while (CURLMsg* message = curl_multi_info_read(multi, &queued)) {
        if (message->msg == CURLMSG_DONE && message->easy_handle == easy) {
          done = message->data.result;
        }
      }
      return done;
    }
    if (mc == CURLM_OK && interruption.interrupted()) {
      cancelled = true;
      return std::nullopt;
    }
    if (mc == CURLM_OK) {
      mc = curl_multi_poll(multi, nullptr, 0, static_cast<int>(kInterruptPollInterval.count()),
                           nullptr);
    }
    if (mc != CURLM_OK) {
      error = curl_multi_strerror(mc);
      return std::nullopt;
    }
  }
}

// Configures the thread's easy handle for one attempt and runs it.
Attempt run_attempt(const PreparedRequest& prepared, const HttpClientSettings& settings,
                    milliseconds timeout, const Interruption& interruption) {
  ThreadSession& session = thread_session();
  CURL* easy = session.easy();
  curl_easy_reset(easy);
  Sink sink;
  sink.max_body = settings.max_response_bytes;
  char error_buffer[CURL_ERROR_SIZE] = "";
  Attempt attempt;
  if (const CURLcode setup = configure(easy, prepared, settings, timeout, sink, error_buffer);
      setup != CURLE_OK) {
    attempt.error = std::string("libcurl refused an option: ") + curl_easy_strerror(setup);
    return attempt;
  }
  CURLM* multi = session.multi();
  const Attachment attachment(multi, easy);
  if (attachment.code() != CURLM_OK) {
    attempt.error = curl_multi_strerror(attachment.code());
    return attempt;
  }
  bool cancelled = false;
  const std::optional<CURLcode> done =
      transfer(multi, easy, interruption, cancelled, attempt.error);
  if (cancelled) {
    attempt.kind = Attempt::Kind::kCancelled;
    attempt.error = "cancelled";
    return attempt;
  }
  if (!done) {
    if (attempt.error.empty()) attempt.error = "libcurl finished without a result";
    return attempt;
  }
  attempt.code = *done;
  if (*done == CURLE_OK) {
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    attempt.kind = Attempt::Kind::kResponse;
    attempt.status = static_cast<int>(status);
    attempt.body = std::move(sink.body);
    attempt.headers = std::move(sink.headers);
    return attempt;
  }
  if (sink.too_large) {
    attempt.error =
        "response larger than " + std::to_string(settings.max_response_bytes) + " bytes";
    return attempt;
  }
  attempt.kind =
      *done == CURLE_OPERATION_TIMEDOUT ? Attempt::Kind::kTimeout : Attempt::Kind::kTransport;
  attempt.error = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(*done);
  return attempt;
}

HttpResult to_result(Attempt&& attempt, uint32_t attempts) {
  HttpResult result;
  result.attempts = attempts;
  switch (attempt.kind) {
    case Attempt::Kind::kResponse:
      result.outcome = HttpOutcome::kResponse;
      result.status_code = attempt.status;
      result.body = std::move(attempt.body);
      result.headers = std::move(attempt.headers);
      return result;
    case Attempt::Kind::kTimeout:
      result.outcome = HttpOutcome::kTimeout;
      break;
    case Attempt::Kind::kTransport:
      result.outcome = HttpOutcome::kTransport;
      break;
    case Attempt::Kind::kCancelled:
      result.outcome = HttpOutcome::kCancelled;
      break;
  }
  result.error = std::move(attempt.error);
  return result;
}

}  // namespace

HttpClient::HttpClient(HttpClientSettings settings) : settings_(std::move(settings)) {}

HttpClient::~HttpClient() = default;

namespace {

// Checks `request` against `policy` and fills `prepared` (its URL parsed,
// rewritten to an operator's base URL, its headers) and `host` and
// `log_path` (where the plugin meant to go, for the logs); the refusal when
// the request may not be sent.
std::optional<HttpResult> prepare(const HttpRequestSpec& request, const OutboundPolicy& policy,
                                  PreparedRequest& prepared, std::string& host,
                                  std::string& log_path) {
  const std::string& method = request.method;
  if (method.size() > kMaxMethodLength || !is_token(method)) {
    return refusal(HttpOutcome::kInvalid, "invalid HTTP method");
  }
  // The URL is parsed once, by libcurl's own parser, and that parsed handle
  // is what libcurl connects to: the host checked is the host contacted.
  // Unknown schemes are accepted by the parser so they are denied, below,
  // rather than reported as malformed.
  if (request.url.find('\0') != std::string::npos) {
    return refusal(HttpOutcome::kInvalid, "malformed URL: contains NUL");
  }
  if (CURLUcode rc = curl_url_set(prepared.url.get(), CURLUPART_URL, request.url.c_str(),
                                  CURLU_NON_SUPPORT_SCHEME);
      rc != CURLUE_OK) {
    return refusal(HttpOutcome::kInvalid, std::string("malformed URL: ") + curl_url_strerror(rc));
  }
  const std::string scheme = lower(url_part(prepared.url.get(), CURLUPART_SCHEME).value_or(""));
  if (!is_http_scheme(scheme)) {
    return refusal(HttpOutcome::kDenied,
                   "scheme \"" + scheme + "\" is not allowed; only http and https are");
  }
  const auto parsed_host = url_part(prepared.url.get(), CURLUPART_HOST);
  if (!parsed_host || parsed_host->empty())
    return refusal(HttpOutcome::kInvalid, "malformed URL: no host");
  host = *parsed_host;
  const auto& allowed = policy.allowed_hosts;
  if (std::none_of(allowed.begin(), allowed.end(),
                   [&](const std::string& name) { return iequals(name, host); })) {
    return refusal(
        HttpOutcome::kDenied,
        "host \"" + host + "\" is not in the plugin's allowed hosts (" + join(allowed) + ")");
  }
  // Without the query: a query may carry a key.
  log_path = url_part(prepared.url.get(), CURLUPART_PATH).value_or("/");
  if (policy.base_url_override) {
    if (auto error = rewrite_origin(prepared.url.get(), *policy.base_url_override)) {
      return refusal(HttpOutcome::kInvalid, std::move(*error));
    }
  }
  prepared.sends_body = method != "HEAD" && (!request.body.empty() || method == "POST" ||
                                             method == "PUT" || method == "PATCH");
  if (auto error = add_headers(prepared)) return refusal(HttpOutcome::kInvalid, std::move(*error));
  return std::nullopt;
}

}  // namespace

HttpResult HttpClient::perform(const HttpRequestSpec& request, const OutboundPolicy& policy,
                               Deadline deadline, const Interruption& interruption) const {
  PreparedRequest prepared{&request, new_url(), nullptr};
  std::string host;
  std::string log_path;
  if (auto refused = prepare(request, policy, prepared, host, log_path)) return *refused;
  const std::string& method = request.method;
  const uint32_t max_attempts = std::max<uint32_t>(
      1, request.max_attempts > 0 ? request.max_attempts : settings_.max_attempts);
  const milliseconds attempt_timeout = request.attempt_timeout > milliseconds(0)
                                           ? request.attempt_timeout
                                           : settings_.attempt_timeout;
  const bool idempotent = is_idempotent(method);

  HttpResult result =
      refusal(HttpOutcome::kCancelled, "the deadline passed before a request was sent");
  for (uint32_t attempt = 1;; ++attempt) {
    if (interruption.interrupted()) {
      result = refusal(HttpOutcome::kCancelled, "cancelled");
      result.attempts = attempt - 1;
      break;
    }
    const auto left =
        std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left <= milliseconds(0)) break;  // the last result stands (kCancelled before any attempt)

    Attempt outcome =
        run_attempt(prepared, settings_, std::min(attempt_timeout, left), interruption);
    const bool retryable = outcome.kind == Attempt::Kind::kResponse
                               ? is_retryable_status(outcome.status, idempotent)
                               : outcome.kind != Attempt::Kind::kCancelled &&
                                     is_retryable_error(outcome.code, idempotent);
    result = to_result(std::move(outcome), attempt);
    if (!retryable || attempt >= max_attempts) break;

    milliseconds delay = backoff_delay(settings_.backoff_base, settings_.backoff_max, attempt);
    if (result.outcome == HttpOutcome::kResponse) {
      if (auto asked = retry_after(result.headers)) {
        // Waiting longer than the operator allows is not worth it: hand the
        // response to the plugin, which may fail retryably and be redelivered.
        if (*asked > settings_.max_retry_after) break;
        delay = *asked;
      }
    }
    if (std::chrono::steady_clock::now() + delay >= deadline) break;  // no time for another
    spdlog::debug("http {} {}{}: attempt {} got {} {}, retrying in {} ms", method, host, log_path,
                  attempt, outcome_name(result.outcome), result.status_code, delay.count());
    if (!interruption.sleep_for(delay)) {
      result = refusal(HttpOutcome::kCancelled, "cancelled while waiting to retry");
      result.attempts = attempt;
      break;
    }
  }
  spdlog::debug("http {} {}{}: {} {} after {} attempt(s)", method, host, log_path,
                outcome_name(result.outcome), result.status_code, result.attempts);
  return result;
}

}  // namespace dtq::host
