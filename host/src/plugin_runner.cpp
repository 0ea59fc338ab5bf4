#include "dtq/host/plugin_runner.hpp"

#include <dtq/plugin.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstddef>
#include <cstring>
#include <list>
#include <map>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <vector>

#include "dtq/core/time.hpp"
#include "dtq/core/utf8.hpp"
#include "dtq/host/job_context.hpp"
#include "dtq/host/plugin_loader.hpp"
#include "runner_protocol.hpp"

namespace dtq::host {
namespace {

using runner::FrameReader;
using runner::FrameType;
using runner::FrameWriter;
using runner::RunEnd;

// What the supervisor sends is small; a validate() payload is bounded by
// the API's body limit, well under this.
constexpr size_t kMaxIncomingFrame = size_t{64} << 20;
// A new percentage is sent at once (every milestone shows, in order); a
// report that only changes the message waits this long for company (the
// next report, a host call, the job's end), so a flood costs a bounded
// number of frames.
constexpr auto kProgressMessageInterval = std::chrono::milliseconds(100);
// How long a request may wait for a thread, or an outcome be held back for
// company, before the reader steps in.
constexpr auto kStallLimit = std::chrono::milliseconds(1);
constexpr size_t kThreadStackBytes = size_t{1} << 20;
constexpr int kMallocArenas = 4;

struct RunnerOptions {
  int fd = 3;
  std::string library;
  uint64_t max_memory_mb = 0;
  uint64_t max_open_files = 0;
  uint64_t max_cpu_seconds = 0;
  bool isolate_network = true;
};

bool parse_number(std::string_view text, uint64_t& out) {
  const auto* end = text.data() + text.size();
  auto [ptr, error] = std::from_chars(text.data(), end, out);
  return error == std::errc{} && ptr == end;
}

bool parse_options(int argc, char** argv, RunnerOptions& options) {
  auto fd = static_cast<uint64_t>(options.fd);
  const std::pair<std::string_view, uint64_t*> numbers[] = {
      {"--fd", &fd},
      {"--max-memory-mb", &options.max_memory_mb},
      {"--max-open-files", &options.max_open_files},
      {"--max-cpu-seconds", &options.max_cpu_seconds}};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    const std::string_view value = argv[i + 1];
    if (flag == "--library") {
      options.library = value;
      continue;
    }
    if (flag == "--network") {
      if (value != "none" && value != "host") return false;
      options.isolate_network = value == "none";
      continue;
    }
    const auto* number = std::find_if(std::begin(numbers), std::end(numbers),
                                      [&](const auto& entry) { return entry.first == flag; });
    if (number == std::end(numbers) || !parse_number(value, *number->second)) return false;
  }
  options.fd = static_cast<int>(fd);
  return argc % 2 == 1 && !options.library.empty();
}

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif
#else
constexpr bool kAddressSanitizer = false;
#endif

Status set_limit(int resource, uint64_t value, const char* what) {
  const rlimit limit{.rlim_cur = value, .rlim_max = value};
  if (::setrlimit(resource, &limit) != 0) {
    return internal_error(std::string("cannot limit ") + what + ": " +
                          std::error_code(errno, std::generic_category()).message());
  }
  return {};
}

Status apply_limits(const RunnerOptions& options) {
  // A crashing plugin must not litter the disk with core files.
  if (Status s = set_limit(RLIMIT_CORE, 0, "core files"); !s.ok()) return s;
  if (options.max_open_files != 0) {
    if (Status s = set_limit(RLIMIT_NOFILE, options.max_open_files, "open files"); !s.ok())
      return s;
  }
  if (options.max_cpu_seconds != 0) {
    if (Status s = set_limit(RLIMIT_CPU, options.max_cpu_seconds, "CPU time"); !s.ok()) return s;
  }
  // AddressSanitizer reserves terabytes of address space for its shadow.
  if (options.max_memory_mb != 0 && !kAddressSanitizer) {
    if (Status s = set_limit(RLIMIT_AS, options.max_memory_mb << 20, "memory"); !s.ok()) return s;
  }
  return {};
}

#if defined(__x86_64__)
constexpr uint32_t kAuditArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr uint32_t kAuditArch = AUDIT_ARCH_AARCH64;
#endif

// No network of its own: socket() fails with EACCES (and io_uring, which
// can open sockets too, is absent), so a plugin's only way out is the host's
// HTTP with its allow-list. The runner's channel was made before the filter.
Status confine_network() {
  // A namespace with only a loopback of its own, where the process may make
  // one (root, or unprivileged user namespaces); the filter holds either way.
  if (::unshare(CLONE_NEWNET) != 0) (void)::unshare(CLONE_NEWUSER | CLONE_NEWNET);
#if defined(__x86_64__) || defined(__aarch64__)
  sock_filter filter[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kAuditArch, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
#if defined(__x86_64__)
    // x32 system calls are numbered apart: refuse them all.
    BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EACCES),
#endif
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EACCES),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  const sock_fprog program{.len = static_cast<unsigned short>(std::size(filter)), .filter = filter};
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0) {
    return internal_error(std::string("cannot install the network filter: ") +
                          std::error_code(errno, std::generic_category()).message());
  }
  return {};
