// dtq plugin SDK, C++ layer (header-only) over the C ABI in dtq/plugin.h.
//
// A plugin author writes one class and one macro:
//
//   class Hello {
//    public:
//     static constexpr dtq::sdk::PluginInfo kInfo{ .name = "Hello", .job_type = "hello", ... };
//     void validate(std::string_view payload, dtq::sdk::Validation& v) const;
//     std::string run(dtq::sdk::Job& job);   // returns the output JSON
//   };
//   DTQ_PLUGIN(Hello)
//
// The class is constructed once in init() (a constructor that throws refuses
// the plugin) and destroyed in shutdown(). validate() and run() are called
// concurrently from many threads unless kInfo.flags has
// DTQ_PLUGIN_SINGLE_THREADED, so they must be thread-safe.
//
// No exception ever crosses the C boundary: a dtq::sdk::JobError thrown from
// run() becomes host->fail(code, message, retryable); any other exception a
// permanent "plugin_exception" failure; an exception from validate() a
// whole-payload field error.
#ifndef DTQ_PLUGIN_HPP
#define DTQ_PLUGIN_HPP

#include <dtq/plugin.h>

#include <chrono>
#include <cstdint>
#include <exception>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#define DTQ_SDK_VERSION "1.0.0"

namespace dtq::sdk {

inline dtq_str to_str(std::string_view s) noexcept {
  return dtq_str{s.data(), s.size()};
}
inline std::string_view to_view(dtq_str s) noexcept {
  return s.ptr == nullptr ? std::string_view{} : std::string_view{s.ptr, s.len};
}

// Static metadata; becomes the plugin's dtq_plugin_descriptor.
struct PluginInfo {
  const char* name = "";
  const char* job_type = "";
  const char* version = "0.0.0";
  const char* description = "";
  const char* payload_schema_json = "{}";
  std::span<const char* const> allowed_hosts{};
  uint32_t default_concurrency = 0;
  uint32_t default_timeout_ms = 0;
  uint32_t default_max_attempts = 0;
  uint32_t flags = 0;
};

// Thrown from run() to end the job as failed with a code the user can act on.
class JobError : public std::exception {
 public:
  JobError(std::string code, std::string message, bool retryable)
      : code_(std::move(code)), message_(std::move(message)), retryable_(retryable) {}
  const char* what() const noexcept override { return message_.c_str(); }
  const std::string& code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }
  bool retryable() const noexcept { return retryable_; }

 private:
  std::string code_;
  std::string message_;
  bool retryable_;
};

// A failure retrying cannot fix (bad input, a resource that does not exist).
inline JobError permanent_error(std::string code, std::string message) {
  return JobError(std::move(code), std::move(message), false);
}
// A failure that may pass (a provider's 5xx, a timeout).
inline JobError transient_error(std::string code, std::string message) {
  return JobError(std::move(code), std::move(message), true);
}

// Collects the outcome of one validate() call.
class Validation {
 public:
  Validation(const dtq_host_api* host, dtq_validation* validation) noexcept
      : host_(host), validation_(validation) {}
  // `field` is a JSON Pointer into the payload, e.g. "/city"; "" is the whole payload.
  void error(std::string_view field, std::string_view message) {
    ++errors_;
    host_->add_field_error(validation_, to_str(field), to_str(message));
  }
  void normalized(std::string_view payload_json) {
    host_->set_normalized_payload(validation_, to_str(payload_json));
  }
  bool ok() const noexcept { return errors_ == 0; }

 private:
  const dtq_host_api* host_;
  dtq_validation* validation_;
  int errors_ = 0;
};

struct HttpHeader {
  std::string name;
  std::string value;
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<HttpHeader> headers;
  std::string body;
  std::chrono::milliseconds timeout{0};  // per attempt; 0 = host default
  uint32_t max_attempts = 0;             // 0 = host default
};

// Views into host memory, valid until run() returns.
struct HttpResponse {
  int status = 0;
  std::string_view body;
  std::vector<std::pair<std::string_view, std::string_view>> headers;
  uint32_t attempts = 0;

