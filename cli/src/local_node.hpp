// LocalNode: what the embedded-mode commands share — the plugins from the
// plugin folder and the embedded backends in the data folder.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "commands.hpp"
#include "dtq/core/job_history_recorder.hpp"
#include "dtq/core/job_scheduler.hpp"
#include "dtq/core/job_service.hpp"
#include "dtq/core/retention.hpp"
#include "dtq/core/status_progress_query.hpp"
#include "dtq/core/thread_annotations.hpp"
#include "dtq/embedded/embedded_backends.hpp"
#include "dtq/host/engine.hpp"
#include "dtq/host/isolated_plugin.hpp"
#include "dtq/host/plugin_registry.hpp"
#include "dtq/host/plugin_watcher.hpp"

namespace dtq::cli {

struct LocalNode {
  host::PluginRegistry plugins;
  // The job history's batching writer, over backends.history; the queue
  // and statuses in `backends` are its recording decorators
  // (dtq/core/job_history_recorder.hpp), so every write through them is
  // recorded. Before `backends`: destroyed after the decorators.
  std::shared_ptr<HistoryWriter> history;
  embedded::EmbeddedBackends backends;
  std::unique_ptr<host::LocalPayloadValidator> validator;
  std::unique_ptr<StatusProgressQuery> progress;
  std::unique_ptr<JobService> jobs;
  // An owner's: moves the delayed jobs of backends.schedule to the queue
  // when due. Not started: `dtq serve` starts it once signals are blocked.
  std::unique_ptr<JobScheduler> scheduler;
};

// Loads the plugins (refusing a bad one, as a worker must) and opens the data
// folder in `role`. Prints why and returns null on failure.
// An owner trims finished jobs and dead letters by `retention`.
std::unique_ptr<LocalNode> open_local_node(const CommonOptions& options, embedded::Role role,
                                           const host::IsolationSettings& isolation = {},
                                           const RetentionPolicy& retention = {});

// Loads the plugins of the plugin folder into `plugins` (in runner processes
// unless `isolation` says otherwise), refusing a bad one as a worker must.
// Prints why and returns false on failure.
bool load_plugins(const CommonOptions& options, host::PluginRegistry& plugins,
                  const host::IsolationSettings& isolation = {});

// The JobTypeRegistry of an embedded engine whose pauses outlive the
// process: set_paused records the pause in the data folder
// (embedded::PausedJobTypes), then pauses the pool, and restore() pauses
// the recorded types' pools. Thread-safety: as the engine's.
class DurableJobTypeRegistry final : public JobTypeRegistry {
 public:
  DurableJobTypeRegistry(host::Engine& engine, embedded::PausedJobTypes& paused)
      : engine_(engine), registry_(engine), paused_(paused) {}
  // Call before Engine::start(), so that a paused type's pool never takes a
  // job. A recorded type no pool hosts stays recorded (its plugin may come
  // back) and is logged.
  Status restore();
  StatusOr<std::vector<JobTypeInfo>> list() override { return registry_.list(); }
  Status set_paused(std::string_view job_type, bool paused) override;

 private:
  host::Engine& engine_;
  host::EngineJobTypeRegistry registry_;
  embedded::PausedJobTypes& paused_;
};

// How long finished jobs and dead letters are kept
// (dtq/core/retention.hpp): `dtq serve`, `dtq worker` and `dtq api` take
// these flags, or $DTQ_RETENTION, $DTQ_RETENTION_FOR (TYPE=D,TYPE=D) and
// $DTQ_DEAD_LETTER_RETENTION (a flag wins).
struct RetentionFlags {
  std::string retention = "7d";
  std::vector<std::string> retention_for;  // TYPE=DURATION
  std::string dead_letter_retention = "30d";
};
void add_retention_flags(CLI::App& command, RetentionFlags& flags);
// The flags read into a policy; prints why and returns nullopt when one is
// malformed.
std::optional<RetentionPolicy> retention_policy(const RetentionFlags& flags);

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
  // How long the stores keep finished jobs and dead letters.
  RetentionFlags retention;
};
void add_engine_flags(CLI::App& command, EngineFlags& flags);
host::IsolationSettings isolation_settings(const EngineFlags& flags);
std::optional<RetentionPolicy> retention_policy(const EngineFlags& flags);

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