#else
  return failed_precondition("no network filter for this processor; run with --network host");
#endif
}

std::string_view view(dtq_str s) {
  return s.ptr == nullptr ? std::string_view{} : std::string_view{s.ptr, s.len};
}

constexpr size_t kHttpRequestV1Size = offsetof(dtq_http_request, max_attempts) + sizeof(uint32_t);

// The runner's side of the jobs and validations it serves at once. The
// supervisor sends requests as they come, in batches under load. Each
// thread wakes or added costs microseconds, so requests are not handed out
// one thread each: a thread that is running requests takes the next one
// itself, and another thread is woken (or added, and kept) only when a
// request has waited kStallLimit — because the threads at work are blocked
// in a slow job, an HTTP call or a sleep. What requests send back —
// progress, HTTP requests, outcomes — goes out in as few writes as the load
// allows (see Outbox).
//
// The handle a plugin gets is the job's request number, never a pointer: a
// call from a plugin thread after its job ended names a number no longer
// served and is ignored, and nothing it holds can point at freed memory.
class Runner {
 public:
  Runner(int fd, std::shared_ptr<InProcessPlugin> plugin)
      : outbox_(fd), fd_(fd), plugin_(std::move(plugin)) {}

  int serve();

  // Host API side, from the plugin's threads.
  void report_progress(dtq_job_ctx* handle, int32_t percent, std::string_view message);
  void log(dtq_job_ctx* handle, dtq_log_level level, std::string_view message);
  bool interrupted(dtq_job_ctx* handle);
  dtq_status sleep_ms(dtq_job_ctx* handle, uint32_t ms);
  dtq_status http(dtq_job_ctx* handle, const dtq_http_request& request,
                  dtq_http_response& response);
  void set_result(dtq_job_ctx* handle, std::string_view output);
  void fail(dtq_job_ctx* handle, std::string_view code, std::string_view message, bool retryable);

 private:
  // Frames bound for the supervisor. A thread that finds another one
  // writing leaves its frames to that writer, which sends everything
  // queued before it returns: under load, one write carries many frames.
  class Outbox {
   public:
    explicit Outbox(int fd) : fd_(fd) {}
    // Queues `frames` for the next send() or flush().
    void hold(std::string_view frames) {
      std::lock_guard lock(mutex_);
      queued_ += frames;
    }
    [[nodiscard]] bool holding() {
      std::lock_guard lock(mutex_);
      return !queued_.empty();
    }
    void flush() { send({}); }
    void send(std::string_view frames) {
      std::unique_lock lock(mutex_);
      queued_ += frames;
      if (writing_ || queued_.empty()) return;
      writing_ = true;
      // Two buffers that trade places keep their capacity: a write
      // allocates nothing once they have grown (past 64 KiB, one is let go).
      while (!queued_.empty()) {
        sending_.swap(queued_);
        lock.unlock();
        // The supervisor is gone: nothing is left to serve.
        if (!runner::send_frame(fd_, sending_).ok()) std::_Exit(0);
        runner::empty_keeping_capacity(sending_);
        lock.lock();
      }
      writing_ = false;
    }

   private:
    const int fd_;
    std::mutex mutex_;
    std::string queued_;
    std::string sending_;  // the writer's alone
    bool writing_ = false;
  };

  struct HttpReply {
    dtq_status status = DTQ_ERR_TRANSPORT;
    int32_t status_code = 0;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
    std::vector<dtq_http_header> header_views;
    uint32_t attempts = 0;
    std::string error;
  };

