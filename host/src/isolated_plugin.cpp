#include "dtq/host/isolated_plugin.hpp"

#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <csignal>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <system_error>
#include <thread>

#include "dtq/core/backoff.hpp"
#include "dtq/core/companion_file.hpp"
#include "dtq/core/time.hpp"
#include "dtq/host/job_context.hpp"
#include "runner_protocol.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX leaves it undeclared

namespace dtq::host {
namespace {

using runner::Frame;
using runner::FrameReader;
using runner::FrameType;
using runner::FrameView;
using runner::FrameWriter;
using runner::RunEnd;

// A result is bounded by max_result_bytes in the runner; an HTTP request by
// what a plugin sends. This bounds what a misbehaving runner can make the
// supervisor allocate.
constexpr size_t kMaxRunnerFrame = size_t{256} << 20;
// Once runners keep crashing, each new one waits this long, doubling.
constexpr int kCrashesBeforeBackoff = 3;
constexpr auto kFirstRestartDelay = std::chrono::milliseconds(100);
constexpr auto kMaxRestartDelay = std::chrono::milliseconds(5000);
// How often a runner's reader looks at the deadlines of the jobs started
// asynchronously on it (a late kill is late by at most this).
constexpr auto kDeadlineCheckInterval = std::chrono::milliseconds(100);

std::string describe_exit(int status) {
  if (WIFSIGNALED(status)) {
    const int signal = WTERMSIG(status);
    const char* name = ::sigabbrev_np(signal);
    return "was killed by signal " +
           (name != nullptr ? "SIG" + std::string(name) : std::string("?")) + " (" +
           std::to_string(signal) + ")";
  }
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  return "ended";
}

bool read_info(FrameReader& reader, PluginInfo& info, bool& network_isolated) {
  uint32_t count = 0;
  uint32_t single = 0;
  uint32_t isolated = 0;
  reader.str(info.name);
  reader.str(info.job_type);
  reader.str(info.version);
  reader.str(info.sdk_version);
  reader.str(info.description);
  reader.str(info.payload_schema_json);
  reader.u32(count);
  for (uint32_t i = 0; i < count && reader.ok(); ++i) reader.str(info.allowed_hosts.emplace_back());
  reader.u32(info.abi_major);
  reader.u32(info.abi_minor);
  reader.u32(info.default_concurrency);
  reader.u32(info.default_timeout_ms);
  reader.u32(info.default_max_attempts);
  reader.u32(single);
  reader.u32(isolated);
  info.single_threaded = single != 0;
  network_isolated = isolated != 0;
  return reader.ok();
}

}  // namespace

std::filesystem::path default_runner_executable() {
  return companion_file("DTQ_PLUGIN_RUNNER", "dtq-plugin-runner");
}

// One runner process and this end of its socket. Many callers share it:
// each request is a Call, numbered by the caller; a reader thread of the
// runner's own routes every frame that comes back to the call it names.
class IsolatedPlugin::Runner : public std::enable_shared_from_this<Runner> {
 public:
  struct Call;
  // Where an asynchronous call's frames go, on the reader thread: each
  // frame that names it (a view into the reader's buffer, valid for the
  // call only), then null once the runner is gone (the call says whether
  // it is a suspect).
  class Listener {
   public:
    virtual ~Listener() = default;
    virtual void on_frame(const FrameView* frame, const Call& call) = 0;
  };

  // One request's inbox. The Runner's mutex_ guards a Call's fields (the
  // analysis cannot name another object's mutex here).
  struct Call {
    CondVar arrived;
    // Not a deque: libstdc++'s allocates even when empty, and most calls
    // are asynchronous and never use it.
    std::vector<Frame> frames;
    // Set for an asynchronous call, whose frames go to it on the reader
    // thread instead of into `frames`; the reader kills the runner once
    // the call outlives `hard_deadline`, and says so in `timed_out`.
    std::shared_ptr<Listener> listener;
    Deadline hard_deadline = kNoDeadline;
    bool timed_out = false;
    bool runner_gone = false;
    // Other requests were on the runner when it died, or it was killed for
    // one of them: this one is a suspect, not the culprit.
    bool suspect = false;
  };
  enum class Wait { kFrame, kTimeout, kGone };

