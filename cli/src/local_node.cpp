#include "local_node.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>

#include "dtq/core/backoff.hpp"

#include "dtq/host/plugin_loader.hpp"

namespace dtq::cli {

Status DurableJobTypeRegistry::restore() {
  auto recorded = paused_.list();
  if (!recorded.ok()) return recorded.status();
  for (const auto& type : *recorded) {
    Status paused = engine_.set_paused(type, true);
    if (paused.code() == StatusCode::kNotFound) {
      spdlog::warn("job type {} is paused, but no loaded plugin provides it", type);
    } else if (!paused.ok()) {
      return paused;
    }
  }
  return {};
}

Status DurableJobTypeRegistry::set_paused(std::string_view job_type, bool paused) {
  const auto pools = engine_.pools();
  if (std::none_of(pools.begin(), pools.end(), [&](const host::WorkerPool* pool) {
        return pool->plugin().info().job_type == job_type;
      })) {
    return not_found("no pool hosts job type \"" + std::string(job_type) + "\"");
  }
  // Recorded first: a pool never runs paused (or resumed) unlike what a
  // restart would find.
  if (Status recorded = paused_.set(job_type, paused); !recorded.ok()) {
    return {recorded.code(), "cannot record that job type " + std::string(job_type) + " is " +
                                 (paused ? "paused" : "resumed") + ": " + recorded.message()};
  }
  return engine_.set_paused(job_type, paused);
}

bool load_plugins(const CommonOptions& options, host::PluginRegistry& plugins,
                  const host::IsolationSettings& isolation) {
  auto loaded = host::start_plugin_directory(resolve_plugin_dir(options),
                                             host::BadPluginPolicy::kFail, isolation);
  if (!loaded.ok()) {
    std::cerr << "dtq: " << loaded.status().message() << "\n";
    return false;
  }
  for (auto& plugin : loaded->plugins) (void)plugins.add(plugin);
  return true;
}

std::unique_ptr<LocalNode> open_local_node(const CommonOptions& options, embedded::Role role,
                                           const host::IsolationSettings& isolation,
                                           const RetentionPolicy& retention) {
  auto node = std::make_unique<LocalNode>();
  if (!load_plugins(options, node->plugins, isolation)) return nullptr;

  auto backends = embedded::open_embedded(
      {.data_dir = resolve_data_dir(options), .role = role, .retention = retention});
  if (!backends.ok()) {
    std::cerr << "dtq: " << backends.status().message() << "\n";
    return nullptr;
  }
  node->backends = std::move(backends).value();
  node->history = make_history_writer(node->backends.history);
  const std::string identity = history_worker_identity();
  node->backends.statuses = record_history(node->backends.statuses, node->history, identity);
  node->backends.queue = record_history(node->backends.queue, node->history, identity);
  node->validator = std::make_unique<host::LocalPayloadValidator>(node->plugins);
  node->progress = std::make_unique<StatusProgressQuery>(*node->backends.statuses);
  // The idempotency keys in the same SQLite file, shared by every process
  // on the folder (a `dtq serve`, the CLI's submits).
  node->jobs = std::make_unique<JobService>(
      *node->backends.queue, *node->backends.statuses, *node->backends.results, *node->validator,
      *node->progress, node->backends.idempotency.get(), node->backends.schedule.get());
  if (role == embedded::Role::kOwner) {
    node->scheduler = std::make_unique<JobScheduler>(
        *node->backends.schedule, *node->backends.queue, *node->backends.statuses);
  }
  return node;
}

void add_engine_flags(CLI::App& command, EngineFlags& flags) {
  command.add_option("--only", flags.only, "Run only this job type's pool (repeatable)");
  command.add_option("--config", flags.config, "JSON file of per-plugin settings");
  command.add_option("--concurrency", flags.concurrency,
                     "Workers per pool (overrides everything else)");
  command.add_option("--timeout-ms", flags.timeout_ms, "Per-attempt timeout for every pool");
  command.add_option("--max-attempts", flags.max_attempts, "Attempts per job for every pool");
  command.add_option("--max-result-bytes", flags.max_result_bytes,
                     "Largest result a job may return, for every pool (default 1 MiB)");
  command.add_option("--drain-grace-ms", flags.drain_grace_ms,
                     "On SIGTERM, how long in-flight jobs may finish before being released");
  command
      .add_option("--isolation", flags.isolation,
                  "process: each plugin in supervised runner processes (default); in_process: "
                  "every plugin inside this process (trusted plugins only)")
      ->check(CLI::IsMember({"process", "in_process"}));
  command.add_option("--in-process", flags.in_process,
                     "A trusted plugin to load into this process, by library name (weather for "
                     "weather.so; repeatable)");
  command.add_option("--runner-memory-mb", flags.runner_memory_mb,
                     "Address space of each plugin runner, MiB (0: no limit; default 1024)");
  command.add_option("--runner-open-files", flags.runner_open_files,
                     "Open files of each plugin runner (default 256)");
  command.add_option(
      "--runner-cpu-seconds", flags.runner_cpu_seconds,
      "CPU time of each plugin runner over its life, seconds (0: no limit, the default)");
  add_retention_flags(command, flags.retention);
  command.add_flag("--watch-plugins,!--no-watch-plugins", flags.watch_plugins,
                   "Load libraries dropped into the plugin folder while running, stop removed ones "
                   "(default: on)");
}

std::unique_ptr<host::PluginWatcher> watch_plugin_folder(
    const CommonOptions& options, const EngineFlags& flags, host::PluginRegistry& plugins,
    host::Engine& engine, std::function<void(const std::string&)> on_hosted,
    std::function<void(const std::string&)> on_unhosting,
    const host::PluginRegistry* loaded_elsewhere) {
  if (!flags.watch_plugins) return nullptr;
  return std::make_unique<host::PluginWatcher>(
      host::PluginWatcherSettings{.directory = resolve_plugin_dir(options),
                                  .copies = resolve_data_dir(options) / "plugin-copies",
                                  .isolation = isolation_settings(flags),
                                  .on_hosted = std::move(on_hosted),
                                  .on_unhosting = std::move(on_unhosting),
                                  .loaded_elsewhere = loaded_elsewhere},
      plugins, engine);
}

void add_retention_flags(CLI::App& command, RetentionFlags& flags) {
  command
      .add_option("--retention", flags.retention,
                  "How long finished jobs (status and result) are kept: 90s, 15m, 12h, 7d "
                  "($DTQ_RETENTION; default 7d)")
      ->envname("DTQ_RETENTION");
  command
      .add_option("--retention-for", flags.retention_for,
                  "TYPE=DURATION: another retention for one job type (repeatable; "
                  "$DTQ_RETENTION_FOR, comma-separated)")
      ->envname("DTQ_RETENTION_FOR")
      ->delimiter(',');
  command
      .add_option("--dead-letter-retention", flags.dead_letter_retention,
                  "How long dead letters are kept ($DTQ_DEAD_LETTER_RETENTION; default 30d)")
      ->envname("DTQ_DEAD_LETTER_RETENTION");
}

std::optional<RetentionPolicy> retention_policy(const EngineFlags& flags) {
  return retention_policy(flags.retention);
}

std::optional<RetentionPolicy> retention_policy(const RetentionFlags& flags) {
  RetentionPolicy policy;
  auto finished = parse_retention(flags.retention);
  auto dead_letters = parse_retention(flags.dead_letter_retention);
  Status refused = !finished.ok() ? finished.status() : dead_letters.status();
  if (refused.ok()) {
    policy.finished = *finished;
    policy.dead_letters = *dead_letters;
    for (const auto& flag : flags.retention_for) {
      refused = add_type_retention(policy, flag);
      if (!refused.ok()) break;
    }
  }
  if (!refused.ok()) {
    std::cerr << "dtq: " << refused.message() << "\n";
    return std::nullopt;
  }
  return policy;
}

host::IsolationSettings isolation_settings(const EngineFlags& flags) {
  host::IsolationSettings settings;
  settings.isolate = flags.isolation == "process";
  settings.in_process.insert(flags.in_process.begin(), flags.in_process.end());
  settings.runner.max_memory_mb = flags.runner_memory_mb;
  settings.runner.max_open_files = flags.runner_open_files;
  settings.runner.max_cpu_seconds = flags.runner_cpu_seconds;
  return settings;
}

std::optional<host::EngineSettings> engine_settings(const LocalNode& node,
                                                    const EngineFlags& flags) {
  return engine_settings(node.plugins, flags);
}

std::optional<host::EngineSettings> engine_settings(const host::PluginRegistry& plugins,
                                                    const EngineFlags& flags) {
  host::EngineSettings settings;
  settings.only.insert(flags.only.begin(), flags.only.end());
  settings.drain_grace = std::chrono::milliseconds(flags.drain_grace_ms);
  if (!flags.config.empty()) {
    auto file = host::load_plugin_settings_file(flags.config);
    if (!file.ok()) {
      std::cerr << "dtq: " << file.status().message() << "\n";
      return std::nullopt;
    }
    settings.per_plugin = std::move(file).value();
  }
  host::PluginSettings overrides;
  if (flags.concurrency != 0) overrides.concurrency = flags.concurrency;
  if (flags.timeout_ms != 0) overrides.timeout_ms = flags.timeout_ms;
  if (flags.max_attempts != 0) overrides.max_attempts = flags.max_attempts;
  if (flags.max_result_bytes != 0) overrides.max_result_bytes = flags.max_result_bytes;
  for (const auto& plugin : plugins.list()) {
    const std::string& type = plugin->info().job_type;
    auto from_env = host::plugin_settings_from_env(type);
    if (!from_env.ok()) {
      std::cerr << "dtq: " << from_env.status().message() << "\n";
      return std::nullopt;
    }
    host::PluginSettings& merged = settings.per_plugin[type];
    host::overlay(merged, *from_env);
    host::overlay(merged, overrides);
  }
  return settings;
}

// --- graphql: the GraphQL gateway as a child of `dtq serve` ------------------

void add_gateway_flags(CLI::App& command, GatewayFlags& flags) {
  command
      .add_option("--graphql", flags.mode,
                  "The GraphQL gateway (/graphql, docs/graphql.md): auto (run it when found, "
                  "the default), on, off")
      ->check(CLI::IsMember({"auto", "on", "off"}));
  command.add_option("--gateway", flags.script,
                     "The gateway's main.mjs (default: $DTQ_GATEWAY, else beside the binary)");
  command.add_option("--node", flags.node,
                     "Node.js for the gateway (default: $DTQ_NODE, else PATH)");
  command.add_option("--graphql-listen", flags.listen,
                     "HOST:PORT the gateway serves the browser on (default: --listen's port + 1)");
}

namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::string(value) : fallback;
}

