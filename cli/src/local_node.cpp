#include "local_node.hpp"

#include <iostream>

#include "dtq/host/plugin_loader.hpp"

namespace dtq::cli {

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
                                           const host::IsolationSettings& isolation) {
  auto node = std::make_unique<LocalNode>();
  if (!load_plugins(options, node->plugins, isolation)) return nullptr;

  auto backends = embedded::open_embedded({.data_dir = resolve_data_dir(options), .role = role});
  if (!backends.ok()) {
    std::cerr << "dtq: " << backends.status().message() << "\n";
    return nullptr;
  }
  node->backends = std::move(backends).value();
  node->validator = std::make_unique<host::LocalPayloadValidator>(node->plugins);
  node->progress = std::make_unique<StatusProgressQuery>(*node->backends.statuses);
  node->jobs =
      std::make_unique<JobService>(*node->backends.queue, *node->backends.statuses,
                                   *node->backends.results, *node->validator, *node->progress);
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

}  // namespace dtq::cli
