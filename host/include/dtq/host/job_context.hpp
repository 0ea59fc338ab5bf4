// JobContext: one attempt of one job while a plugin runs it. It is the object
// behind the plugin ABI's opaque dtq_job_ctx: the host API functions act on it
// from the plugin's threads, and the engine reads its outcome and cancels it
// from others.
//
// Progress is clamped to 0..100 and never goes down (starting from the
// progress an earlier attempt reached). Once the job has ended — finish() was
// called — every host API call on it is ignored.
//
// Progress reports are coalesced before they reach the observer (and so the
// status store): a new whole percent is passed on at once; a new message at
// the same percent at most once per progress_interval, the latest one
// waiting for flush_progress(). However often a plugin reports, an attempt
// costs at most 101 + duration / progress_interval observer calls.
//
// The plugin never holds a pointer to the context: its dtq_job_ctx is a
// handle that the host API looks up on every call, so a plugin thread that
// calls after run() returned (which the ABI allows) finds nothing once the
// context is gone, and a call in progress keeps the context alive until it
// returns. Handles are never reused.
//
// Thread-safety: every member function is thread-safe.
// Ownership: always shared (create()); the context owns copies of all the
// job's strings and the memory of every HTTP response handed to the plugin,
// which lives as long as the context, which outlives the plugin's run() call.
#pragma once

#include <dtq/plugin.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "dtq/core/time.hpp"
#include "dtq/host/http_client.hpp"

namespace dtq::host {

// The result size an operator has not set otherwise.
inline constexpr size_t kDefaultMaxResultBytes = size_t{1} << 20;

struct JobRequest {
  std::string job_id;
  std::string job_type;
  std::string trace_id;
  std::string payload;  // normalized by the plugin's validate()
  uint32_t attempt = 1;
  Deadline deadline = kNoDeadline;
  int initial_progress = 0;  // where an earlier attempt left off
  // A larger result ends the attempt as result_too_large.
  size_t max_result_bytes = kDefaultMaxResultBytes;
  // The least time between two progress messages at the same percent.
  std::chrono::milliseconds progress_interval{100};
};

struct JobOutcome {
  enum class Kind { kCompleted, kFailed, kCancelled };
  Kind kind = Kind::kFailed;
  std::string output_json;  // kCompleted
  std::string error_code;   // kFailed / kCancelled
  std::string error_message;
  bool retryable = false;
  int progress = 0;
};

// Told of progress changes, coalesced, on the plugin's thread or the one
// that calls flush_progress(); one call at a time per job; must be quick.
class JobObserver {
 public:
  virtual ~JobObserver() = default;
  virtual void on_progress(const JobRequest& job, int percent, std::string_view message) = 0;
};

class JobContext final : public Interruption, public std::enable_shared_from_this<JobContext> {
  struct Key {};  // only create() constructs

 public:
  // `http` and `observer` (may be null) must outlive the context.
  static std::shared_ptr<JobContext> create(JobRequest request, OutboundPolicy policy,
                                            const HttpClient& http, JobObserver* observer);
  JobContext(Key key, JobRequest request, OutboundPolicy policy, const HttpClient& http,
             JobObserver* observer);
  ~JobContext() override;
  JobContext(const JobContext&) = delete;
  JobContext& operator=(const JobContext&) = delete;

  const JobRequest& request() const noexcept { return request_; }
  const dtq_job* abi_job() const noexcept { return &abi_job_; }
  // The handle a plugin in this process is given. The context is entered
  // in the table that from_abi() reads on the first call only: a job whose
  // plugin runs in a runner process never is, and costs the table nothing.
  dtq_job_ctx* abi_handle() const;
  // The context behind a handle, or null once it is gone (or for a handle
  // the host never made).
  static std::shared_ptr<JobContext> from_abi(dtq_job_ctx* handle);

  // Host API side.
  void report_progress(int percent, std::string_view message);
  void log(dtq_log_level level, std::string_view message) const;
  dtq_status http(const dtq_http_request& request, dtq_http_response& response);
  void set_result(std::string_view output_json);
  void fail(std::string_view code, std::string_view message, bool retryable);

  // Interruption: true once cancelled or past the deadline.
  bool interrupted() const override;
  bool sleep_for(std::chrono::milliseconds duration) const override;

  // Engine side.
  void cancel();
  // Passes on a progress message held back by coalescing once its interval
  // has passed; the engine calls it periodically so the latest always shows.
  void flush_progress();
  bool cancelled() const noexcept { return cancelled_.load(); }
  int progress() const noexcept { return progress_.load(); }
  bool ended() const noexcept { return ended_.load(); }
  // Ends the job and returns its outcome: the result or failure the plugin
  // set, a cancellation, a timeout, or "no_result" when it set neither.
  JobOutcome finish();

 private:
  // Tells the observer; observer_mutex_ held.
  void tell_progress(int percent, std::string message, Clock::time_point now);

  JobRequest request_;
  uint64_t handle_ = 0;
  mutable std::atomic<bool> handle_registered_{false};
  OutboundPolicy policy_;
  const HttpClient& http_;
  JobObserver* observer_;
  dtq_job abi_job_{};

  std::atomic<int> progress_;
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> ended_{false};
  // Held while an observer call runs and while finish() ends the job, so no
  // observer call starts after finish() returned (the observer may be gone).
  std::mutex observer_mutex_;
  // What the observer was last told, and the message held back since;
  // guarded by observer_mutex_.
  int told_percent_ = -1;
  std::string told_message_;
  Clock::time_point told_at_;
  std::optional<std::string> held_message_;

  mutable std::mutex mutex_;
  mutable std::condition_variable wake_;
  std::optional<std::string> result_;
  std::optional<JobOutcome> failure_;
  // Responses handed to the plugin; lists, so that earlier ones never move
  // and a job that makes no call allocates nothing (a deque would).
  std::list<HttpResult> responses_;
  std::list<std::vector<dtq_http_header>> response_headers_;
  std::string last_error_;
};

// The host API table every plugin receives. Lives for the process.
const dtq_host_api* host_api() noexcept;

}  // namespace dtq::host