  static uint64_t request_of(dtq_job_ctx* handle) { return reinterpret_cast<uintptr_t>(handle); }
  // A request number dressed as a handle; never dereferenced.
  static dtq_job_ctx* handle_of(uint64_t request) {
    const auto value = static_cast<uintptr_t>(request);
    return reinterpret_cast<dtq_job_ctx*>(value);  // NOLINT(performance-no-int-to-ptr)
  }

  struct PendingJob {
    std::string job_id, job_type, trace_id, payload;
    uint32_t attempt = 0;
    int64_t deadline_unix_ms = 0;
    bool validate_first = false;
  };
  // One request waiting for a thread: a job to run, or a payload to validate.
  struct Work {
    uint64_t id = 0;
    bool validate = false;
    PendingJob job;  // for a validation, only the payload
    size_t max_result_bytes = 0;
    std::chrono::steady_clock::time_point queued_at;
  };
  // What one running job has said so far.
  struct JobState {
    bool cancelled = false;
    Deadline deadline = kNoDeadline;
    size_t max_result_bytes = 0;
    RunEnd end = RunEnd::kNothing;
    std::string result;
    std::string fail_code;
    std::string fail_message;
    bool retryable = false;
    // Progress: what was last sent, and what is waiting to go.
    int32_t sent_percent = -1;
    Clock::time_point sent_at{};
    std::optional<std::pair<int32_t, std::string>> unsent_progress;
    // Responses handed to the plugin: they stay valid until the job ends.
    // A list, not a deque: it never moves them, and allocates nothing for
    // the jobs (most of them) that make no HTTP call.
    std::list<HttpReply> responses;
  };

  void accept_run(FrameReader& reader, uint64_t id);
  void accept_validate(FrameReader& reader, uint64_t id);
  // Hands what the reader accepted since the last call to the threads.
  void enqueue_arrived();
  // How long the reader may block: while requests wait or outcomes are
  // held, it looks again within kStallLimit. mutex_ not held.
  std::optional<std::chrono::milliseconds> reader_wait();
  // Called by the reader every kStallLimit while it looks: sends what is
  // held, and gets a thread to a request that waited that long.
  void unstall();
  // mutex_ held.
  void add_thread_locked();
  // A request thread: takes the next request, runs it, and again.
  void work_loop();
  void run_job(uint64_t id, PendingJob& pending);
  // Sends the job's outcome (and its last progress) and forgets it.
  void finish_job(uint64_t id);
  void validate(uint64_t id, const std::string& payload);
  void cancel(uint64_t id);
  void deliver_http_reply(FrameReader& reader);
  // The running job behind `handle`, or null once it ended. mutex_ held.
  JobState* job_locked(dtq_job_ctx* handle);
  // The job's unsent progress report as a frame ("" when there is none).
  // Appends the job's unsent progress report, if any, to `frames` as a
  // frame, and counts it sent.
  static void take_progress_locked(uint64_t id, JobState& job, std::string& frames);

  Outbox outbox_;
  const int fd_;
  const std::shared_ptr<InProcessPlugin> plugin_;

  std::mutex mutex_;
  std::condition_variable work_ready_;
  // Sleeping plugin calls (sleep_ms, http) wait on this one.
  std::condition_variable wake_;
  // Requests waiting for a thread, oldest first: a vector and the place of
  // the oldest, not a deque, which allocates a block every two requests.
  class WorkQueue {
   public:
    [[nodiscard]] bool empty() const { return head_ == queued_.size(); }
    Work& front() { return queued_[head_]; }
    void push_back(Work work) { queued_.push_back(std::move(work)); }
    void pop_front() {
      ++head_;
      if (empty()) {
        queued_.clear();
        head_ = 0;
      } else if (head_ >= kCompactAfter && 2 * head_ >= queued_.size()) {
        // Never empty under a steady flow: the taken ones go now and then.
        queued_.erase(queued_.begin(), queued_.begin() + static_cast<std::ptrdiff_t>(head_));
        head_ = 0;
      }
    }

   private:
    static constexpr size_t kCompactAfter = 1024;
    std::vector<Work> queued_;
    size_t head_ = 0;
  };
  WorkQueue work_;
  std::vector<Work> arrived_;  // the reader's alone: accepted, not yet queued
  size_t idle_threads_ = 0;
  size_t busy_threads_ = 0;
  std::vector<std::thread> threads_;
  std::unordered_map<uint64_t, JobState> jobs_;
  uint32_t next_http_ = 0;
  std::map<uint32_t, std::optional<HttpReply>> http_replies_;
};

