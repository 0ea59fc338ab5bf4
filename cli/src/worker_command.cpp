// `dtq worker`: run the job engine until SIGTERM/SIGINT, then drain.
//
// Embedded (no backend named): on the embedded backends in the data folder.
// Distributed (--kafka/--redis/--mongo/--amqp, their DTQ_* variables, or the
// config file's "backends"): the engine over KafkaJobQueue, RedisStatusStore
// and MongoResultStore, the WorkerService on gRPC (--grpc-listen) that the
// API validates payloads with, each pool registered in the Redis job type
// registry with that address and a heartbeat, and a RabbitMQ
// ProgressResponder answering progress queries. `--only TYPE` makes the
// process one pool.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "api_wiring.hpp"
#include "commands.hpp"
#include "distributed_node.hpp"
#include "dtq/api/admin_server.hpp"
#include "dtq/core/host_port.hpp"
#include "dtq/core/logging.hpp"
#include "dtq/host/worker_grpc_server.hpp"
#include "local_node.hpp"
#include "process_lifecycle.hpp"

namespace dtq::cli {
namespace {

struct WorkerOptions {
  EngineFlags engine;
  BackendFlags backends;
  std::string grpc_listen;     // empty: $DTQ_GRPC_LISTEN, else 127.0.0.1:0
  std::string grpc_advertise;  // empty: $DTQ_GRPC_ADVERTISE, else from the listen address
  std::string cluster_secret;  // empty: $DTQ_CLUSTER_SECRET
  std::string admin_listen;    // empty: $DTQ_ADMIN_LISTEN, else no admin port
};

// A job type's consumer lag, when the queue has one and can tell.
using ConsumerLag = std::function<std::optional<int64_t>(const std::string& job_type)>;

// The admin port (/healthz, /readyz, /metrics) when `listen` names one, and
// its address on stdout as `ADMIN_LISTENING HOST:PORT`. `backends_ready`
// and `consumer_lag` (either may be empty) say whether the backends answer
// and how far each pool is behind.
StatusOr<std::unique_ptr<api::AdminServer>> start_admin_port(const std::string& listen,
                                                             host::Engine& engine,
                                                             std::function<bool()> backends_ready,
                                                             ConsumerLag consumer_lag) {
  if (listen.empty()) return std::unique_ptr<api::AdminServer>();
  const auto address = parse_listen(listen);
  if (!address.ok()) {
    return invalid_argument("--admin-listen wants HOST:PORT, not \"" + listen + "\"");
  }
  auto server = std::make_unique<api::AdminServer>(
      api::AdminSettings{.bind_address = address->host, .port = address->port},
      [&engine, backends_ready = std::move(backends_ready)] {
        if (!engine.taking_work())
          return api::AdminReadiness{false, "not taking work: starting or draining"};
        if (backends_ready && !backends_ready())
          return api::AdminReadiness{false, "a backend is unreachable"};
        return api::AdminReadiness{true, ""};
      },
      [&engine] {
        auto listed = host::EngineJobTypeRegistry(engine).list();
        return listed.ok() ? std::move(listed).value() : std::vector<JobTypeInfo>{};
      });
  // What each pool counted, for dtq_worker_* (docs/deploy.md).
  server->set_pool_metrics([&engine, consumer_lag = std::move(consumer_lag)] {
    std::vector<api::PoolMetrics> out;
    for (const auto* pool : engine.pools()) {
      const host::PoolStats stats = pool->stats();
      api::PoolMetrics& m = out.emplace_back();
      m.job_type = pool->plugin().info().job_type;
      m.attempts_started = stats.started;
      m.attempts_retried = stats.retried;
      m.attempts_abandoned = stats.abandoned;
      m.jobs_completed = stats.completed;
      m.jobs_failed = stats.failed;
      m.jobs_cancelled = stats.cancelled;
      m.jobs_dead_lettered = stats.dead_lettered;
      m.jobs_released = stats.released;
      m.queue_errors = stats.queue_errors;
      m.status_errors = stats.status_errors;
      m.result_errors = stats.result_errors;
      m.duration_bounds.assign(host::kAttemptDurationBounds.begin(),
                               host::kAttemptDurationBounds.end());
      m.duration_counts.assign(stats.attempt_duration_buckets.begin(),
                               stats.attempt_duration_buckets.end());
      m.duration_sum_seconds = stats.attempt_duration_sum_seconds;
      if (consumer_lag) m.consumer_lag = consumer_lag(m.job_type);
    }
    return out;
  });
  if (Status started = server->start(); !started.ok()) return started;
  std::cout << "ADMIN_LISTENING " << address->host << ":" << server->port() << std::endl;
  return server;
}

std::string from_env(const std::string& flag, const char* variable, std::string fallback) {
  if (!flag.empty()) return flag;
  // Read at start-up, before the threads.
  // NOLINTNEXTLINE(concurrency-mt-unsafe)
  if (const char* value = std::getenv(variable); value != nullptr && *value != '\0') return value;
  return fallback;
}

// The address the API reaches this worker's WorkerService at: the listen
// address with its real port, or, when it listens on every interface, this
// host's name.
std::string advertised_address(const std::string& listen, uint16_t port) {
  auto address = parse_listen_address(listen);
  std::string host = address.ok() ? address->host : std::string();
  if (host.empty() || host == "0.0.0.0" || host == "::") {
    std::array<char, 256> name{};
    host = ::gethostname(name.data(), name.size() - 1) == 0 ? name.data() : "localhost";
  }
  return HostPort{.host = host, .port = port}.authority();
}

int run_embedded_worker(const CommonOptions& common, const EngineFlags& options,
                        const std::string& admin_listen) {
  ProcessLifecycle lifecycle;
  const auto retention = retention_policy(options);
  if (!retention) return 2;
  auto node =
      open_local_node(common, embedded::Role::kOwner, isolation_settings(options), *retention);
  if (!node) return 1;
  auto settings = engine_settings(*node, options);
  if (!settings) return 2;

  host::HttpClient http;
  auto engine = host::Engine::create(
      node->plugins, *settings,
      host::EnginePorts{*node->backends.queue, *node->backends.statuses, *node->backends.results},
      http);
  if (!engine.ok()) {
    std::cerr << "dtq: " << engine.status().message() << "\n";
    return 2;
  }
  std::cerr << "dtq worker: data in " << resolve_data_dir(common).string() << "; pools:";
  for (const auto* pool : (*engine)->pools()) std::cerr << " " << pool->plugin().info().job_type;
  std::cerr << std::endl;
  auto watcher = watch_plugin_folder(common, options, node->plugins, **engine);
  auto admin = start_admin_port(admin_listen, **engine, {}, {});
  if (!admin.ok()) {
    std::cerr << "dtq: " << admin.status().message() << "\n";
    return admin.status().code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  // The types `dtq serve` paused in this data folder stay paused.
  if (Status restored = DurableJobTypeRegistry(**engine, *node->backends.paused).restore();
      !restored.ok()) {
    std::cerr << "dtq: the paused job types: " << restored.message() << "\n";
    return 1;
  }
  (*engine)->start();
  lifecycle.on_stop([&engine] { (*engine)->drain(); });
  const std::string signal = lifecycle.wait_for_signal();
  spdlog::info("received {}; draining (grace {} ms)", signal, settings->drain_grace.count());
  lifecycle.stop();
  spdlog::info("drained; exiting");
  return 0;
}

// The plugins this process runs pools of (the loaded ones, or the --only
// ones): the engine's, and the ones its WorkerService validates payloads
// for. Prints why and returns false when --only names a type no plugin has.
bool select_hosted(const host::PluginRegistry& plugins, const host::EngineSettings& settings,
                   host::PluginRegistry& hosted, std::vector<std::string>& types) {
  for (const auto& type : settings.only) {
    if (plugins.find(type) == nullptr) {
      std::cerr << "dtq: --only " << type << ": no loaded plugin provides job type \"" << type
                << "\"\n";
      return false;
    }
  }
  for (const auto& plugin : plugins.list()) {
    const std::string& type = plugin->info().job_type;
    if (!settings.only.empty() && !settings.only.contains(type)) continue;
    (void)hosted.add(plugin);
    types.push_back(type);
  }
  return true;
}

// This worker's pools in the job type registry, at its WorkerService
// address, with the figures their heartbeats carry. A pool started later (a
// plugin dropped into the folder) is added, and one stopping is removed, by
// the plugin folder's watcher thread, hence the lock.
class PoolAnnouncer {
 public:
  PoolAnnouncer(host::Engine& engine, redis::RedisJobTypeRegistry& registry, std::string address)
      : engine_(engine), registry_(registry), address_(std::move(address)) {}

  Status announce_all() {
    for (const auto* pool : engine_.pools()) {
      if (Status announced = announce(*pool); !announced.ok()) return announced;
    }
    return {};
  }
  // For the watcher: the pool that now hosts `job_type`.
  void hosted(const std::string& job_type) {
    for (const auto* pool : engine_.pools()) {
      if (pool->plugin().info().job_type != job_type) continue;
      if (Status announced = announce(*pool); !announced.ok())
        spdlog::error("dtq worker: {}", announced.message());
    }
  }
  void unhosting(const std::string& job_type) {
    std::string pool_id;
    {
      std::lock_guard lock(mutex_);
      auto found = pool_ids_.find(job_type);
      if (found == pool_ids_.end()) return;
      pool_id = found->second;
      pool_ids_.erase(found);
    }
    if (Status gone = registry_.deregister(pool_id); !gone.ok()) {
      spdlog::warn("dtq worker: pool {} left the job type registry late ({}); it expires", job_type,
                   gone.message());
    }
  }

 private:
  Status announce(const host::WorkerPool& pool) {
    JobTypeInfo registration = host::job_type_info(pool);
    registration.worker_addresses = {address_};
    // Paused or resumed by `dtq api` (the registry's paused set), seen at
    // each heartbeat; by job type, so that a pool gone meanwhile is NotFound.
    auto on_paused = [&engine = engine_, type = pool.plugin().info().job_type](bool paused) {
      if (Status set = engine.set_paused(type, paused);
          !set.ok() && set.code() != StatusCode::kNotFound) {
        spdlog::error("dtq worker: cannot {} pool {}: {}", paused ? "pause" : "resume", type,
                      set.message());
      }
    };
    auto registered = registry_.register_pool(
        std::move(registration),
        [&pool] {
          const host::PluginHealth health = pool.plugin().health();
          return redis::PoolFigures{.in_flight = pool.stats().in_flight,
                                    .runner_crashes = health.crashes,
                                    .crash_looping = health.crash_looping(),
                                    .last_crash = health.last_crash};
        },
        std::move(on_paused));
    if (!registered.ok()) {
      return {registered.status().code(),
              "cannot register pool " + pool.plugin().info().job_type +
                  " in the job type registry: " + registered.status().message()};
    }
    std::lock_guard lock(mutex_);
    pool_ids_[pool.plugin().info().job_type] = *registered;
    return {};
  }

  host::Engine& engine_;
  redis::RedisJobTypeRegistry& registry_;
  const std::string address_;
  std::mutex mutex_;
  std::map<std::string, std::string> pool_ids_;  // by job type
};

// Off the list first when stopping: the API stops counting these pools, and
// stops asking this WorkerService, at once.
void leave_registry(redis::RedisJobTypeRegistry& registry) {
  if (Status gone = registry.deregister_all(); !gone.ok()) {
    spdlog::warn("could not leave the job type registry ({}); the pools expire after {} ms",
                 gone.message(), registry.settings().ttl.count());
  }
}

void print_worker_started(const host::Engine& engine, const DistributedAdapters& adapters,
                          const std::string& address) {
  std::cerr << "dtq worker: pools:";
  for (const auto* pool : engine.pools()) std::cerr << " " << pool->plugin().info().job_type;
  std::cerr << "; kafka " << adapters.uris.kafka.value << ", redis "
            << adapters.statuses->settings().describe() << ", mongodb "
            << adapters.results->describe() << ", rabbitmq "
            << adapters.responder->settings().describe() << "; WorkerService at " << address
            << std::endl;
}

// The WorkerService, the engine over `adapters`, the pools' registration and
// the plugin folder's watcher, until SIGTERM or SIGINT; then the pools leave
// the registry and drain.
int work_until_signal(ProcessLifecycle& lifecycle, const CommonOptions& common,
                      const WorkerOptions& worker, const host::EngineSettings& settings,
                      const host::PluginRegistry& loaded, host::PluginRegistry& hosted,
                      DistributedAdapters& adapters) {
  const std::string grpc_listen = from_env(worker.grpc_listen, "DTQ_GRPC_LISTEN", "127.0.0.1:0");
  host::WorkerGrpcServer grpc(
      {.listen_address = grpc_listen, .cluster_secret = cluster_secret_from(worker.cluster_secret)},
      hosted);
  if (Status listening = grpc.start(); !listening.ok()) {
    std::cerr << "dtq worker: cannot serve WorkerService on " << grpc_listen << ": "
              << listening.message() << "\n";
    return listening.code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  lifecycle.on_stop([&grpc] { grpc.stop(); });
  const std::string address = from_env(worker.grpc_advertise, "DTQ_GRPC_ADVERTISE",
                                       advertised_address(grpc_listen, grpc.port()));
  host::HttpClient http;
  auto engine = host::Engine::create(
      hosted, settings,
      host::EnginePorts{*adapters.recorded_queue, *adapters.recorded_statuses, *adapters.results},
      http);
  if (!engine.ok()) {
    std::cerr << "dtq: " << engine.status().message() << "\n";
    lifecycle.stop();
    return 2;
  }
  // Registered before the pools start: a type paused in the registry (before
  // this worker, or before its restart) is paused as its pool registers, so
  // the pool never takes one of its jobs.
  PoolAnnouncer announcer(**engine, *adapters.registry, address);
  if (Status registered = announcer.announce_all(); !registered.ok()) {
    std::cerr << "dtq worker: " << registered.message() << "\n";
    lifecycle.stop();
    return 1;
  }
  (*engine)->start();
  lifecycle.on_stop([&engine] { (*engine)->drain(); });
  lifecycle.on_stop([&adapters] { leave_registry(*adapters.registry); });
  auto watcher = watch_plugin_folder(
      common, worker.engine, hosted, **engine,
      [&announcer](const std::string& type) { announcer.hosted(type); },
      [&announcer](const std::string& type) { announcer.unhosting(type); }, &loaded);
  lifecycle.on_stop([&watcher] { watcher.reset(); });
  BackendHealth health(health_checks(adapters, DistributedRole::kWorker), std::chrono::seconds(2),
                       nullptr);
  health.start();
  auto admin = start_admin_port(
      from_env(worker.admin_listen, "DTQ_ADMIN_LISTEN", ""), **engine,
      [&health] { return health.healthy(); },
      [&queue = *adapters.queue](const std::string& type) -> std::optional<int64_t> {
        // Within a scrape's time even when the broker is gone: the series
        // is left out then, and the backend alerts say why.
        auto lag = queue.consumer_lag(type, std::chrono::milliseconds(500));
        return lag.ok() ? std::optional<int64_t>(*lag) : std::nullopt;
      });
  if (!admin.ok()) {
    std::cerr << "dtq: " << admin.status().message() << "\n";
    lifecycle.stop();
    return admin.status().code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  print_worker_started(**engine, adapters, address);
  const std::string signal = lifecycle.wait_for_signal();
  spdlog::info("received {}; leaving the job type registry and draining (grace {} ms)", signal,
               settings.drain_grace.count());
  lifecycle.stop();
  spdlog::info("drained; exiting");
  return 0;
}

int run_distributed_worker(const CommonOptions& common, const WorkerOptions& worker,
                           const BackendUris& uris) {
  if (Status all = uris.require_all("dtq worker"); !all.ok()) {
    std::cerr << "dtq: " << all.message() << "\n";
    return 2;
  }
  ProcessLifecycle lifecycle;
  host::PluginRegistry plugins;
  if (!load_plugins(common, plugins, isolation_settings(worker.engine))) return 1;
  auto settings = engine_settings(plugins, worker.engine);
  if (!settings) return 2;
  host::PluginRegistry hosted;
  std::vector<std::string> types;
  if (!select_hosted(plugins, *settings, hosted, types)) return 2;
  const auto retention = retention_policy(worker.engine);
  if (!retention) return 2;
  auto adapters = connect_backends(uris, DistributedRole::kWorker, types, *retention);
  if (!adapters.ok()) {
    std::cerr << "dtq worker: " << adapters.status().message() << "\n";
    return adapters.status().code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  return work_until_signal(lifecycle, common, worker, *settings, plugins, hosted, *adapters);
}

int run_worker(const CommonOptions& common, const WorkerOptions& options) {
  auto uris = resolve_backends(options.backends, options.engine.config);
  if (!uris.ok()) {
    std::cerr << "dtq: " << uris.status().message() << "\n";
    return 2;
  }
  if (uris->any()) return run_distributed_worker(common, options, *uris);
  return run_embedded_worker(common, options.engine,
                             from_env(options.admin_listen, "DTQ_ADMIN_LISTEN", ""));
}

}  // namespace

void add_worker_command(CLI::App& app, CommonOptions& common, int& exit_code) {
  auto options = std::make_shared<WorkerOptions>();
  auto* worker = app.add_subcommand(
      "worker",
      "Run the job engine until SIGTERM: on the embedded backends, or on Kafka, Redis, MongoDB and "
      "RabbitMQ when given their URIs");
  add_engine_flags(*worker, options->engine);
  add_backend_flags(*worker, options->backends);
  worker->add_option(
      "--grpc-listen", options->grpc_listen,
      "Distributed: HOST:PORT of this worker's WorkerService, which the API validates "
      "payloads with ($DTQ_GRPC_LISTEN; default 127.0.0.1:0, any free port)");
  worker->add_option("--cluster-secret", options->cluster_secret,
                     "Distributed: the secret every call to this worker's WorkerService must "
                     "carry ($DTQ_CLUSTER_SECRET; the same for every worker and API)");
  worker->add_option(
      "--grpc-advertise", options->grpc_advertise,
      "Distributed: HOST:PORT the API reaches that service at, as registered in Redis "
      "($DTQ_GRPC_ADVERTISE; default the listen address, or this host's name when it "
      "listens on all interfaces)");
  worker->add_option(
      "--admin-listen", options->admin_listen,
      "HOST:PORT of this worker's admin port: /healthz, /readyz and /metrics for probes "
      "and Prometheus ($DTQ_ADMIN_LISTEN; default none). Unauthenticated: keep it private");
  worker->callback([&common, &exit_code, options] {
    (void)configure_logging(common.log_level.empty() ? "info" : common.log_level);
    exit_code = run_worker(common, *options);
  });
}

}  // namespace dtq::cli