bool executable(const std::filesystem::path& path) {
  return ::access(path.c_str(), X_OK) == 0 && !std::filesystem::is_directory(path);
}

std::string find_node(const std::string& wanted) {
  if (wanted.find('/') != std::string::npos) return executable(wanted) ? wanted : std::string();
  const std::string path = env_or("PATH", "/usr/local/bin:/usr/bin:/bin");
  size_t begin = 0;
  while (begin <= path.size()) {
    const size_t end = std::min(path.find(':', begin), path.size());
    const auto candidate = std::filesystem::path(path.substr(begin, end - begin)) / wanted;
    if (end > begin && executable(candidate)) return candidate.string();
    begin = end + 1;
  }
  return {};
}

}  // namespace

StatusOr<GatewayLaunch> find_gateway(const GatewayFlags& flags) {
  GatewayLaunch launch;
  launch.node = find_node(flags.node.empty() ? env_or("DTQ_NODE", "node") : flags.node);
  if (launch.node.empty()) {
    return not_found(
        "Node.js was not found (--node, $DTQ_NODE or PATH; scripts/install-deps.sh "
        "installs it)");
  }
  std::string script = flags.script.empty() ? env_or("DTQ_GATEWAY", "") : flags.script;
  if (script.empty()) {
    std::error_code error;
    const auto bin = std::filesystem::read_symlink("/proc/self/exe", error).parent_path();
    for (const auto& candidate :
         {bin / "gateway/src/main.mjs", bin / "../share/dtq/gateway/src/main.mjs"}) {
      if (std::filesystem::exists(candidate)) script = candidate.lexically_normal().string();
    }
    if (script.empty()) {
      return not_found(
          "no gateway beside the binary; pass --gateway gateway/src/main.mjs or set "
          "DTQ_GATEWAY");
    }
  }
  launch.script = std::filesystem::absolute(script);
  if (!std::filesystem::exists(launch.script)) {
    return not_found("the gateway " + launch.script.string() + " does not exist");
  }
  if (!std::filesystem::exists(launch.script.parent_path().parent_path() / "node_modules")) {
    return not_found("the gateway's npm packages are not installed (scripts/build-gateway.sh)");
  }
  return launch;
}

