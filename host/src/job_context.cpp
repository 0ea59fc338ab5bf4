#include "dtq/host/job_context.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <shared_mutex>
#include <unordered_map>

#include "dtq/core/json.hpp"
#include "dtq/core/utf8.hpp"

namespace dtq::host {
namespace {

// The smallest dtq_http_request / dtq_http_response a 1.0 plugin may pass.
constexpr size_t kHttpRequestV1Size =
    offsetof(dtq_http_request, max_attempts) + sizeof(dtq_http_request::max_attempts);

dtq_str view(const std::string& s) {
  return dtq_str{s.data(), s.size()};
}
std::string_view view(dtq_str s) {
  return s.ptr == nullptr ? std::string_view{} : std::string_view{s.ptr, s.len};
}

spdlog::level::level_enum to_spdlog(dtq_log_level level) {
  switch (level) {
    case DTQ_LOG_DEBUG:
      return spdlog::level::debug;
    case DTQ_LOG_INFO:
      return spdlog::level::info;
    case DTQ_LOG_WARN:
      return spdlog::level::warn;
    case DTQ_LOG_ERROR:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

dtq_status to_abi(HttpOutcome outcome) {
  switch (outcome) {
    case HttpOutcome::kResponse:
      return DTQ_OK;
    case HttpOutcome::kDenied:
      return DTQ_ERR_DENIED;
    case HttpOutcome::kInvalid:
      return DTQ_ERR_INVALID_ARGUMENT;
    case HttpOutcome::kTimeout:
      return DTQ_ERR_TIMEOUT;
    case HttpOutcome::kTransport:
      return DTQ_ERR_TRANSPORT;
    case HttpOutcome::kCancelled:
      return DTQ_ERR_CANCELLED;
  }
  return DTQ_ERR_TRANSPORT;
}

// Live contexts by handle. Sharded so that host calls from many jobs rarely
// meet on one lock; a handle is a counter, so a late call can never reach a
// newer job that happens to live at the same address.
class HandleTable {
 public:
  uint64_t next_handle() { return next_.fetch_add(1, std::memory_order_relaxed); }
  void add(uint64_t handle, std::weak_ptr<JobContext> context) {
    Shard& shard = shard_of(handle);
    std::unique_lock lock(shard.mutex);
    shard.contexts.emplace(handle, std::move(context));
  }
  std::shared_ptr<JobContext> find(uint64_t handle) {
    Shard& shard = shard_of(handle);
    std::shared_lock lock(shard.mutex);
    const auto it = shard.contexts.find(handle);
    return it == shard.contexts.end() ? nullptr : it->second.lock();
  }
  void remove(uint64_t handle) {
    Shard& shard = shard_of(handle);
    std::unique_lock lock(shard.mutex);
    shard.contexts.erase(handle);
  }

 private:
  struct Shard {
    std::shared_mutex mutex;
    std::unordered_map<uint64_t, std::weak_ptr<JobContext>> contexts;
  };
  Shard& shard_of(uint64_t handle) { return shards_[handle % shards_.size()]; }

  std::array<Shard, 16> shards_;
  std::atomic<uint64_t> next_{1};  // 0 would read as a NULL handle
};

HandleTable& handles() {
  // Never destroyed: a plugin thread may still call while the process exits.
  static auto* table = new HandleTable;
  return *table;
}

}  // namespace

std::shared_ptr<JobContext> JobContext::create(JobRequest request, OutboundPolicy policy,
                                               const HttpClient& http, JobObserver* observer) {
  auto context =
      std::make_shared<JobContext>(Key{}, std::move(request), std::move(policy), http, observer);
  context->handle_ = handles().next_handle();
  return context;
}

JobContext::~JobContext() {
  // Only a context that handed out its handle is in the table.
  if (handle_registered_.load(std::memory_order_relaxed)) handles().remove(handle_);
}

dtq_job_ctx* JobContext::abi_handle() const {
  // Entered before the handle goes out, so that from_abi() finds it. Two
  // first calls at once both enter it, which the table takes as one.
  if (!handle_registered_.load(std::memory_order_acquire)) {
    handles().add(handle_, std::const_pointer_cast<JobContext>(shared_from_this()));
    handle_registered_.store(true, std::memory_order_release);
  }
  // An opaque value to the plugin, which only ever hands it back.
  return reinterpret_cast<dtq_job_ctx*>(  // NOLINT(performance-no-int-to-ptr): never dereferenced
      static_cast<uintptr_t>(handle_));
}

std::shared_ptr<JobContext> JobContext::from_abi(dtq_job_ctx* handle) {
  if (handle == nullptr) return nullptr;
  return handles().find(reinterpret_cast<uintptr_t>(handle));
}

JobContext::JobContext(Key /*key*/, JobRequest request, OutboundPolicy policy,
                       const HttpClient& http, JobObserver* observer)
    : request_(std::move(request)),
      policy_(std::move(policy)),
      http_(http),
      observer_(observer),
      progress_(std::clamp(request_.initial_progress, 0, 100)) {
  abi_job_.struct_size = sizeof(abi_job_);
  abi_job_.job_id = view(request_.job_id);
  abi_job_.job_type = view(request_.job_type);
  abi_job_.trace_id = view(request_.trace_id);
  abi_job_.payload = view(request_.payload);
  abi_job_.attempt = request_.attempt;
  abi_job_.deadline_unix_ms =
      request_.deadline == kNoDeadline ? INT64_MAX : deadline_to_unix_ms(request_.deadline);
}

void JobContext::report_progress(int percent, std::string_view message) {
  std::lock_guard lock(observer_mutex_);
  if (ended_) return;
  const int wanted = std::clamp(percent, 0, 100);
  int current = progress_.load();
  while (wanted > current && !progress_.compare_exchange_weak(current, wanted)) {
  }
  if (observer_ == nullptr) return;
  const int now_percent = progress_.load();
  const auto now = Clock::now();
  if (now_percent != told_percent_ ||
      (message != told_message_ && now - told_at_ >= request_.progress_interval)) {
    tell_progress(now_percent, std::string(message), now);
  } else if (message != told_message_) {
    held_message_ = std::string(message);
  } else {
    held_message_.reset();  // back to what watchers already see
  }
}

void JobContext::flush_progress() {
  std::lock_guard lock(observer_mutex_);
  if (ended_ || !held_message_) return;
  const auto now = Clock::now();
  if (now - told_at_ < request_.progress_interval) return;
  std::string message = std::move(*held_message_);
  tell_progress(progress_.load(), std::move(message), now);
}

void JobContext::tell_progress(int percent, std::string message, Clock::time_point now) {
  held_message_.reset();
  told_percent_ = percent;
  told_at_ = now;
  observer_->on_progress(request_, percent, to_valid_utf8(message));
  told_message_ = std::move(message);
}

void JobContext::log(dtq_log_level level, std::string_view message) const {
  if (ended_) return;
  spdlog::log(to_spdlog(level), "job_id={} job_type={} trace_id={} attempt={} {}", request_.job_id,
              request_.job_type, request_.trace_id, request_.attempt, to_valid_utf8(message));
}

dtq_status JobContext::http(const dtq_http_request& request, dtq_http_response& response) {
  if (ended_) return DTQ_ERR_JOB_ENDED;
  if (request.struct_size < kHttpRequestV1Size) return DTQ_ERR_INVALID_ARGUMENT;
  HttpRequestSpec spec;
  if (request.method.len > 0) spec.method = std::string(view(request.method));
  spec.url = std::string(view(request.url));
  if (request.header_count > 0 && request.headers == nullptr) return DTQ_ERR_INVALID_ARGUMENT;
  for (size_t i = 0; i < request.header_count; ++i) {
    spec.headers.emplace_back(view(request.headers[i].name), view(request.headers[i].value));
  }
  spec.body = std::string(view(request.body));
  spec.attempt_timeout = std::chrono::milliseconds(request.timeout_ms);
  spec.max_attempts = request.max_attempts;

  HttpResult result = http_.perform(spec, policy_, request_.deadline, *this);

  std::lock_guard lock(mutex_);
  const HttpResult& kept = responses_.emplace_back(std::move(result));
  auto& headers = response_headers_.emplace_back();
  headers.reserve(kept.headers.size());
  for (const auto& [name, value] : kept.headers) headers.push_back({view(name), view(value)});
  if (DTQ_FIELD_FITS(&response, dtq_http_response, status_code))
    response.status_code = kept.status_code;
  if (DTQ_FIELD_FITS(&response, dtq_http_response, body)) response.body = view(kept.body);
  if (DTQ_FIELD_FITS(&response, dtq_http_response, header_count)) {
    response.headers = headers.data();
    response.header_count = headers.size();
  }
  if (DTQ_FIELD_FITS(&response, dtq_http_response, attempts)) response.attempts = kept.attempts;
  if (DTQ_FIELD_FITS(&response, dtq_http_response, error)) response.error = view(kept.error);
  return to_abi(kept.outcome);
}

void JobContext::set_result(std::string_view output_json) {
  if (ended_) return;
  if (output_json.size() > request_.max_result_bytes) {
    // Refused before it is copied: an oversized result must cost the host
    // neither the memory nor a write to every store.
    fail("result_too_large",
         "the plugin's result of " + std::to_string(output_json.size()) +
             " bytes exceeds this pool's limit of " + std::to_string(request_.max_result_bytes) +
             " bytes (max_result_bytes)",
         false);
    return;
  }
  std::lock_guard lock(mutex_);
  result_ = std::string(output_json);
  failure_.reset();
}

void JobContext::fail(std::string_view code, std::string_view message, bool retryable) {
  if (ended_) return;
  std::lock_guard lock(mutex_);
  JobOutcome failure;
  failure.kind = JobOutcome::Kind::kFailed;
  // A code or message that is not UTF-8 would make every JSON encoder of the
  // failure throw; the replacement keeps what was readable of it.
  failure.error_code = code.empty() ? "plugin_error" : to_valid_utf8(code);
  failure.error_message = to_valid_utf8(message);
  failure.retryable = retryable;
  failure_ = std::move(failure);
  result_.reset();
}

bool JobContext::interrupted() const {
  // Ended counts too: a request still running for an abandoned attempt stops.
  return cancelled_ || ended_ || std::chrono::steady_clock::now() >= request_.deadline;
}

bool JobContext::sleep_for(std::chrono::milliseconds duration) const {
  const auto wake_at = std::min(std::chrono::steady_clock::now() + duration, request_.deadline);
  std::unique_lock lock(mutex_);
  wake_.wait_until(lock, wake_at, [this] { return cancelled_.load() || ended_.load(); });
  return !interrupted() && !ended_;
}

void JobContext::cancel() {
  {
    std::lock_guard lock(mutex_);
    cancelled_ = true;
  }
  wake_.notify_all();
}

JobOutcome JobContext::finish() {
  {
    std::lock_guard observing(observer_mutex_);
    ended_ = true;
  }
  std::unique_lock lock(mutex_);
  wake_.notify_all();
  JobOutcome outcome;
  // A result the plugin produced wins over a late cancellation: the work is
  // done and durable effects may already exist.
  if (result_) {
    if (Status valid = check_json_object(*result_); !valid.ok()) {
      outcome.error_code = "invalid_result";
      outcome.error_message = "plugin result is not a JSON object: " + valid.message();
    } else {
      outcome.kind = JobOutcome::Kind::kCompleted;
      outcome.output_json = std::move(*result_);
      progress_ = 100;
    }
  } else if (cancelled_) {
    outcome.kind = JobOutcome::Kind::kCancelled;
    outcome.error_code = "cancelled";
    outcome.error_message = "job cancelled";
  } else if (std::chrono::steady_clock::now() >= request_.deadline) {
    outcome.error_code = "timeout";
    outcome.error_message = "job exceeded its deadline";
    outcome.retryable = true;
  } else if (failure_) {
    outcome = std::move(*failure_);
  } else {
    outcome.error_code = "no_result";
    outcome.error_message = "plugin returned without setting a result or a failure";
  }
  outcome.progress = progress_;
  return outcome;
}

}  // namespace dtq::host