  static StatusOr<std::unique_ptr<Runner>> spawn(const std::filesystem::path& library,
                                                 const RunnerSettings& settings) {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
      return unavailable(std::string("cannot make a runner channel: ") +
                         std::error_code(errno, std::generic_category()).message());
    }
    const std::string executable =
        (settings.executable.empty() ? default_runner_executable() : settings.executable).string();
    std::vector<std::string> args = {executable,
                                     "--library",
                                     library.string(),
                                     "--fd",
                                     "3",
                                     "--max-memory-mb",
                                     std::to_string(settings.max_memory_mb),
                                     "--max-open-files",
                                     std::to_string(settings.max_open_files),
                                     "--max-cpu-seconds",
                                     std::to_string(settings.max_cpu_seconds),
                                     "--network",
                                     settings.isolate_network ? "none" : "host"};
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attributes);
    // The runner's end becomes its fd 3; every other descriptor of ours stays here.
    posix_spawn_file_actions_adddup2(&actions, fds[1], 3);
    posix_spawn_file_actions_addclosefrom_np(&actions, 4);
    // Its own process group: a Ctrl-C meant for dtq must not kill runners
    // while dtq drains. Default signal handling and mask, whatever ours are.
    sigset_t no_signals;
    sigset_t all_signals;
    sigemptyset(&no_signals);
    sigfillset(&all_signals);
    posix_spawnattr_setsigmask(&attributes, &no_signals);
    posix_spawnattr_setsigdefault(&attributes, &all_signals);
    posix_spawnattr_setpgroup(&attributes, 0);
    posix_spawnattr_setflags(
        &attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid = 0;
    const int spawned =
        ::posix_spawn(&pid, executable.c_str(), &actions, &attributes, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    ::close(fds[1]);
    if (spawned != 0) {
      ::close(fds[0]);
      return unavailable("cannot start the plugin runner " + executable + ": " +
                         std::error_code(spawned, std::generic_category()).message());
    }
    return std::unique_ptr<Runner>(new Runner(pid, fds[0]));
  }

  ~Runner() {
    kill();
    // The last reference may go on the reader thread itself (a finished
    // asynchronous call held it), at the very end of its read_loop(): it
    // touches nothing of this object after that, so it is let go.
    if (reader_.get_id() == std::this_thread::get_id()) {
      reader_.detach();
    } else if (reader_.joinable()) {
      reader_.join();
    }
    reap();
    ::close(fd_);
  }
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  // The runner's greeting (or refusal), read before serve().
  StatusOr<Frame> greeting(std::chrono::milliseconds timeout) { return stream_.next(timeout); }

  // From now on a thread of this object reads the channel.
  void serve() { reader_ = std::thread(&Runner::read_loop, this); }

  // Registers request `id`, before its frame is sent; null once the runner
  // is gone.
  std::shared_ptr<Call> open(uint64_t id) {
    MutexLock lock(mutex_);
    if (gone_) return nullptr;
    auto call = std::make_shared<Call>();
    calls_.emplace(id, call);
    return call;
  }
  // An asynchronous call: `listener` gets its frames on the reader thread.
  struct Opening {
    uint64_t id = 0;
    std::shared_ptr<Listener> listener;
    Deadline hard_deadline = kNoDeadline;
  };
  // Registers every call of `openings` under one lock; false, and none
  // registered, once the runner is gone.
  bool open(std::vector<Opening> openings) {
    std::vector<std::shared_ptr<Call>> calls;
    calls.reserve(openings.size());
    for (auto& opening : openings) {
      auto call = std::make_shared<Call>();
      call->listener = std::move(opening.listener);
      call->hard_deadline = opening.hard_deadline;
      calls.push_back(std::move(call));
    }
    MutexLock lock(mutex_);
    if (gone_) return false;
    for (size_t i = 0; i < openings.size(); ++i)
      calls_.emplace(openings[i].id, std::move(calls[i]));
    asynchronous_calls_ += openings.size();
    return true;
  }
  void close(uint64_t id) {
    MutexLock lock(mutex_);
    auto call = calls_.find(id);
    if (call == calls_.end()) return;
    if (call->second->listener) --asynchronous_calls_;
    calls_.erase(call);
  }

  // The call's next frame, into `frame`.
  Wait next(Call& call, Deadline until, Frame& frame) {
    MutexLock lock(mutex_);
    const auto answered = [&] { return !call.frames.empty() || call.runner_gone; };
    bool ready = true;
    if (until == kNoDeadline) {
      call.arrived.wait(lock, answered);
    } else {
      ready = call.arrived.wait_until(lock, until, answered);
    }
    if (!call.frames.empty()) {
      frame = std::move(call.frames.front());
      call.frames.erase(call.frames.begin());
      return Wait::kFrame;
    }
    return ready ? Wait::kGone : Wait::kTimeout;
  }

  // A thread that finds another one writing leaves its frames to that
  // writer, which sends everything queued before it returns: under load,
  // one write carries many requests. An error when the runner is gone.
  Status send(std::string_view frames) {
    MutexLock lock(send_mutex_);
    queued_ += frames;
    if (writing_) return {};
    writing_ = true;
    Status sent;
    // Two buffers that trade places keep their capacity: a write allocates
    // nothing once they have grown (past 64 KiB, one is let go).
    while (!queued_.empty() && sent.ok()) {
      sending_.swap(queued_);
      lock.unlock();
      sent = runner::send_frame(fd_, sending_);
      runner::empty_keeping_capacity(sending_);
      lock.lock();
    }
    queued_.clear();
    writing_ = false;
    return sent;
  }

  // Kills the process for the sake of one request: every other one it was
  // serving becomes a suspect, whatever their number.
  void condemn() {
    {
      MutexLock lock(mutex_);
      condemned_ = true;
    }
    kill();
  }

  void kill() {
    MutexLock lock(process_mutex_);
    if (!reaped_) ::kill(pid_, SIGKILL);
  }

  // Waits until the reader has told every asynchronous call that the
  // runner is gone (after kill(), soon). At once on the reader itself.
  void wait_reader_done() {
    if (reader_.get_id() == std::this_thread::get_id()) return;
    MutexLock lock(mutex_);
    reader_ended_.wait(lock, [this]() DTQ_REQUIRES(mutex_) { return reader_done_; });
  }

  [[nodiscard]] bool gone() const {
    MutexLock lock(mutex_);
    return gone_;
  }
  // How the process ended; "" while it runs.
  [[nodiscard]] std::string how() const {
    MutexLock lock(mutex_);
    return how_;
  }
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }

 private:
  Runner(pid_t pid, int fd) : pid_(pid), fd_(fd), stream_(fd, kMaxRunnerFrame) {}