std::string default_gateway_listen(const std::string& rest_host, uint16_t rest_port) {
  const std::string host = rest_host.find(':') != std::string::npos && rest_host.front() != '['
                               ? "[" + rest_host + "]"
                               : rest_host;
  return host + ":" + std::to_string(rest_port == 0 ? 0 : rest_port + 1);
}

StatusOr<std::string> GatewaySupervisor::start(std::chrono::milliseconds wait) {
  {
    MutexLock lock(mutex_);
    listen_ = launch_.listen;
  }
  thread_ = std::thread([this] { supervise(); });
  MutexLock lock(mutex_);
  changed_.wait_for(lock, wait,
                    [this]() DTQ_REQUIRES(mutex_) { return !url_.empty() || given_up_; });
  if (given_up_) return unavailable("the GraphQL gateway cannot run here");
  if (url_.empty()) {
    return unavailable("the GraphQL gateway did not start within " + std::to_string(wait.count()) +
                       " ms (still trying; see its messages)");
  }
  return url_;
}

void GatewaySupervisor::stop() {
  int pid = 0;
  {
    MutexLock lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
    pid = pid_;
  }
  changed_.notify_all();
  if (pid > 0) ::kill(pid, SIGTERM);
  {
    MutexLock lock(mutex_);
    if (!changed_.wait_for(lock, std::chrono::seconds(3),
                           [this]() DTQ_REQUIRES(mutex_) { return pid_ == 0; }) &&
        pid_ > 0) {
      ::kill(pid_, SIGKILL);
    }
  }
  if (thread_.joinable()) thread_.join();
}