// --- graphql: the GraphQL gateway as a child of `dtq serve` (docs/graphql.md)
// Pistache speaks no WebSocket, so a Node.js process (gateway/) serves
// /graphql, subscriptions included, and passes every other request to
// serve's own HTTP port; serve supervises it as it does its plugin runners.

// serve's flags for the gateway.
struct GatewayFlags {
  std::string mode = "auto";  // --graphql: auto (when found), on (say loudly why not), off
  std::string script;         // --gateway FILE (gateway/src/main.mjs); else $DTQ_GATEWAY
  std::string node;           // --node FILE; else $DTQ_NODE; else node on PATH
  std::string listen;         // --graphql-listen; default: --listen's host, its port + 1
};
void add_gateway_flags(CLI::App& command, GatewayFlags& flags);

// What the child is started with.
struct GatewayLaunch {
  std::string node;  // absolute path
  std::filesystem::path script;
  std::string listen;         // HOST:PORT
  std::string grpc_target;    // serve's gRPC JobService, HOST:PORT
  std::string upstream;       // serve's REST, http://HOST:PORT
  std::string allowed_hosts;  // the Host names served, comma-separated (empty: any)
};

// Node.js and the gateway script (flag, environment, then beside the
// binary: <bin>/gateway/src/main.mjs, <bin>/../share/dtq/gateway/src/main.mjs),
// with its npm packages installed; NotFound saying what is missing and how
// to get it otherwise.
StatusOr<GatewayLaunch> find_gateway(const GatewayFlags& flags);

// The gateway's listen address when --graphql-listen is not given: the REST
// host, the REST port + 1 (port 0 stays 0: any free one).
std::string default_gateway_listen(const std::string& rest_host, uint16_t rest_port);

// Runs the gateway as a child process and keeps it running: when it dies it
// is started again after a backoff (on the same port), unless it exited
// with EX_CONFIG (78: it cannot run as configured), and stop() ends it
// (SIGTERM, then SIGKILL after 3 s). The child also gets SIGTERM if serve
// itself dies, so no gateway outlives its serve. Its stdout is read here
// (the GATEWAY_LISTENING line), its stderr is serve's.
//
// Thread-safety: start() and stop() from one thread; a thread of its own
// watches the child. Ownership: owns the child and that thread.
class GatewaySupervisor {
 public:
  explicit GatewaySupervisor(GatewayLaunch launch) : launch_(std::move(launch)) {}
  ~GatewaySupervisor() { stop(); }
  GatewaySupervisor(const GatewaySupervisor&) = delete;
  GatewaySupervisor& operator=(const GatewaySupervisor&) = delete;

  // Starts the child and waits up to `wait` for it to listen: its URL, or
  // Unavailable saying why (the supervisor keeps trying in the background).
  StatusOr<std::string> start(std::chrono::milliseconds wait);
  void stop();

 private:
  void supervise();
  // One life of the child: spawn, read its stdout to EOF, reap. Its exit
  // status as text.
  std::string run_once();

  GatewayLaunch launch_;
  std::thread thread_;
  Mutex mutex_;
  CondVar changed_;
  bool stopping_ DTQ_GUARDED_BY(mutex_) = false;
  bool given_up_ DTQ_GUARDED_BY(mutex_) = false;  // it exited with EX_CONFIG
  int pid_ DTQ_GUARDED_BY(mutex_) = 0;
  std::string url_ DTQ_GUARDED_BY(mutex_);
  std::string listen_ DTQ_GUARDED_BY(mutex_);  // after the first start: the bound address
};
// --- end graphql

}  // namespace dtq::cli