Runner* the_runner = nullptr;

void send_or_exit(int fd, std::mutex& mutex, const std::string& frame) {
  std::lock_guard lock(mutex);
  // The supervisor is gone: nothing is left to serve.
  if (!runner::send_frame(fd, frame).ok()) std::_Exit(0);
}

int Runner::serve() {
  runner::FrameStream stream(fd_, kMaxIncomingFrame);
  while (true) {
    // The requests of one read reach the threads together: one lock and at
    // most one wake-up, not a wake-up (and a fight for the lock with the
    // thread it woke) per request.
    if (!stream.has_frame()) enqueue_arrived();
    auto frame = stream.next_view(reader_wait());
    if (!frame.ok() && frame.status().code() == StatusCode::kDeadlineExceeded) {
      unstall();
      continue;
    }
    if (!frame.ok()) {
      // The supervisor closed the channel (or broke it): a plugin thread
      // still running must not keep this process alive.
      std::_Exit(frame.status().code() == StatusCode::kNotFound ? 0 : 1);
    }
    FrameReader reader(frame->body);
    int64_t id = 0;
    if (!reader.i64(id)) std::_Exit(1);
    switch (frame->type) {
      case FrameType::kRun:
        accept_run(reader, static_cast<uint64_t>(id));
        break;
      case FrameType::kCancel:
        enqueue_arrived();  // a cancel may name a job of the same read
        cancel(static_cast<uint64_t>(id));
        break;
      case FrameType::kHttpReply:
        deliver_http_reply(reader);
        break;
      case FrameType::kValidate:
        accept_validate(reader, static_cast<uint64_t>(id));
        break;
      default:
        std::_Exit(1);  // the supervisor never sends anything else
    }
  }
}

void Runner::accept_run(FrameReader& reader, uint64_t id) {
  Work work{.id = id};
  int64_t max_result_bytes = 0;
  reader.str(work.job.job_id);
  reader.str(work.job.job_type);
  reader.str(work.job.trace_id);
  reader.str(work.job.payload);
  reader.u32(work.job.attempt);
  reader.i64(work.job.deadline_unix_ms);
  reader.i64(max_result_bytes);
  uint32_t validate_first = 0;
  reader.u32(validate_first);
  work.job.validate_first = validate_first != 0;
  if (!reader.ok()) std::_Exit(1);
  work.max_result_bytes = static_cast<size_t>(max_result_bytes);
  arrived_.push_back(std::move(work));
}

void Runner::accept_validate(FrameReader& reader, uint64_t id) {
  Work work{.id = id, .validate = true};
  if (!reader.str(work.job.payload)) std::_Exit(1);
  arrived_.push_back(std::move(work));
}

void Runner::enqueue_arrived() {
  if (arrived_.empty()) return;
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  for (auto& work : arrived_) {
    if (!work.validate) {
      // Request numbers are never reused: a repeat is a broken supervisor.
      auto [job, added] = jobs_.try_emplace(work.id);
      if (!added) std::_Exit(1);
      // Kept on the steady clock from here: a wall-clock step in the runner
      // must not expire or extend the job.
      job->second.deadline = deadline_from_unix_ms(work.job.deadline_unix_ms);
      job->second.max_result_bytes = work.max_result_bytes;
      job->second.sent_at = Clock::now();
    }
    work.queued_at = now;
    work_.push_back(std::move(work));
  }
  arrived_.clear();
  // A thread at work takes them when it is done with its own request; if
  // that takes too long, unstall() brings another.
  if (busy_threads_ > 0) return;
  if (idle_threads_ > 0) {
    work_ready_.notify_one();
  } else {
    add_thread_locked();
  }
}

void Runner::add_thread_locked() {
  try {
    threads_.emplace_back(&Runner::work_loop, this);
  } catch (const std::system_error& error) {
    // Out of threads (or of address space for their stacks): the requests
    // wait for the threads there are.
    spdlog::warn("plugin runner: cannot add a thread beyond {}: {}", threads_.size(), error.what());
  }
}