  // Header names are lower-case; pass a lower-case name.
  std::optional<std::string_view> header(std::string_view lower_name) const {
    for (const auto& [name, value] : headers) {
      if (name == lower_name) return value;
    }
    return std::nullopt;
  }
};

// One attempt of one job, as seen from run().
class Job {
 public:
  Job(const dtq_host_api* host, const dtq_job* job, dtq_job_ctx* ctx) noexcept
      : host_(host), job_(job), ctx_(ctx) {}

  std::string_view id() const noexcept { return to_view(job_->job_id); }
  std::string_view type() const noexcept { return to_view(job_->job_type); }
  std::string_view trace_id() const noexcept { return to_view(job_->trace_id); }
  std::string_view payload() const noexcept { return to_view(job_->payload); }
  uint32_t attempt() const noexcept { return job_->attempt; }
  std::chrono::system_clock::time_point deadline() const noexcept {
    return std::chrono::system_clock::time_point{std::chrono::milliseconds{job_->deadline_unix_ms}};
  }

  void progress(int percent, std::string_view message = {}) {
    host_->report_progress(ctx_, percent, to_str(message));
  }
  void log(dtq_log_level level, std::string_view message) {
    host_->log(ctx_, level, to_str(message));
  }
  void info(std::string_view message) { log(DTQ_LOG_INFO, message); }
  void warn(std::string_view message) { log(DTQ_LOG_WARN, message); }

  bool cancelled() const { return host_->is_cancelled(ctx_) != 0; }
  // Throws a non-retryable "cancelled" JobError when the job was cancelled.
  void throw_if_cancelled() const {
    if (cancelled()) throw permanent_error("cancelled", "job cancelled");
  }
  // Sleeps up to `duration`; false when cancellation cut it short.
  bool sleep_for(std::chrono::milliseconds duration) {
    const auto ms = duration.count() <= 0 ? 0 : static_cast<uint32_t>(duration.count());
    return host_->sleep_ms(ctx_, ms) == DTQ_OK;
  }

  // Any HTTP status comes back as a response; transport-level failures throw
  // JobError ("http_timeout"/"http_transport" retryable, "http_denied" and
  // "cancelled" permanent).
  HttpResponse http(const HttpRequest& request) {
    std::vector<dtq_http_header> headers;
    headers.reserve(request.headers.size());
    for (const auto& h : request.headers) headers.push_back({to_str(h.name), to_str(h.value)});
    dtq_http_request req{};
    req.struct_size = sizeof(req);
    req.method = to_str(request.method);
    req.url = to_str(request.url);
    req.headers = headers.data();
    req.header_count = headers.size();
    req.body = to_str(request.body);
    req.timeout_ms = static_cast<uint32_t>(request.timeout.count());
    req.max_attempts = request.max_attempts;
    dtq_http_response resp{};
    resp.struct_size = sizeof(resp);
    const dtq_status status = host_->http_request(ctx_, &req, &resp);
    const std::string detail = std::string(to_view(resp.error));
    switch (status) {
      case DTQ_OK:
        break;
      case DTQ_ERR_DENIED:
        throw permanent_error("http_denied", detail);
      case DTQ_ERR_TIMEOUT:
        throw transient_error("http_timeout", detail);
      case DTQ_ERR_CANCELLED:
        throw permanent_error("cancelled", detail.empty() ? "job cancelled" : detail);
      case DTQ_ERR_JOB_ENDED:
        throw permanent_error("job_ended", "job already ended");
      case DTQ_ERR_INVALID_ARGUMENT:
        throw permanent_error("http_invalid_request", detail);
      default:
        throw transient_error("http_transport", detail);
    }
    HttpResponse out;
    out.status = resp.status_code;
    out.body = to_view(resp.body);
    out.attempts = resp.attempts;
    out.headers.reserve(resp.header_count);
    for (size_t i = 0; i < resp.header_count; ++i) {
      out.headers.emplace_back(to_view(resp.headers[i].name), to_view(resp.headers[i].value));
    }
    return out;
  }
  HttpResponse get(std::string url, std::vector<HttpHeader> headers = {}) {
    HttpRequest request;
    request.url = std::move(url);
    request.headers = std::move(headers);
    return http(request);
  }

