#include "dtq/host/isolated_plugin.hpp"

#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <csignal>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <system_error>
#include <thread>

#include "dtq/core/time.hpp"
#include "dtq/host/job_context.hpp"
#include "runner_protocol.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX leaves it undeclared

namespace dtq::host {
namespace {

using runner::Frame;
using runner::FrameReader;
using runner::FrameType;
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
  // NOLINTNEXTLINE(concurrency-mt-unsafe): nothing in dtq sets the environment
  if (const char* path = std::getenv("DTQ_PLUGIN_RUNNER"); path != nullptr && *path != '\0')
    return path;
  std::error_code error;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) self = "dtq";
  return self.replace_filename("dtq-plugin-runner");
}

// One runner process and this end of its socket. Owned by one caller at a
// time, but send() may also be called by a canceller meanwhile.
class IsolatedPlugin::Runner {
 public:
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
    end();
    ::close(fd_);
  }
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  Status send(std::string_view frame) {
    std::lock_guard lock(send_mutex_);
    return runner::send_frame(fd_, frame);
  }

  StatusOr<Frame> receive(std::optional<std::chrono::milliseconds> timeout) {
    return stream_.next(timeout);
  }

  // Ends the process (it may be dying already) and says how it ended. A
  // runner that closed its channel without exiting is killed.
  std::string end() {
    if (ended_) return how_;
    int status = 0;
    for (int waited = 0; waited < 20; ++waited) {
      const pid_t done = ::waitpid(pid_, &status, WNOHANG);
      if (done == pid_ || (done < 0 && errno != EINTR))
        return finish(done == pid_ ? describe_exit(status) : "ended");
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    return finish("closed its channel without exiting and was killed");
  }

  void kill() const {
    if (!ended_) ::kill(pid_, SIGKILL);
  }

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }

 private:
  Runner(pid_t pid, int fd) : pid_(pid), fd_(fd), stream_(fd, kMaxRunnerFrame) {}
  std::string finish(std::string how) {
    ended_ = true;
    how_ = std::move(how);
    return how_;
  }

  const pid_t pid_;
  const int fd_;
  runner::FrameStream stream_;
  std::mutex send_mutex_;
  bool ended_ = false;
  std::string how_;
};