std::optional<std::chrono::milliseconds> Runner::reader_wait() {
  {
    std::lock_guard lock(mutex_);
    if (!work_.empty()) return kStallLimit;
  }
  if (outbox_.holding()) return kStallLimit;
  return std::nullopt;
}

void Runner::unstall() {
  outbox_.flush();
  std::lock_guard lock(mutex_);
  if (work_.empty() || std::chrono::steady_clock::now() - work_.front().queued_at < kStallLimit) {
    return;
  }
  if (idle_threads_ > 0) {
    work_ready_.notify_one();
  } else {
    add_thread_locked();
  }
}

void Runner::work_loop() {
  std::unique_lock lock(mutex_);
  while (true) {
    ++idle_threads_;
    work_ready_.wait(lock, [&] { return !work_.empty(); });
    --idle_threads_;
    ++busy_threads_;
    while (!work_.empty()) {
      Work work = std::move(work_.front());
      work_.pop_front();
      lock.unlock();
      if (work.validate) {
        validate(work.id, work.job.payload);
      } else {
        run_job(work.id, work.job);
      }
      lock.lock();
    }
    --busy_threads_;
  }
}

const dtq_host_api* runner_host_api();

void Runner::run_job(uint64_t id, PendingJob& pending) {
  if (pending.validate_first) {
    const ValidationOutcome validation = plugin_->validate(pending.payload);
    if (!validation.valid()) {
      fail(handle_of(id), "invalid_payload", validation.describe(), false);
      return finish_job(id);
    }
    pending.payload = validation.normalized_payload;
  }
  const dtq_job job{
      .struct_size = sizeof(dtq_job),
      .job_id = {pending.job_id.data(), pending.job_id.size()},
      .job_type = {pending.job_type.data(), pending.job_type.size()},
      .trace_id = {pending.trace_id.data(), pending.trace_id.size()},
      .payload = {pending.payload.data(), pending.payload.size()},
      .attempt = pending.attempt,
      .deadline_unix_ms = pending.deadline_unix_ms == 0 ? INT64_MAX : pending.deadline_unix_ms,
  };
  plugin_->run_with(runner_host_api(), &job, handle_of(id));
  finish_job(id);
}

void Runner::finish_job(uint64_t id) {
  std::string& frames = runner::reusable_frame_buffer();
  {
    std::lock_guard lock(mutex_);
    auto found = jobs_.find(id);
    JobState& state = found->second;
    // The last progress and the outcome in one frame batch.
    take_progress_locked(id, state, frames);
    FrameWriter done(FrameType::kDone, frames);
    done.i64(static_cast<int64_t>(id)).u32(static_cast<uint32_t>(state.end));
    done.str(state.result).str(state.fail_code).str(state.fail_message);
    done.u32(state.retryable ? 1 : 0);
    jobs_.erase(found);
    // More requests are waiting for this thread: their outcomes will go
    // with this one (the reader sends held frames within kStallLimit).
    if (!work_.empty()) {
      outbox_.hold(frames);
      return;
    }
  }
  outbox_.send(frames);
}

void Runner::validate(uint64_t id, const std::string& payload) {
  auto outcome = plugin_->check(payload);
  FrameWriter reply(FrameType::kValidated);
  reply.i64(static_cast<int64_t>(id));
  if (!outcome.ok()) {
    reply.str(outcome.status().message()).str("").u32(0);
  } else {
    reply.str("")
        .str(outcome->normalized_payload)
        .u32(static_cast<uint32_t>(outcome->errors.size()));
    for (const auto& error : outcome->errors) reply.str(error.field).str(error.message);
  }
  {
    std::lock_guard lock(mutex_);
    if (!work_.empty()) {  // as in finish_job()
      outbox_.hold(std::move(reply).finish());
      return;
    }
  }
  outbox_.send(std::move(reply).finish());
}

void Runner::cancel(uint64_t id) {
  {
    std::lock_guard lock(mutex_);
    auto found = jobs_.find(id);
    if (found == jobs_.end()) return;
    found->second.cancelled = true;
  }
  wake_.notify_all();
  plugin_->cancel_with(handle_of(id));
}

