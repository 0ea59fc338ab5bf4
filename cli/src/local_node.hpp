// LocalNode: what the embedded-mode commands share — the plugins from the
// plugin folder and the embedded backends in the data folder.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands.hpp"
#include "dtq/core/job_service.hpp"
#include "dtq/core/status_progress_query.hpp"
#include "dtq/embedded/embedded_backends.hpp"
#include "dtq/host/engine.hpp"
#include "dtq/host/isolated_plugin.hpp"
#include "dtq/host/plugin_registry.hpp"
#include "dtq/host/plugin_watcher.hpp"

namespace dtq::cli {

struct LocalNode {
  host::PluginRegistry plugins;
  embedded::EmbeddedBackends backends;
  std::unique_ptr<host::LocalPayloadValidator> validator;
  std::unique_ptr<StatusProgressQuery> progress;
  std::unique_ptr<JobService> jobs;
};

// Loads the plugins (refusing a bad one, as a worker must) and opens the data
// folder in `role`. Prints why and returns null on failure.
std::unique_ptr<LocalNode> open_local_node(const CommonOptions& options, embedded::Role role,
                                           const host::IsolationSettings& isolation = {});

// Loads the plugins of the plugin folder into `plugins` (in runner processes
// unless `isolation` says otherwise), refusing a bad one as a worker must.
// Prints why and returns false on failure.
bool load_plugins(const CommonOptions& options, host::PluginRegistry& plugins,
                  const host::IsolationSettings& isolation = {});

// The engine flags `dtq worker` and `dtq serve` share.
struct EngineFlags {
  std::vector<std::string> only;
  std::string config;
  uint32_t concurrency = 0;
  uint32_t timeout_ms = 0;
  uint32_t max_attempts = 0;
  uint32_t max_result_bytes = 0;
  uint32_t drain_grace_ms = 30'000;
  // Where plugins run (host/isolated_plugin.hpp).
  std::string isolation = "process";
  std::vector<std::string> in_process;
  uint64_t runner_memory_mb = host::RunnerSettings{}.max_memory_mb;
  uint64_t runner_open_files = host::RunnerSettings{}.max_open_files;
  uint64_t runner_cpu_seconds = host::RunnerSettings{}.max_cpu_seconds;
  bool watch_plugins = true;  // hot drop-in (host/plugin_watcher.hpp)
};
void add_engine_flags(CLI::App& command, EngineFlags& flags);
host::IsolationSettings isolation_settings(const EngineFlags& flags);

// The plugin folder's watcher for a running engine, or null when the flags
// turn it off. Start it after the signals are blocked: its thread inherits
// the mask. `on_hosted` and `on_unhosting` as in PluginWatcherSettings.
std::unique_ptr<host::PluginWatcher> watch_plugin_folder(
    const CommonOptions& options, const EngineFlags& flags, host::PluginRegistry& plugins,
    host::Engine& engine, std::function<void(const std::string&)> on_hosted = {},
    std::function<void(const std::string&)> on_unhosting = {},
    const host::PluginRegistry* loaded_elsewhere = nullptr);

// Per-plugin settings from the config file, the environment and the flags,
// in that order of precedence (flags win). Prints why and returns nullopt
// on failure.
std::optional<host::EngineSettings> engine_settings(const LocalNode& node,
                                                    const EngineFlags& flags);
std::optional<host::EngineSettings> engine_settings(const host::PluginRegistry& plugins,
                                                    const EngineFlags& flags);

}  // namespace dtq::cli