  void read_loop() {
    auto next_deadline_check = std::chrono::steady_clock::now() + kDeadlineCheckInterval;
    while (true) {
      // While asynchronous calls are open, the reader also keeps their
      // deadlines: it looks at least this often.
      std::optional<std::chrono::milliseconds> wait;
      {
        MutexLock lock(mutex_);
        if (asynchronous_calls_ > 0) wait = kDeadlineCheckInterval;
      }
      auto frame = stream_.next_view(wait);
      // Busy or idle alike: a steady flow of frames must not keep an
      // overdue job alive.
      if (const auto now = std::chrono::steady_clock::now(); now >= next_deadline_check) {
        kill_overdue();
        next_deadline_check = now + kDeadlineCheckInterval;
      }
      if (!frame.ok() && frame.status().code() == StatusCode::kDeadlineExceeded) continue;
      if (!frame.ok()) break;
      FrameReader reader(frame->body);
      int64_t id = 0;
      if (!reader.i64(id)) break;
      MutexLock lock(mutex_);
      auto call = calls_.find(static_cast<uint64_t>(id));
      if (call == calls_.end()) {
        lock.unlock();
        answer_orphan(*frame, reader);
        continue;
      }
      if (call->second->listener) {
        std::shared_ptr<Call> keep = call->second;
        lock.unlock();
        keep->listener->on_frame(&*frame, *keep);
        // The call may hold the last reference to this runner (a
        // quarantine runner's only owner is its job): once it is let go,
        // this object may be gone, destroyed on this thread, and the loop
        // must not touch it. (A runner is shared before any asynchronous
        // call opens on it.)
        const std::weak_ptr<Runner> self = weak_from_this();
        keep.reset();
        if (self.expired()) return;
        continue;
      }
      call->second->frames.push_back({.type = frame->type, .body = std::string(frame->body)});
      call->second->arrived.notify_one();
    }
    // The runner died, broke the protocol or closed its channel.
    kill();
    std::string how = reap();
    std::vector<std::shared_ptr<Call>> asynchronous;
    {
      MutexLock lock(mutex_);
      gone_ = true;
      how_ = std::move(how);
      for (auto& [id, call] : calls_) {
        call->runner_gone = true;
        call->suspect = condemned_ || calls_.size() > 1;
        call->arrived.notify_one();
        if (call->listener) asynchronous.push_back(call);
      }
    }
    for (const auto& call : asynchronous) call->listener->on_frame(nullptr, *call);
    {
      MutexLock lock(mutex_);
      reader_done_ = true;
    }
    reader_ended_.notify_all();
  }

  void kill_overdue() {
    MutexLock lock(mutex_);
    kill_overdue_locked();
  }
  // An asynchronous call past its hard deadline: its plugin ignored
  // cancellation, so the runner is killed (its other calls are suspects).
  void kill_overdue_locked() DTQ_REQUIRES(mutex_) {
    const auto now = std::chrono::steady_clock::now();
    for (auto& [id, call] : calls_) {
      if (!call->listener || call->hard_deadline > now) continue;
      call->timed_out = true;
      condemned_ = true;
    }
    if (condemned_) {
      MutexLock process(process_mutex_);
      if (!reaped_) ::kill(pid_, SIGKILL);
    }
  }

  // A frame for no open call: a log line not tied to a job, or a late
  // request, which still gets an answer so that no runner thread waits
  // forever.
  void answer_orphan(const FrameView& frame, FrameReader& reader) {
    if (frame.type == FrameType::kLog) {
      uint32_t level = 0;
      std::string_view message;
      reader.u32(level);
      reader.view(message);
      if (reader.ok()) spdlog::info("plugin runner {}: {}", pid_, message);
    } else if (frame.type == FrameType::kHttp) {
      uint32_t number = 0;
      reader.u32(number);
      FrameWriter reply(FrameType::kHttpReply);
      reply.i64(0).u32(number).u32(static_cast<uint32_t>(DTQ_ERR_JOB_ENDED)).u32(0);
      reply.str("").u32(0).u32(0).str("the job ended");
      (void)send(std::move(reply).finish());  // a dead runner is noticed by read_loop()
    }
  }

 public:
  // Reaps the process (it may be dying already) and says how it ended. A
  // runner that closed its channel without exiting is killed. Called by the
  // reader when the channel ends, or before serve() by the one owner.
  std::string reap() {
    MutexLock lock(process_mutex_);
    if (reaped_) return how_reaped_;
    int status = 0;
    for (int waited = 0; waited < 20; ++waited) {
      const pid_t done = ::waitpid(pid_, &status, WNOHANG);
      if (done == pid_ || (done < 0 && errno != EINTR))
        return record_reaped(done == pid_ ? describe_exit(status) : "ended");
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    return record_reaped("closed its channel without exiting and was killed");
  }

 private:
  std::string record_reaped(std::string how) DTQ_REQUIRES(process_mutex_) {
    reaped_ = true;
    how_reaped_ = std::move(how);
    return how_reaped_;
  }

  const pid_t pid_;
  const int fd_;
  runner::FrameStream stream_;  // read by greeting(), then by the reader alone
  std::thread reader_;

  Mutex send_mutex_;
  std::string queued_ DTQ_GUARDED_BY(send_mutex_);
  std::string sending_;  // the writer's alone (writing_ says who)
  bool writing_ DTQ_GUARDED_BY(send_mutex_) = false;

  mutable Mutex mutex_;
  // The open calls by request number. A vector kept sorted rather than a
  // map: numbers mostly arrive in order and calls end roughly in order, so
  // that once it has grown, opening and closing a call allocates nothing.
  class CallTable {
   public:
    using Entry = std::pair<uint64_t, std::shared_ptr<Call>>;
    using Iterator = std::vector<Entry>::iterator;
    Iterator find(uint64_t id) {
      const auto at = lower_bound(id);
      return at != entries_.end() && at->first == id ? at : entries_.end();
    }
    void emplace(uint64_t id, std::shared_ptr<Call> call) {
      entries_.emplace(lower_bound(id), id, std::move(call));
    }
    void erase(Iterator at) { entries_.erase(at); }
    Iterator begin() { return entries_.begin(); }
    Iterator end() { return entries_.end(); }
    [[nodiscard]] size_t size() const { return entries_.size(); }

   private:
    Iterator lower_bound(uint64_t id) {
      return std::lower_bound(entries_.begin(), entries_.end(), id,
                              [](const Entry& entry, uint64_t key) { return entry.first < key; });
    }
    std::vector<Entry> entries_;
  };
  CallTable calls_ DTQ_GUARDED_BY(mutex_);
  size_t asynchronous_calls_ DTQ_GUARDED_BY(mutex_) = 0;
  bool condemned_ DTQ_GUARDED_BY(mutex_) = false;
  bool gone_ DTQ_GUARDED_BY(mutex_) = false;
  std::string how_ DTQ_GUARDED_BY(mutex_);
  bool reader_done_ DTQ_GUARDED_BY(mutex_) = false;
  CondVar reader_ended_;

  Mutex process_mutex_;
  bool reaped_ DTQ_GUARDED_BY(process_mutex_) = false;
  std::string how_reaped_ DTQ_GUARDED_BY(process_mutex_);
};

// One job on its way through a runner: what its frames need. The runner's
// call holds it, so that it lives as long as frames can name it.
struct IsolatedPlugin::AsyncRun final : Runner::Listener, std::enable_shared_from_this<AsyncRun> {
  AsyncRun(const IsolatedPlugin& owner, JobContext& job, std::shared_ptr<JobContext> owned,
           std::function<void()> on_done)
      : plugin(owner), context(&job), keep(std::move(owned)), done(std::move(on_done)) {}
  void on_frame(const FrameView* frame, const Runner::Call& call) override {
    plugin.on_frame(*this, frame, call.timed_out, call.suspect);
  }