void Runner::deliver_http_reply(FrameReader& reader) {
  uint32_t number = 0;
  uint32_t status = 0;
  uint32_t status_code = 0;
  uint32_t header_count = 0;
  uint32_t attempts = 0;
  HttpReply reply;
  reader.u32(number);
  reader.u32(status);
  reader.u32(status_code);
  reader.str(reply.body);
  reader.u32(header_count);
  for (uint32_t i = 0; i < header_count && reader.ok(); ++i) {
    auto& [name, value] = reply.headers.emplace_back();
    reader.str(name);
    reader.str(value);
  }
  reader.u32(attempts);
  reader.str(reply.error);
  if (!reader.ok()) std::_Exit(1);
  reply.status = static_cast<dtq_status>(status);
  reply.status_code = static_cast<int32_t>(status_code);
  reply.attempts = attempts;
  {
    std::lock_guard lock(mutex_);
    auto waiting = http_replies_.find(number);
    if (waiting == http_replies_.end()) return;
    waiting->second = std::move(reply);
  }
  wake_.notify_all();
}

Runner::JobState* Runner::job_locked(dtq_job_ctx* handle) {
  auto found = jobs_.find(request_of(handle));
  return found == jobs_.end() ? nullptr : &found->second;
}

void Runner::take_progress_locked(uint64_t id, JobState& job, std::string& frames) {
  if (!job.unsent_progress) return;
  FrameWriter frame(FrameType::kProgress, frames);
  frame.i64(static_cast<int64_t>(id)).u32(static_cast<uint32_t>(job.unsent_progress->first));
  frame.str(job.unsent_progress->second);
  job.sent_percent = job.unsent_progress->first;
  job.sent_at = Clock::now();
  job.unsent_progress.reset();
}

void Runner::report_progress(dtq_job_ctx* handle, int32_t percent, std::string_view message) {
  std::string& frame = runner::reusable_frame_buffer();
  {
    std::lock_guard lock(mutex_);
    JobState* job = job_locked(handle);
    if (job == nullptr) return;
    job->unsent_progress.emplace(percent, to_valid_utf8(message));
    if (percent != job->sent_percent || Clock::now() - job->sent_at >= kProgressMessageInterval) {
      take_progress_locked(request_of(handle), *job, frame);
    }
    // More requests wait for this thread: as in finish_job(), the report
    // goes with their outcomes, within kStallLimit at the latest.
    if (!frame.empty() && !work_.empty()) {
      outbox_.hold(frame);
      return;
    }
  }
  if (!frame.empty()) outbox_.send(frame);
}

void Runner::log(dtq_job_ctx* handle, dtq_log_level level, std::string_view message) {
  FrameWriter frame(FrameType::kLog);
  {
    std::lock_guard lock(mutex_);
    if (handle != nullptr && job_locked(handle) == nullptr) return;
    frame.i64(static_cast<int64_t>(request_of(handle)));
  }
  frame.u32(static_cast<uint32_t>(level)).str(to_valid_utf8(message));
  outbox_.send(std::move(frame).finish());
}

bool Runner::interrupted(dtq_job_ctx* handle) {
  std::string frame;
  bool interrupted = false;
  {
    std::lock_guard lock(mutex_);
    JobState* job = job_locked(handle);
    interrupted =
        job == nullptr || job->cancelled || std::chrono::steady_clock::now() >= job->deadline;
    // A plugin that polls for cancellation is busy: what it reported shows
    // at least this often.
    if (!interrupted && Clock::now() - job->sent_at >= kProgressMessageInterval)
      take_progress_locked(request_of(handle), *job, frame);
  }
  if (!frame.empty()) outbox_.send(frame);
  return interrupted;
}

dtq_status Runner::sleep_ms(dtq_job_ctx* handle, uint32_t ms) {
  std::unique_lock lock(mutex_);
  JobState* job = job_locked(handle);
  if (job == nullptr) return DTQ_ERR_JOB_ENDED;
  // What the plugin reported shows while it sleeps.
  std::string frame;
  take_progress_locked(request_of(handle), *job, frame);
  if (!frame.empty()) {
    lock.unlock();
    outbox_.send(frame);
    lock.lock();
    job = job_locked(handle);
    if (job == nullptr) return DTQ_ERR_JOB_ENDED;
  }
  const auto deadline = job->deadline;
  const auto until =
      std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(ms));
  const bool woken = wake_.wait_until(lock, until, [&] {
    JobState* still = job_locked(handle);
    return still == nullptr || still->cancelled;
  });
  if (woken || std::chrono::steady_clock::now() >= deadline) return DTQ_ERR_CANCELLED;
  return DTQ_OK;
}