void GatewaySupervisor::supervise() {
  uint32_t failures = 0;
  for (;;) {
    const auto began = std::chrono::steady_clock::now();
    const std::string ended = run_once();
    MutexLock lock(mutex_);
    if (stopping_) return;
    // EX_CONFIG: it cannot run as configured (its message says why); another
    // start would fail alike.
    if (ended == "exited with status 78") {
      given_up_ = true;
      changed_.notify_all();
      std::cerr << "dtq serve: the GraphQL gateway cannot run (see its message above); REST "
                   "goes on without it"
                << std::endl;
      return;
    }
    // A child that ran a while was healthy: its death starts a new count.
    if (std::chrono::steady_clock::now() - began > std::chrono::seconds(30)) failures = 0;
    const auto delay =
        backoff_delay(std::chrono::milliseconds(200), std::chrono::seconds(10), ++failures);
    std::cerr << "dtq serve: the GraphQL gateway " << ended << "; restarting it in "
              << delay.count() << " ms" << std::endl;
    changed_.wait_for(lock, delay, [this]() DTQ_REQUIRES(mutex_) { return stopping_; });
    if (stopping_) return;
  }
}

std::string GatewaySupervisor::run_once() {
  std::string listen;
  {
    MutexLock lock(mutex_);
    listen = listen_;
  }
  // Everything the child needs is made before fork: after it, only
  // async-signal-safe calls.
  std::vector<std::string> env_strings = {"DTQ_GATEWAY_LISTEN=" + listen,
                                          "DTQ_GRPC_TARGET=" + launch_.grpc_target,
                                          "DTQ_GATEWAY_UPSTREAM=" + launch_.upstream,
                                          "DTQ_GATEWAY_ALLOWED_HOSTS=" + launch_.allowed_hosts};
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view line(*entry);
    const bool ours =
        line.starts_with("DTQ_GATEWAY_LISTEN=") || line.starts_with("DTQ_GRPC_TARGET=") ||
        line.starts_with("DTQ_GATEWAY_UPSTREAM=") || line.starts_with("DTQ_GATEWAY_ALLOWED_HOSTS=");
    if (!ours) env_strings.emplace_back(line);
  }
  std::vector<char*> envp;
  for (auto& entry : env_strings) envp.push_back(entry.data());
  envp.push_back(nullptr);
  std::string node = launch_.node;
  std::string script = launch_.script.string();
  std::vector<char*> argv = {node.data(), script.data(), nullptr};

  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return "could not be started (no pipe)";
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(out[0]);
    ::close(out[1]);
    return "could not be started (fork failed)";
  }
  if (pid == 0) {
    // serve blocks SIGTERM and SIGINT in every thread; the gateway must not.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(1);
    ::dup2(out[1], STDOUT_FILENO);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(out[1]);
  {
    MutexLock lock(mutex_);
    pid_ = pid;
    if (stopping_) ::kill(pid, SIGTERM);
  }
  std::string pending;
  char buffer[4096];
  for (;;) {
    const ssize_t got = ::read(out[0], buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    pending.append(buffer, static_cast<size_t>(got));
    for (size_t newline; (newline = pending.find('\n')) != std::string::npos;) {
      const std::string line = pending.substr(0, newline);
      pending.erase(0, newline + 1);
      constexpr std::string_view kReady = "GATEWAY_LISTENING http://";
      if (line.starts_with(kReady)) {
        MutexLock lock(mutex_);
        url_ = line.substr(kReady.size() - 7);
        listen_ = line.substr(kReady.size());
        changed_.notify_all();
      } else {
        std::cerr << "gateway: " << line << std::endl;
      }
    }
  }
  ::close(out[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  {
    MutexLock lock(mutex_);
    pid_ = 0;
  }
  changed_.notify_all();
  if (WIFSIGNALED(status)) return "was killed by signal " + std::to_string(WTERMSIG(status));
  return "exited with status " + std::to_string(WEXITSTATUS(status));
}
// --- end graphql

}  // namespace dtq::cli