StatusOr<std::shared_ptr<IsolatedPlugin>> IsolatedPlugin::start(
    const std::filesystem::path& library, RunnerSettings settings) {
  auto runner = Runner::spawn(library, settings);
  if (!runner.ok()) return runner.status();
  auto hello = (*runner)->receive(settings.start_timeout);
  if (!hello.ok()) {
    if (hello.status().code() == StatusCode::kDeadlineExceeded) (*runner)->kill();
    return unavailable("the runner for " + library.string() + " " + (*runner)->end() +
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
  bool network_isolated = false;
  if (hello->type != FrameType::kHello || !read_info(reader, info, network_isolated)) {
    return internal_error("the runner for " + library.string() + " sent a malformed greeting");
  }
  info.path = library;
  std::shared_ptr<IsolatedPlugin> plugin(
      new IsolatedPlugin(std::move(info), std::move(settings), std::move(runner).value()));
  plugin->health_.network_isolated = network_isolated;
  return plugin;
}

IsolatedPlugin::IsolatedPlugin(PluginInfo info, RunnerSettings settings,
                               std::unique_ptr<Runner> first)
    : info_(std::move(info)), settings_(std::move(settings)) {
  idle_runners_.push_back(std::move(first));
  runners_alive_ = 1;
}

IsolatedPlugin::~IsolatedPlugin() = default;

StatusOr<std::unique_ptr<IsolatedPlugin::Runner>> IsolatedPlugin::take_runner(Role role) const {
  std::chrono::milliseconds delay{0};
  {
    std::unique_lock lock(mutex_);
    if (role == Role::kValidate) {
      validator_free_.wait(
          lock, [&] { return validators_busy_ < std::max(settings_.max_validators, 1U); });
      ++validators_busy_;
    }
    auto& idle = role == Role::kRun ? idle_runners_ : idle_validators_;
    if (!idle.empty()) {
      auto runner = std::move(idle.back());
      idle.pop_back();
      return runner;
    }
    if (health_.consecutive_crashes >= kCrashesBeforeBackoff) {
      const auto doublings =
          std::min<uint32_t>(health_.consecutive_crashes - kCrashesBeforeBackoff, 6);
      delay = std::min<std::chrono::milliseconds>(kFirstRestartDelay * (1 << doublings),
                                                  kMaxRestartDelay);
    }
  }
  if (delay.count() > 0) std::this_thread::sleep_for(delay);
  auto runner = Runner::spawn(info_.path, settings_);
  if (runner.ok()) {
    // The new runner greets first; anything else means it could not load
    // the plugin that loaded before (the file changed, memory ran out).
    auto hello = (*runner)->receive(settings_.start_timeout);
    if (!hello.ok() || hello->type != FrameType::kHello) {
      if (hello.ok() || hello.status().code() == StatusCode::kDeadlineExceeded) (*runner)->kill();
      runner = unavailable("a new runner for plugin " + info_.job_type + " " + (*runner)->end() +
                           " before it loaded the plugin");
    }
  }
  std::lock_guard lock(mutex_);
  if (!runner.ok()) {
    if (role == Role::kValidate) --validators_busy_;
    validator_free_.notify_one();
    return runner.status();
  }
  ++runners_alive_;
  return runner;
}

void IsolatedPlugin::give_back(Role role, std::unique_ptr<Runner> runner) const {
  std::lock_guard lock(mutex_);
  if (role == Role::kValidate) {
    --validators_busy_;
    validator_free_.notify_one();
  }
  if (runner == nullptr) {
    --runners_alive_;
    return;
  }
  (role == Role::kRun ? idle_runners_ : idle_validators_).push_back(std::move(runner));
}

void IsolatedPlugin::record_crash(const std::string& reason) const {
  std::lock_guard lock(mutex_);
  ++health_.crashes;
  ++health_.consecutive_crashes;
  health_.last_crash = reason;
}

void IsolatedPlugin::record_success() const {
  std::lock_guard lock(mutex_);
  health_.consecutive_crashes = 0;
}

PluginHealth IsolatedPlugin::health() const {
  std::lock_guard lock(mutex_);
  PluginHealth health = health_;
  health.isolated = true;
  health.runners = runners_alive_;
  return health;
}

StatusOr<ValidationOutcome> IsolatedPlugin::check(std::string_view payload) const {
  auto runner = take_runner(Role::kValidate);
  if (!runner.ok()) return runner.status();
  uint64_t id = 0;
  {
    std::lock_guard lock(mutex_);
    id = ++next_request_;
  }
  FrameWriter request(FrameType::kValidate);
  request.i64(static_cast<int64_t>(id)).str(payload);
  const Status sent = (*runner)->send(std::move(request).finish());
  StatusOr<Frame> reply =
      sent.ok() ? (*runner)->receive(settings_.validate_timeout) : StatusOr<Frame>(sent);
  if (!reply.ok() || reply->type != FrameType::kValidated) {
    const bool slow = !reply.ok() && reply.status().code() == StatusCode::kDeadlineExceeded;
    if (slow) (*runner)->kill();
    const std::string how = (*runner)->end();
    give_back(Role::kValidate, nullptr);
    if (slow) {
      spdlog::warn("job_type={} validate() did not answer within {} ms; its runner was killed",
                   info_.job_type, settings_.validate_timeout.count());
      return Status(StatusCode::kDeadlineExceeded,
                    "plugin " + info_.job_type + " did not validate the payload within " +
                        std::to_string(settings_.validate_timeout.count()) + " ms");
    }
    record_crash(how);
    spdlog::error("job_type={} the validating runner {} while validating a payload", info_.job_type,
                  how);
    return unavailable("plugin " + info_.job_type + "'s runner " + how +
                       " while validating the payload");
  }
  FrameReader reader(reply->body);
  int64_t reply_id = 0;
  std::string error;
  uint32_t count = 0;
  ValidationOutcome outcome;
  reader.i64(reply_id);
  reader.str(error);
  reader.str(outcome.normalized_payload);
  reader.u32(count);
  for (uint32_t i = 0; i < count && reader.ok(); ++i) {
    auto& field_error = outcome.errors.emplace_back();
    reader.str(field_error.field);
    reader.str(field_error.message);
  }
  if (!reader.ok() || reply_id != static_cast<int64_t>(id)) {
    (*runner)->kill();
    (*runner)->end();
    give_back(Role::kValidate, nullptr);
    return internal_error("plugin " + info_.job_type + "'s runner answered validate() out of turn");
  }
  // Not record_success(): a plugin whose jobs keep killing their runners
  // is crash-looping however well it validates.
  give_back(Role::kValidate, std::move(runner).value());
  if (!error.empty()) return internal_error(error);
  return outcome;
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

void IsolatedPlugin::run(JobContext& context) const {
  const JobRequest& job = context.request();
  auto taken = take_runner(Role::kRun);
  if (!taken.ok()) {
    context.fail("plugin_unavailable", taken.status().message(), true);
    return;
  }
  std::unique_ptr<Runner> runner = std::move(taken).value();
  uint64_t id = 0;
  {
    std::lock_guard lock(mutex_);
    id = ++next_request_;
    running_.emplace_back(&context, runner.get(), id);
  }
  const auto forget = [&] {
    std::lock_guard lock(mutex_);
    std::erase_if(running_, [&](const auto& entry) { return std::get<0>(entry) == &context; });
  };
  FrameWriter request(FrameType::kRun);
  request.i64(static_cast<int64_t>(id))
      .str(job.job_id)
      .str(job.job_type)
      .str(job.trace_id)
      .str(job.payload);
  request.u32(job.attempt)
      .i64(job.deadline == Clock::time_point::max() ? 0 : to_unix_ms(job.deadline));
  request.i64(static_cast<int64_t>(job.max_result_bytes));
  Status sent = runner->send(std::move(request).finish());

  const bool has_deadline = job.deadline != Clock::time_point::max();
  const auto hard_deadline =
      has_deadline ? job.deadline + settings_.kill_grace : Clock::time_point::max();
  while (sent.ok()) {
    std::optional<std::chrono::milliseconds> wait;
    if (has_deadline) {
      wait = std::max(
          std::chrono::duration_cast<std::chrono::milliseconds>(hard_deadline - Clock::now()),
          std::chrono::milliseconds(0));
    }
    auto frame = runner->receive(wait);
    if (!frame.ok() && frame.status().code() == StatusCode::kDeadlineExceeded) {
      runner->kill();
      const std::string how = runner->end();
      forget();
      give_back(Role::kRun, nullptr);
      spdlog::error(
          "job_id={} job_type={} attempt={} the plugin ignored cancellation {} ms past its "
          "deadline; "
          "its runner (pid {}) {}",
          job.job_id, job.job_type, job.attempt, settings_.kill_grace.count(), runner->pid(), how);
      context.fail("timeout",
                   "the job ran past its deadline and ignored cancellation for " +
                       std::to_string(settings_.kill_grace.count()) +
                       " ms; its runner process was killed",
                   true);
      return;
    }
    if (!frame.ok()) break;
    FrameReader reader(frame->body);
    int64_t frame_id = 0;
    reader.i64(frame_id);
    switch (frame->type) {
      case FrameType::kProgress: {
        uint32_t percent = 0;
        std::string message;
        reader.u32(percent);
        reader.str(message);
        if (reader.ok()) context.report_progress(static_cast<int32_t>(percent), message);
        break;
      }
      case FrameType::kLog: {
        uint32_t level = 0;
        std::string message;
        reader.u32(level);
        reader.str(message);
        if (reader.ok()) context.log(static_cast<dtq_log_level>(level), message);
        break;
      }
      case FrameType::kHttp:
        sent = runner->send(serve_http(context, reader, frame_id));
        break;
      case FrameType::kDone: {
        uint32_t end = 0;
        uint32_t retryable = 0;
        std::string result;
        std::string code;
        std::string message;
        reader.u32(end);
        reader.str(result);
        reader.str(code);
        reader.str(message);
        reader.u32(retryable);
        if (!reader.ok() || frame_id != static_cast<int64_t>(id)) {
          sent = internal_error("malformed Done");
          break;
        }
        forget();
        if (static_cast<RunEnd>(end) == RunEnd::kResult) context.set_result(result);
        if (static_cast<RunEnd>(end) == RunEnd::kFailed)
          context.fail(code, message, retryable != 0);
        give_back(Role::kRun, std::move(runner));
        record_success();
        return;
      }
      default:
        sent = internal_error("unexpected frame");
        break;
    }
  }
  // The runner died, broke the protocol, or closed its channel mid-job.
  runner->kill();
  const std::string how = runner->end();
  forget();
  give_back(Role::kRun, nullptr);
  record_crash(how);
  spdlog::error("job_id={} job_type={} attempt={} the plugin's runner {} while running the job",
                job.job_id, job.job_type, job.attempt, how);
  context.fail("plugin_crashed", "the plugin's runner process " + how + " while running this job",
               true);
}

void IsolatedPlugin::notify_cancel(JobContext& context) const {
  std::lock_guard lock(mutex_);
  for (const auto& [running, runner, id] : running_) {
    if (running != &context) continue;
    FrameWriter cancel(FrameType::kCancel);
    cancel.i64(static_cast<int64_t>(id));
    (void)runner->send(std::move(cancel).finish());  // a dead runner is noticed by run()
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

StatusOr<LoadReport> start_plugin_directory(const std::filesystem::path& directory,
                                            BadPluginPolicy policy,
                                            const IsolationSettings& settings) {
  if (!settings.isolate && settings.in_process.empty())
    return load_plugin_directory(directory, policy);
  auto listed = list_plugin_libraries(directory);
  if (!listed.ok()) return listed.status();
  LoadReport report;
  std::map<std::string, std::filesystem::path> seen;
  for (const auto& path : *listed) {
    auto plugin = start_plugin(path, settings);
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