dtq_status Runner::http(dtq_job_ctx* handle, const dtq_http_request& request,
                        dtq_http_response& response) {
  if (request.struct_size < kHttpRequestV1Size) return DTQ_ERR_INVALID_ARGUMENT;
  if (request.header_count > 0 && request.headers == nullptr) return DTQ_ERR_INVALID_ARGUMENT;
  uint32_t number = 0;
  std::string frames;
  {
    std::lock_guard lock(mutex_);
    JobState* job = job_locked(handle);
    if (job == nullptr) return DTQ_ERR_JOB_ENDED;
    number = ++next_http_;
    http_replies_[number];
    // What the plugin reported shows while the request is under way.
    take_progress_locked(request_of(handle), *job, frames);
  }
  FrameWriter frame(FrameType::kHttp, frames);
  frame.i64(static_cast<int64_t>(request_of(handle))).u32(number);
  frame.str(view(request.method))
      .str(view(request.url))
      .u32(static_cast<uint32_t>(request.header_count));
  for (size_t i = 0; i < request.header_count; ++i) {
    frame.str(view(request.headers[i].name)).str(view(request.headers[i].value));
  }
  frame.str(view(request.body)).u32(request.timeout_ms).u32(request.max_attempts);
  outbox_.send(frames);

  std::unique_lock lock(mutex_);
  // The supervisor always answers, even for a job that ended meanwhile;
  // only its death (which ends this process) leaves a call unanswered.
  wake_.wait(lock, [&] { return http_replies_[number].has_value(); });
  HttpReply reply = std::move(*http_replies_[number]);
  http_replies_.erase(number);
  JobState* job = job_locked(handle);
  if (job == nullptr) return DTQ_ERR_JOB_ENDED;
  HttpReply& kept = job->responses.emplace_back(std::move(reply));
  for (const auto& [name, value] : kept.headers) {
    kept.header_views.push_back({{name.data(), name.size()}, {value.data(), value.size()}});
  }
  if (DTQ_FIELD_FITS(&response, dtq_http_response, status_code))
    response.status_code = kept.status_code;
  if (DTQ_FIELD_FITS(&response, dtq_http_response, body))
    response.body = {kept.body.data(), kept.body.size()};
  if (DTQ_FIELD_FITS(&response, dtq_http_response, header_count)) {
    response.headers = kept.header_views.data();
    response.header_count = kept.header_views.size();
  }
  if (DTQ_FIELD_FITS(&response, dtq_http_response, attempts)) response.attempts = kept.attempts;
  if (DTQ_FIELD_FITS(&response, dtq_http_response, error))
    response.error = {kept.error.data(), kept.error.size()};
  return kept.status;
}

void Runner::set_result(dtq_job_ctx* handle, std::string_view output) {
  std::lock_guard lock(mutex_);
  JobState* job = job_locked(handle);
  if (job == nullptr) return;
  if (output.size() > job->max_result_bytes) {
    // Refused here, so an oversized result never crosses the channel.
    job->end = RunEnd::kFailed;
    job->fail_code = "result_too_large";
    job->fail_message = "the plugin's result of " + std::to_string(output.size()) +
                        " bytes exceeds this pool's limit of " +
                        std::to_string(job->max_result_bytes) + " bytes (max_result_bytes)";
    job->retryable = false;
    return;
  }
  job->end = RunEnd::kResult;
  job->result.assign(output);
}

void Runner::fail(dtq_job_ctx* handle, std::string_view code, std::string_view message,
                  bool retryable) {
  std::lock_guard lock(mutex_);
  JobState* job = job_locked(handle);
  if (job == nullptr) return;
  job->end = RunEnd::kFailed;
  job->fail_code = to_valid_utf8(code);
  job->fail_message = to_valid_utf8(message);
  job->retryable = retryable;
}

// The C trampolines: no exception may reach plugin code.
template <typename F>
auto guarded(F&& call, decltype(call()) otherwise) noexcept -> decltype(call()) {
  try {
    return call();
  } catch (...) {
    return otherwise;
  }
}