 private:
  const dtq_host_api* host_;
  const dtq_job* job_;
  dtq_job_ctx* ctx_;
};

// Percent-encodes a query-string component (RFC 3986 unreserved kept).
inline std::string url_encode(std::string_view in) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(in.size() * 3);
  for (const unsigned char c : in) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~';
    if (unreserved) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

namespace detail {

template <class Plugin>
struct Adapter {
  static int32_t init(const dtq_host_api* host, void** state) noexcept {
    try {
      *state = new Plugin();
      return 0;
    } catch (const std::exception& e) {
      plugin_log(host, e.what());
    } catch (...) {
      plugin_log(host, "unknown exception");
    }
    return 1;
  }

  static void shutdown(void* state) noexcept { delete static_cast<Plugin*>(state); }

  static void validate(void* state, const dtq_host_api* host, dtq_str payload,
                       dtq_validation* validation) noexcept {
    Validation v(host, validation);
    try {
      static_cast<const Plugin*>(state)->validate(to_view(payload), v);
    } catch (const std::exception& e) {
      host->add_field_error(validation, to_str(""), to_str(e.what()));
    } catch (...) {
      host->add_field_error(validation, to_str(""), to_str("validation failed"));
    }
  }

  static void run(void* state, const dtq_host_api* host, const dtq_job* job,
                  dtq_job_ctx* ctx) noexcept {
    try {
      Job j(host, job, ctx);
      const std::string output = static_cast<Plugin*>(state)->run(j);
      host->set_result(ctx, to_str(output));
    } catch (const JobError& e) {
      host->fail(ctx, to_str(e.code()), to_str(e.message()), e.retryable() ? 1 : 0);
    } catch (const std::exception& e) {
      host->fail(ctx, to_str("plugin_exception"), to_str(e.what()), 0);
    } catch (...) {
      host->fail(ctx, to_str("plugin_exception"), to_str("unknown exception"), 0);
    }
  }

  static void plugin_log(const dtq_host_api* host, const char* what) noexcept {
    const std::string_view prefix = "plugin init failed: ";
    std::string line;
    try {
      line = std::string(prefix) + what;
    } catch (...) {
      return;
    }
    host->log(nullptr, DTQ_LOG_ERROR, to_str(line));
  }

  static constexpr dtq_plugin_api kApi{
      sizeof(dtq_plugin_api), &Adapter::init, &Adapter::shutdown,
      &Adapter::validate,     &Adapter::run,  nullptr,
  };

  static constexpr dtq_plugin_descriptor kDescriptor{
      sizeof(dtq_plugin_descriptor),
      DTQ_ABI_VERSION_MAJOR,
      DTQ_ABI_VERSION_MINOR,
      Plugin::kInfo.name,
      Plugin::kInfo.job_type,
      Plugin::kInfo.version,
      DTQ_SDK_VERSION,
      Plugin::kInfo.description,
      Plugin::kInfo.payload_schema_json,
      Plugin::kInfo.allowed_hosts.data(),
      Plugin::kInfo.allowed_hosts.size(),
      Plugin::kInfo.default_concurrency,
      Plugin::kInfo.default_timeout_ms,
      Plugin::kInfo.default_max_attempts,
      Plugin::kInfo.flags,
      &kApi,
  };
};

}  // namespace detail
}  // namespace dtq::sdk

// Exports dtq_plugin_get_descriptor, the descriptor function. Use once per shared library, at
// namespace scope, after the class is complete.
#define DTQ_PLUGIN(PluginClass)                                                               \
  extern "C" DTQ_PLUGIN_EXPORT const dtq_plugin_descriptor* dtq_plugin_get_descriptor(void) { \
    return &::dtq::sdk::detail::Adapter<PluginClass>::kDescriptor;                            \
  }

#endif  // DTQ_PLUGIN_HPP