  const IsolatedPlugin& plugin;
  JobContext* const context;
  const std::shared_ptr<JobContext> keep;  // run_async(): the context's owner until done
  const std::function<void()> done;
  std::shared_ptr<Runner> runner;
  uint64_t id = 0;
  // Its place in the plugin's running_ list, which the plugin's mutex_
  // guards (the analysis cannot name it here).
  bool listed = false;
  AsyncRun* previous = nullptr;
  AsyncRun* next = nullptr;
};

namespace {

// Reads a runner's greeting: the plugin's metadata, or the loader's refusal.
StatusOr<PluginInfo> greet(IsolatedPlugin::Runner& runner, const std::filesystem::path& library,
                           std::chrono::milliseconds timeout, bool& network_isolated) {
  auto hello = runner.greeting(timeout);
  if (!hello.ok()) {
    runner.kill();
    return unavailable("the runner for " + library.string() + " " + runner.reap() +
                       " before it loaded the plugin");
  }
  FrameReader reader(hello->body);
  int64_t id = 0;
  reader.i64(id);
  if (hello->type == FrameType::kRefused) {
    std::string reason;
    reader.str(reason);
    return failed_precondition(reason);
  }
  PluginInfo info;
  if (hello->type != FrameType::kHello || !read_info(reader, info, network_isolated)) {
    return internal_error("the runner for " + library.string() + " sent a malformed greeting");
  }
  info.path = library;
  return info;
}

}  // namespace

StatusOr<std::shared_ptr<IsolatedPlugin>> IsolatedPlugin::start(
    const std::filesystem::path& library, RunnerSettings settings) {
  auto runner = Runner::spawn(library, settings);
  if (!runner.ok()) return runner.status();
  bool network_isolated = false;
  auto info = greet(**runner, library, settings.start_timeout, network_isolated);
  if (!info.ok()) return info.status();
  (*runner)->serve();
  std::shared_ptr<IsolatedPlugin> plugin(
      new IsolatedPlugin(std::move(info).value(), std::move(settings), std::move(runner).value()));
  {
    // Nothing else holds the plugin yet; the lock costs nothing and keeps
    // health_ under its one rule.
    MutexLock lock(plugin->mutex_);
    plugin->health_.network_isolated = network_isolated;
  }
  return plugin;
}

IsolatedPlugin::IsolatedPlugin(PluginInfo info, RunnerSettings settings,
                               std::shared_ptr<Runner> first)
    : info_(std::move(info)), settings_(std::move(settings)) {
  shared_[static_cast<int>(Role::kRun)] = std::move(first);
}

IsolatedPlugin::~IsolatedPlugin() {
  // A job may still run here: on a runner that only it holds (in
  // quarantine), or abandoned by a pool that gave up waiting. Its runner's
  // reader would then reach this object after it is gone; so the runners of
  // every running job are killed, and their readers waited for, while it
  // is whole. Each such job ends as `plugin_unavailable`.
  std::vector<std::shared_ptr<Runner>> serving;
  {
    MutexLock lock(mutex_);
    unloading_ = true;
    for (const AsyncRun* run = running_; run != nullptr; run = run->next)
      serving.push_back(run->runner);
  }
  for (const auto& runner : serving) runner->kill();
  for (const auto& runner : serving) runner->wait_reader_done();
}

StatusOr<std::shared_ptr<IsolatedPlugin::Runner>> IsolatedPlugin::shared_runner(Role role) const {
  const auto index = static_cast<int>(role);
  const auto alive = [&]() -> std::shared_ptr<Runner> {
    MutexLock lock(mutex_);
    const auto& runner = shared_[index];
    return runner != nullptr && !runner->gone() ? runner : nullptr;
  };
  if (auto runner = alive()) return runner;
  MutexLock starting(starting_[index]);
  if (auto runner = alive()) return runner;  // another caller started it meanwhile
  auto started = start_runner();
  if (!started.ok()) return started.status();
  MutexLock lock(mutex_);
  shared_[index] = *started;
  return started;
}

StatusOr<std::shared_ptr<IsolatedPlugin::Runner>> IsolatedPlugin::start_runner() const {
  std::chrono::milliseconds delay{0};
  {
    MutexLock lock(mutex_);
    if (health_.consecutive_crashes >= kCrashesBeforeBackoff) {
      delay = backoff_delay(kFirstRestartDelay, kMaxRestartDelay,
                            health_.consecutive_crashes - kCrashesBeforeBackoff + 1);
    }
  }
  if (delay.count() > 0) std::this_thread::sleep_for(delay);
  auto runner = Runner::spawn(info_.path, settings_);
  if (!runner.ok()) return runner.status();
  // The new runner greets first; anything else means it could not load the
  // plugin that loaded before (the file changed, memory ran out).
  bool network_isolated = false;
  auto info = greet(**runner, info_.path, settings_.start_timeout, network_isolated);
  if (!info.ok()) {
    return unavailable("a new runner for plugin " + info_.job_type +
                       " could not load it: " + std::string(info.status().message()));
  }
  (*runner)->serve();
  return std::shared_ptr<Runner>(std::move(runner).value());
}

void IsolatedPlugin::record_crash(const std::string& reason) const {
  MutexLock lock(mutex_);
  crashed_since_success_ = true;
  ++health_.crashes;
  ++health_.consecutive_crashes;
  health_.last_crash = reason;
}

void IsolatedPlugin::record_success() const {
  if (!crashed_since_success_.load(std::memory_order_relaxed)) return;
  MutexLock lock(mutex_);
  crashed_since_success_ = false;
  health_.consecutive_crashes = 0;
}

PluginHealth IsolatedPlugin::health() const {
  MutexLock lock(mutex_);
  PluginHealth health = health_;
  health.isolated = true;
  std::set<const Runner*> alive;
  for (const auto& runner : shared_)
    if (runner != nullptr && !runner->gone()) alive.insert(runner.get());
  for (const AsyncRun* run = running_; run != nullptr; run = run->next)
    if (!run->runner->gone()) alive.insert(run->runner.get());
  health.runners = static_cast<uint32_t>(alive.size());
  return health;
}

StatusOr<ValidationOutcome> IsolatedPlugin::check(std::string_view payload) const {
  auto runner = shared_runner(Role::kValidate);
  if (!runner.ok()) return runner.status();
  StatusOr<ValidationOutcome> outcome = internal_error("not validated");
  Ending ending = validate_on(payload, **runner, outcome);
  if (ending == Ending::kCrashedShared) {
    // Another payload may have crashed it: this one is tried alone.
    auto solo = start_runner();
    if (!solo.ok()) return solo.status();
    validate_on(payload, **solo, outcome);
  }
  return outcome;
}

struct IsolatedPlugin::SentValidation {
  uint64_t id = 0;
  std::shared_ptr<Runner::Call> call;  // null: the runner was gone
};

std::vector<StatusOr<ValidationOutcome>> IsolatedPlugin::check_batch(
    std::span<const std::string_view> payloads) const {
  std::vector<StatusOr<ValidationOutcome>> outcomes;
  outcomes.reserve(payloads.size());
  auto runner = shared_runner(Role::kValidate);
  if (!runner.ok()) {
    outcomes.assign(payloads.size(), runner.status());
    return outcomes;
  }
  std::vector<SentValidation> sent;
  sent.reserve(payloads.size());
  std::string frames;
  for (const std::string_view payload : payloads) {
    SentValidation& request = sent.emplace_back();
    request.id = next_request();
    request.call = (*runner)->open(request.id);
    if (request.call != nullptr) frames += validate_frame(request.id, payload);
  }
  (void)(*runner)->send(frames);  // a dead runner is noticed by next()
  // The runner answers a batch on as many threads as keep it moving, so the
  // batch as a whole gets the time limit of one validation.
  const Deadline until = std::chrono::steady_clock::now() + settings_.validate_timeout;
  for (size_t i = 0; i < payloads.size(); ++i) {
    StatusOr<ValidationOutcome>& outcome = outcomes.emplace_back(internal_error("not validated"));
    if (await_validation(**runner, sent[i], until, outcome) == Ending::kCrashedShared) {
      outcome = check(payloads[i]);
    }
  }
  return outcomes;
}

std::string IsolatedPlugin::validate_frame(uint64_t id, std::string_view payload) {
  FrameWriter request(FrameType::kValidate);
  request.i64(static_cast<int64_t>(id)).str(payload);
  return std::move(request).finish();
}

IsolatedPlugin::Ending IsolatedPlugin::validate_on(std::string_view payload, Runner& runner,
                                                   StatusOr<ValidationOutcome>& outcome) const {
  SentValidation sent{.id = next_request()};
  sent.call = runner.open(sent.id);
  // A dead runner is noticed by next().
  if (sent.call != nullptr) (void)runner.send(validate_frame(sent.id, payload));
  return await_validation(runner, sent,
                          std::chrono::steady_clock::now() + settings_.validate_timeout, outcome);
}

IsolatedPlugin::Ending IsolatedPlugin::await_validation(
    Runner& runner, const SentValidation& sent, Deadline until,
    StatusOr<ValidationOutcome>& outcome) const {
  const auto& call = sent.call;
  Frame reply;
  Runner::Wait wait = Runner::Wait::kGone;
  if (call != nullptr) {
    wait = runner.next(*call, until, reply);
    runner.close(sent.id);
  }
  if (wait == Runner::Wait::kTimeout) {
    runner.condemn();
    spdlog::warn("job_type={} validate() did not answer within {} ms; its runner was killed",
                 info_.job_type, settings_.validate_timeout.count());
    outcome = Status(StatusCode::kDeadlineExceeded,
                     "plugin " + info_.job_type + " did not validate the payload within " +
                         std::to_string(settings_.validate_timeout.count()) + " ms");
    return Ending::kTimedOut;
  }
  if (wait == Runner::Wait::kGone) {
    if (call == nullptr || call->suspect) return Ending::kCrashedShared;
    const std::string how = runner.how();
    record_crash(how);
    spdlog::error("job_type={} the validating runner {} while validating a payload", info_.job_type,
                  how);
    outcome = unavailable("plugin " + info_.job_type + "'s runner " + how +
                          " while validating the payload");
    return Ending::kCrashedAlone;
  }
  FrameReader reader(reply.body);
  int64_t reply_id = 0;
  std::string error;
  uint32_t count = 0;
  ValidationOutcome validated;
  reader.i64(reply_id);
  reader.str(error);
  reader.str(validated.normalized_payload);
  reader.u32(count);
  for (uint32_t i = 0; i < count && reader.ok(); ++i) {
    auto& field_error = validated.errors.emplace_back();
    reader.str(field_error.field);
    reader.str(field_error.message);
  }
  if (reply.type != FrameType::kValidated || !reader.ok()) {
    runner.condemn();
    outcome =
        internal_error("plugin " + info_.job_type + "'s runner answered validate() out of turn");
    return Ending::kCrashedAlone;
  }
  // Not record_success(): a plugin whose jobs keep killing their runners
  // is crash-looping however well it validates.
  if (!error.empty()) {
    outcome = internal_error(error);
  } else {
    outcome = std::move(validated);
  }
  return Ending::kAnswered;
}

namespace {

// Makes the plugin's HTTP call through this process's client, under the
// plugin's allow-list, and returns the reply frame.
std::string serve_http(JobContext& context, FrameReader& reader, int64_t id) {
  uint32_t number = 0;
  uint32_t header_count = 0;
  uint32_t timeout_ms = 0;
  uint32_t max_attempts = 0;
  std::string method;
  std::string url;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  reader.u32(number);
  reader.str(method);
  reader.str(url);
  reader.u32(header_count);
  for (uint32_t i = 0; i < header_count && reader.ok(); ++i) {
    auto& [name, value] = headers.emplace_back();
    reader.str(name);
    reader.str(value);
  }
  reader.str(body);
  reader.u32(timeout_ms);
  reader.u32(max_attempts);
  std::vector<dtq_http_header> header_views;
  header_views.reserve(headers.size());
  for (const auto& [name, value] : headers)
    header_views.push_back({{name.data(), name.size()}, {value.data(), value.size()}});
  const dtq_http_request request{
      .struct_size = sizeof(dtq_http_request),
      .method = {method.data(), method.size()},
      .url = {url.data(), url.size()},
      .headers = header_views.data(),
      .header_count = header_views.size(),
      .body = {body.data(), body.size()},
      .timeout_ms = timeout_ms,
      .max_attempts = max_attempts,
  };
  dtq_http_response response{};
  response.struct_size = sizeof(dtq_http_response);
  const dtq_status status =
      reader.ok() ? context.http(request, response) : DTQ_ERR_INVALID_ARGUMENT;
  const auto text = [](dtq_str s) {
    return s.ptr == nullptr ? std::string_view{} : std::string_view{s.ptr, s.len};
  };
  FrameWriter reply(FrameType::kHttpReply);
  reply.i64(id)
      .u32(number)
      .u32(static_cast<uint32_t>(status))
      .u32(static_cast<uint32_t>(response.status_code));
  reply.str(text(response.body)).u32(static_cast<uint32_t>(response.header_count));
  for (size_t i = 0; i < response.header_count; ++i) {
    reply.str(text(response.headers[i].name)).str(text(response.headers[i].value));
  }
  reply.u32(response.attempts).str(text(response.error));
  return std::move(reply).finish();
}

}  // namespace

namespace {

// Appends the Run frame of request `id` to `batch`.
void write_run_frame(const JobRequest& job, uint64_t id, std::string& batch) {
  FrameWriter request(FrameType::kRun, batch);
  request.i64(static_cast<int64_t>(id))
      .str(job.job_id)
      .str(job.job_type)
      .str(job.trace_id)
      .str(job.payload);
  request.u32(job.attempt).i64(deadline_to_unix_ms(job.deadline));
  request.i64(static_cast<int64_t>(job.max_result_bytes));
  request.u32(1);  // validate first (validates_on_run())
}

}  // namespace

Deadline IsolatedPlugin::hard_deadline(const JobRequest& job) const {
  return job.deadline == kNoDeadline ? kNoDeadline : job.deadline + settings_.kill_grace;
}

namespace {

// What one frame from the runner did to the job it names.
enum class FrameEffect {
  kContinue,
  kDone,
  kBroken,
  kHttp  // an HTTP call for this process to make: the caller's to do
};

// Applies one frame from the runner to the job it names.
FrameEffect apply(JobContext& context, const FrameView& frame) {
  FrameReader reader(frame.body);
  int64_t frame_id = 0;
  reader.i64(frame_id);
  switch (frame.type) {
    case FrameType::kProgress: {
      uint32_t percent = 0;
      std::string_view message;
      reader.u32(percent);
      reader.view(message);
      if (reader.ok()) context.report_progress(static_cast<int32_t>(percent), message);
      return FrameEffect::kContinue;
    }
    case FrameType::kLog: {
      uint32_t level = 0;
      std::string_view message;
      reader.u32(level);
      reader.view(message);
      if (reader.ok()) context.log(static_cast<dtq_log_level>(level), message);
      return FrameEffect::kContinue;
    }
    case FrameType::kHttp:
      return FrameEffect::kHttp;
    case FrameType::kDone: {
      uint32_t end = 0;
      uint32_t retryable = 0;
      std::string_view result;
      std::string_view code;
      std::string_view message;
      reader.u32(end);
      reader.view(result);
      reader.view(code);
      reader.view(message);
      reader.u32(retryable);
      if (!reader.ok()) return FrameEffect::kBroken;
      if (static_cast<RunEnd>(end) == RunEnd::kResult) context.set_result(result);
      if (static_cast<RunEnd>(end) == RunEnd::kFailed) context.fail(code, message, retryable != 0);
      return FrameEffect::kDone;
    }
    default:
      return FrameEffect::kBroken;
  }
}

// Makes the plugin's HTTP call (a frame's body) through `context` and sends
// the reply to `runner`.
void answer_http(JobContext& context, IsolatedPlugin::Runner& runner, const std::string& body) {
  FrameReader reader(body);
  int64_t id = 0;
  reader.i64(id);
  (void)runner.send(serve_http(context, reader, id));  // a dead runner is noticed by its reader
}

}  // namespace

void IsolatedPlugin::fail_timeout(JobContext& context, pid_t runner) const {
  const JobRequest& job = context.request();
  spdlog::error(
      "job_id={} job_type={} attempt={} the plugin ignored cancellation {} ms past its "
      "deadline; its runner (pid {}) was killed",
      job.job_id, job.job_type, job.attempt, settings_.kill_grace.count(), runner);
  context.fail("timeout",
               "the job ran past its deadline and ignored cancellation for " +
                   std::to_string(settings_.kill_grace.count()) +
                   " ms; its runner process was killed",
               true);
}

void IsolatedPlugin::fail_crashed(JobContext& context, const std::string& how) const {
  const JobRequest& job = context.request();
  record_crash(how);
  spdlog::error("job_id={} job_type={} attempt={} the plugin's runner {} while running the job",
                job.job_id, job.job_type, job.attempt, how);
  context.fail("plugin_crashed", "the plugin's runner process " + how + " while running this job",
               true);
}

void IsolatedPlugin::run(JobContext& context) const {
  // The asynchronous path, waited for: the caller keeps the context.
  std::mutex mutex;
  std::condition_variable ended;
  bool done = false;
  start(std::make_shared<AsyncRun>(*this, context, nullptr, [&] {
    std::lock_guard lock(mutex);
    done = true;
    ended.notify_one();
  }));
  std::unique_lock lock(mutex);
  ended.wait(lock, [&] { return done; });
}

void IsolatedPlugin::run_async(std::shared_ptr<JobContext> context,
                               std::function<void()> done) const {
  JobContext* job = context.get();
  start(std::make_shared<AsyncRun>(*this, *job, std::move(context), std::move(done)));
}

void IsolatedPlugin::start(const std::shared_ptr<AsyncRun>& run) const {
  auto runner = shared_runner(Role::kRun);
  if (!runner.ok()) {
    run->context->fail("plugin_unavailable", runner.status().message(), true);
    run->done();
    return;
  }
  if (!start_on(run, std::move(runner).value())) quarantine(run);  // died before it took the job
}

void IsolatedPlugin::run_batch(std::vector<AsyncAttempt> attempts) const {
  std::vector<std::shared_ptr<AsyncRun>> runs;
  runs.reserve(attempts.size());
  for (auto& attempt : attempts) {
    JobContext* job = attempt.context.get();
    runs.push_back(std::make_shared<AsyncRun>(*this, *job, std::move(attempt.context),
                                              std::move(attempt.done)));
  }
  auto runner = shared_runner(Role::kRun);
  if (!runner.ok()) {
    for (const auto& run : runs) {
      run->context->fail("plugin_unavailable", runner.status().message(), true);
      run->done();
    }
    return;
  }
  // Each job is registered before any frame goes, so that a death in
  // between reaches every one of them; then the frames go in one write.
  std::string& frames = runner::reusable_frame_buffer();
  // The runs its runner died before taking go to quarantine.
  for (const auto& run : open_on(runs, *runner, frames)) quarantine(run);
  if (!frames.empty()) (void)(*runner)->send(frames);  // its reader notices a death
}

bool IsolatedPlugin::start_on(const std::shared_ptr<AsyncRun>& run,
                              const std::shared_ptr<Runner>& runner) const {
  std::string frame;
  if (!open_on({&run, 1}, runner, frame).empty()) return false;
  (void)runner->send(frame);  // its reader notices a death
  return true;
}

std::vector<std::shared_ptr<IsolatedPlugin::AsyncRun>> IsolatedPlugin::open_on(
    std::span<const std::shared_ptr<AsyncRun>> runs, const std::shared_ptr<Runner>& runner,
    std::string& frames) const {
  // The frames are written before the calls open: once open, a death of
  // the runner may hand a run to quarantine, which renumbers it.
  const size_t frames_before = frames.size();
  std::vector<Runner::Opening> openings;
  openings.reserve(runs.size());
  for (const auto& run : runs) {
    run->runner = runner;
    run->id = next_request();
    openings.push_back(
        {.id = run->id, .listener = run, .hard_deadline = hard_deadline(run->context->request())});
    write_run_frame(run->context->request(), run->id, frames);
  }
  {
    MutexLock lock(mutex_);
    for (const auto& run : runs) list_running_locked(*run);
  }
  if (!runner->open(std::move(openings))) {
    frames.resize(frames_before);
    MutexLock lock(mutex_);
    for (const auto& run : runs) unlist_running_locked(*run);
    return {runs.begin(), runs.end()};
  }
  return {};
}

void IsolatedPlugin::list_running_locked(AsyncRun& run) const {
  run.listed = true;
  run.previous = nullptr;
  run.next = running_;
  if (running_ != nullptr) running_->previous = &run;
  running_ = &run;
}

void IsolatedPlugin::unlist_running_locked(AsyncRun& run) const {
  if (!run.listed) return;
  run.listed = false;
  if (run.previous != nullptr) {
    run.previous->next = run.next;
  } else {
    running_ = run.next;
  }
  if (run.next != nullptr) run.next->previous = run.previous;
  run.previous = run.next = nullptr;
}

void IsolatedPlugin::forget(AsyncRun& run) const {
  run.runner->close(run.id);
  MutexLock lock(mutex_);
  unlist_running_locked(run);
}

void IsolatedPlugin::on_frame(AsyncRun& run, const FrameView* frame, bool timed_out,
                              bool suspect) const {
  JobContext& context = *run.context;
  if (frame == nullptr) {  // the runner is gone
    // While the run is listed, this plugin's destructor waits for this
    // reader: whatever touches the plugin comes before forget().
    bool unloading = false;
    {
      MutexLock lock(mutex_);
      unloading = unloading_;
    }
    if (unloading) {
      context.fail("plugin_unavailable", "the plugin was unloaded while this job ran", true);
    } else if (timed_out) {
      fail_timeout(context, run.runner->pid());
    } else if (suspect) {
      return quarantine(run.shared_from_this());
    } else {
      fail_crashed(context, run.runner->how());
    }
    forget(run);
    run.done();
    return;
  }
  switch (apply(context, *frame)) {
    case FrameEffect::kContinue:
      break;
    case FrameEffect::kHttp:
      // A plugin's HTTP call may take seconds: never on the reader thread.
      std::thread([run = run.shared_from_this(), runner = run.runner,
                   body = std::string(frame->body)] {
        answer_http(*run->context, *runner, body);
      }).detach();
      break;
    case FrameEffect::kBroken:
      run.runner->condemn();  // not trusted again
      break;
    case FrameEffect::kDone:
      record_success();
      forget(run);  // the last use of this plugin (see the death above)
      run.done();
      break;
  }
}

void IsolatedPlugin::quarantine(const std::shared_ptr<AsyncRun>& run) const {
  // The quarantine thread owns the plugin meanwhile; none can once its
  // destructor has begun, and the job then ends here.
  auto self = weak_from_this().lock();
  forget(*run);  // off the list before the thread puts it on again
  if (self == nullptr) {
    run->context->fail("plugin_unavailable", "the plugin was unloaded while this job ran", true);
    run->done();
    return;
  }
  const JobRequest& job = run->context->request();
  spdlog::warn(
      "job_id={} job_type={} attempt={} its runner {} while it also served other jobs; running "
      "it again alone to find out which job crashed it",
      job.job_id, job.job_type, job.attempt, run->runner != nullptr ? run->runner->how() : "ended");
  // Starting a runner takes milliseconds: not on the reader thread that
  // noticed the death. Alone in it, the job is no one's suspect: whatever
  // happens there is its own.
  std::thread([self = std::move(self), run] {
    auto solo = self->start_runner();
    if (!solo.ok()) {
      run->context->fail("plugin_unavailable", solo.status().message(), true);
      run->done();
    } else if (!self->start_on(run, std::move(solo).value())) {
      run->context->fail("plugin_unavailable", "its quarantine runner ended before it took the job",
                         true);
      run->done();
    }
  }).detach();
}

void IsolatedPlugin::notify_cancel(JobContext& context) const {
  MutexLock lock(mutex_);
  for (const AsyncRun* run = running_; run != nullptr; run = run->next) {
    if (run->context != &context) continue;
    FrameWriter cancel(FrameType::kCancel);
    cancel.i64(static_cast<int64_t>(run->id));
    (void)run->runner->send(std::move(cancel).finish());  // a dead runner is noticed by run()
  }
}

StatusOr<std::shared_ptr<Plugin>> start_plugin(const std::filesystem::path& library,
                                               const IsolationSettings& settings,
                                               const std::filesystem::path& load_from) {
  const std::filesystem::path& file = load_from.empty() ? library : load_from;
  if (!settings.isolate || settings.in_process.contains(library.stem().string()))
    return load_plugin(file);
  auto started = IsolatedPlugin::start(file, settings.runner);
  if (!started.ok()) return started.status();
  return std::shared_ptr<Plugin>(std::move(started).value());
}

// Plugins of a folder started at once: enough to overlap the runners'
// start-ups on a few cores, not a thread per plugin for a folder of hundreds.
constexpr size_t kParallelStarts = 8;

StatusOr<LoadReport> start_plugin_directory(const std::filesystem::path& directory,
                                            BadPluginPolicy policy,
                                            const IsolationSettings& settings) {
  if (!settings.isolate && settings.in_process.empty())
    return load_plugin_directory(directory, policy);
  auto listed = list_plugin_libraries(directory);
  if (!listed.ok()) return listed.status();
  // Each runner spends its start-up in exec, the dynamic linker and the
  // plugin's own initialisation, mostly waiting: started side by side, a
  // folder of plugins is ready in about the time of the slowest one.
  std::vector<std::optional<StatusOr<std::shared_ptr<Plugin>>>> started(listed->size());
  {
    std::atomic<size_t> next{0};
    const auto start_next = [&] {
      for (size_t i = next++; i < listed->size(); i = next++)
        started[i] = start_plugin((*listed)[i], settings);
    };
    std::vector<std::thread> starters;
    const size_t helpers = std::min<size_t>(listed->size(), kParallelStarts) - 1;
    try {
      for (size_t i = 0; i < helpers; ++i) starters.emplace_back(start_next);
    } catch (const std::system_error&) {
      // Out of threads: the ones there are (this one at least) start the rest.
    }
    start_next();
    for (auto& starter : starters) starter.join();
  }
  LoadReport report;
  std::map<std::string, std::filesystem::path> seen;
  for (size_t i = 0; i < listed->size(); ++i) {
    const std::filesystem::path& path = (*listed)[i];
    auto& plugin = *started[i];
    Status refusal;
    if (!plugin.ok()) {
      refusal = plugin.status();
    } else if (auto existing = seen.find((*plugin)->info().job_type); existing != seen.end()) {
      refusal = already_exists("duplicate job type \"" + existing->first +
                               "\": " + existing->second.string() + " and " + path.string() +
                               " both provide it");
    }
    if (!refusal.ok()) {
      if (policy == BadPluginPolicy::kFail) return refusal;
      report.rejected.push_back({path, std::move(refusal)});
      continue;
    }
    seen.emplace((*plugin)->info().job_type, path);
    report.plugins.push_back(std::move(plugin).value());
  }
  std::sort(report.plugins.begin(), report.plugins.end(),
            [](const auto& a, const auto& b) { return a->info().job_type < b->info().job_type; });
  return report;
}

}  // namespace dtq::host