const dtq_host_api* runner_host_api() {
  static const dtq_host_api api{
      sizeof(dtq_host_api),
      DTQ_ABI_VERSION_MAJOR,
      DTQ_ABI_VERSION_MINOR,
      [](dtq_job_ctx* job, int32_t percent, dtq_str message) noexcept {
        guarded([&] { return the_runner->report_progress(job, percent, view(message)), 0; }, 0);
      },
      [](dtq_job_ctx* job, dtq_log_level level, dtq_str message) noexcept {
        guarded([&] { return the_runner->log(job, level, view(message)), 0; }, 0);
      },
      [](dtq_job_ctx* job) noexcept -> int {
        return guarded([&] { return the_runner->interrupted(job) ? 1 : 0; }, 1);
      },
      [](dtq_job_ctx* job, uint32_t ms) noexcept -> dtq_status {
        return guarded([&] { return the_runner->sleep_ms(job, ms); }, DTQ_ERR_CANCELLED);
      },
      [](dtq_job_ctx* job, const dtq_http_request* request,
         dtq_http_response* response) noexcept -> dtq_status {
        if (request == nullptr || response == nullptr) return DTQ_ERR_INVALID_ARGUMENT;
        return guarded([&] { return the_runner->http(job, *request, *response); },
                       DTQ_ERR_TRANSPORT);
      },
      [](dtq_job_ctx* job, dtq_str output) noexcept {
        guarded([&] { return the_runner->set_result(job, view(output)), 0; }, 0);
      },
      [](dtq_job_ctx* job, dtq_str code, dtq_str message, int retryable) noexcept {
        guarded([&] { return the_runner->fail(job, view(code), view(message), retryable != 0), 0; },
                0);
      },
      // validate() reports through the in-process collector.
      host_api()->set_normalized_payload,
      host_api()->add_field_error,
  };
  return &api;
}

std::string hello_frame(const PluginInfo& info, bool network_isolated) {
  FrameWriter hello(FrameType::kHello);
  hello.i64(0).str(info.name).str(info.job_type).str(info.version).str(info.sdk_version);
  hello.str(info.description)
      .str(info.payload_schema_json)
      .u32(static_cast<uint32_t>(info.allowed_hosts.size()));
  for (const auto& host : info.allowed_hosts) hello.str(host);
  hello.u32(info.abi_major)
      .u32(info.abi_minor)
      .u32(info.default_concurrency)
      .u32(info.default_timeout_ms);
  hello.u32(info.default_max_attempts)
      .u32(info.single_threaded ? 1 : 0)
      .u32(network_isolated ? 1 : 0);
  return std::move(hello).finish();
}

}  // namespace

int run_plugin_runner(int argc, char** argv) {
  RunnerOptions options;
  if (!parse_options(argc, argv, options)) {
    spdlog::error(
        "usage: dtq-plugin-runner --library FILE [--fd N] [--max-memory-mb N] [--max-open-files N] "
        "[--max-cpu-seconds N] [--network none|host]");
    return 2;
  }
  std::mutex send_mutex;
  const auto refuse = [&](const std::string& reason) {
    FrameWriter refused(FrameType::kRefused);
    refused.i64(0).str(reason);
    send_or_exit(options.fd, send_mutex, std::move(refused).finish());
    return 2;
  };
  if (Status limited = apply_limits(options); !limited.ok()) return refuse(limited.message());
  if (options.isolate_network) {
    if (Status confined = confine_network(); !confined.ok()) return refuse(confined.message());
  }
  // A runner may serve hundreds of jobs at once, a thread each, under an
  // address-space limit: each thread gets a 1 MiB stack (not the 8 MiB that
  // RLIMIT_STACK would give), and malloc a few arenas, not one per thread
  // pair of cores (64 MiB of address space each).
  pthread_attr_t thread_defaults;
  if (pthread_attr_init(&thread_defaults) == 0) {
    pthread_attr_setstacksize(&thread_defaults, kThreadStackBytes);
    pthread_setattr_default_np(&thread_defaults);
    pthread_attr_destroy(&thread_defaults);
  }
  mallopt(M_ARENA_MAX, kMallocArenas);  // NOLINT(concurrency-mt-unsafe): no thread runs yet
  auto plugin = load_in_process_plugin(options.library);
  if (!plugin.ok()) return refuse(plugin.status().message());
  Runner runner(options.fd, *plugin);
  the_runner = &runner;
  send_or_exit(options.fd, send_mutex, hello_frame((*plugin)->info(), options.isolate_network));
  return runner.serve();
}

}  // namespace dtq::host
