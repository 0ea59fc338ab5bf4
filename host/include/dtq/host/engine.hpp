// Engine: the worker side of dtq — one WorkerPool per hosted plugin, over the
// queue and stores it is given. `dtq worker` and `dtq serve` run one.
//
// Thread-safety: start and drain from one controlling thread; add_plugin and
// remove_plugin from one other (the plugin folder's watcher); stats, pools and
// set_paused from any. Ownership: borrows the ports and HTTP client; a pool
// that stopped is kept until the engine goes, so a pointer from pools() stays
// valid.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "dtq/core/ports/job_type_registry.hpp"
#include "dtq/core/ports/payload_validator.hpp"
#include "dtq/core/thread_annotations.hpp"
#include "dtq/host/plugin_registry.hpp"
#include "dtq/host/worker_pool.hpp"

namespace dtq::host {

struct EngineSettings {
  std::set<std::string> only;                        // job types to run; empty = all
  std::map<std::string, PluginSettings> per_plugin;  // operator overrides by job type
  std::chrono::milliseconds drain_grace{30'000};     // SIGTERM: how long in-flight jobs may finish
  // Applied to every pool; tests shorten them.
  std::optional<std::chrono::milliseconds> backoff_base;
  std::optional<std::chrono::milliseconds> cancel_grace;
};

class Engine {
 public:
  // Fails when `only` names a job type no loaded plugin provides.
  static StatusOr<std::unique_ptr<Engine>> create(const PluginRegistry& plugins,
                                                  const EngineSettings& settings,
                                                  EnginePorts backends, const HttpClient& http);
  ~Engine();

  void start();
  // Stops taking work, lets in-flight jobs finish until the grace runs out,
  // releases the rest for redelivery, and closes the queue.
  void drain();

  // Hosts a plugin that appeared after start (a library dropped into the
  // plugin folder): a new pool, taking work at once while the engine does.
  // AlreadyExists for a hosted job type; FailedPrecondition for one outside
  // `only`, or after drain.
  Status add_plugin(std::shared_ptr<Plugin> plugin);
  // Stops hosting `job_type`: its pool takes no more jobs and finishes (or,
  // past the drain grace, releases) the ones it runs; queued jobs wait for a
  // pool. NotFound when no pool hosts it.
  Status remove_plugin(std::string_view job_type);
  // Pauses or resumes the pool of `job_type` (WorkerPool::set_paused: when a
  // pause returns, no new job of the type starts). The pause sticks to the
  // job type for the engine's life: a plugin reloaded from the folder comes
  // back paused. Not kept across restarts. NotFound when no pool hosts it.
  Status set_paused(std::string_view job_type, bool paused);

  std::map<std::string, PoolStats> stats() const;
  std::vector<const WorkerPool*> pools() const;
  // Between start() and drain(): the pools are taking work.
  bool taking_work() const noexcept { return taking_work_; }

 private:
  Engine(EngineSettings settings, EnginePorts backends, const HttpClient& http)
      : settings_(std::move(settings)), backends_(backends), http_(http) {}
  using Pools = std::vector<std::unique_ptr<WorkerPool>>;
  std::unique_ptr<WorkerPool> make_pool(std::shared_ptr<Plugin> plugin) const;
  // The pool hosting `job_type` in pools_, or NotFound naming it.
  StatusOr<Pools::iterator> pool_for(std::string_view job_type) DTQ_REQUIRES(pools_mutex_);

  EngineSettings settings_;
  EnginePorts backends_;
  const HttpClient& http_;
  mutable Mutex pools_mutex_;
  Pools pools_ DTQ_GUARDED_BY(pools_mutex_);
  // Stopped; see Ownership.
  Pools retired_ DTQ_GUARDED_BY(pools_mutex_);
  bool drained_ DTQ_GUARDED_BY(pools_mutex_) = false;
  std::set<std::string, std::less<>> paused_ DTQ_GUARDED_BY(pools_mutex_);  // job types
  Mutex pausing_mutex_;  // one set_paused at a time: the pool ends as the last call said
  std::atomic<bool> taking_work_{false};
};

// What a registry says of one pool's job type: its plugin's metadata and
// the pool's concurrency (pools and in_flight are the registry's to fill).
JobTypeInfo job_type_info(const WorkerPool& pool);

// The embedded JobTypeRegistry: the plugins this engine's pools host, with
// their live pool figures; set_paused pauses the engine's pool.
class EngineJobTypeRegistry final : public JobTypeRegistry {
 public:
  explicit EngineJobTypeRegistry(Engine& engine) : engine_(engine) {}
  StatusOr<std::vector<JobTypeInfo>> list() override;
  Status set_paused(std::string_view job_type, bool paused) override;

 private:
  Engine& engine_;
};

// The embedded PayloadValidator: asks the plugins loaded in this process.
class LocalPayloadValidator final : public PayloadValidator {
 public:
  explicit LocalPayloadValidator(const PluginRegistry& plugins) : plugins_(plugins) {}
  std::optional<ValidationOutcome> validate(std::string_view job_type,
                                            std::string_view payload) override;
  // A plugin that could not answer (an isolated one whose runner crashed or
  // overran the validation time limit) is an error, never a verdict.
  StatusOr<ValidationOutcome> check(std::string_view job_type, std::string_view payload) override;
  // The owning plugin's check_batch(): one round trip to an isolated runner.
  std::vector<StatusOr<ValidationOutcome>> check_batch(
      std::string_view job_type, std::span<const std::string_view> payloads) override;

 private:
  const PluginRegistry& plugins_;
};

}  // namespace dtq::host
