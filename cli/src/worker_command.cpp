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
#include <csignal>
#include <cstdlib>
#include <functional>
#include <iostream>

#include "api_wiring.hpp"
#include "commands.hpp"
#include "distributed_node.hpp"
#include "dtq/api/admin_server.hpp"
#include "dtq/core/logging.hpp"
#include "dtq/host/worker_grpc_server.hpp"
#include "local_node.hpp"

namespace dtq::cli {
namespace {

struct WorkerOptions {
  EngineFlags engine;
  BackendFlags backends;
  std::string grpc_listen;     // empty: $DTQ_GRPC_LISTEN, else 127.0.0.1:0
  std::string grpc_advertise;  // empty: $DTQ_GRPC_ADVERTISE, else from the listen address
  std::string admin_listen;    // empty: $DTQ_ADMIN_LISTEN, else no admin port
};

// The admin port (/healthz, /readyz, /metrics) when `listen` names one, and
// its address on stdout as `ADMIN_LISTENING HOST:PORT`. `backends_ready`
// (may be empty) says whether the backends answer.
StatusOr<std::unique_ptr<api::AdminServer>> start_admin_port(const std::string& listen,
                                                             const host::Engine& engine,
                                                             std::function<bool()> backends_ready) {
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
  server->set_pool_metrics([&engine] {
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
    }
    return out;
  });
  if (Status started = server->start(); !started.ok()) return started;
  std::cout << "ADMIN_LISTENING " << address->host << ":" << server->port() << std::endl;
  return server;
}

std::string from_env(const std::string& flag, const char* variable, std::string fallback) {
  if (!flag.empty()) return flag;
  if (const char* value = std::getenv(variable); value != nullptr && *value != '\0') return value;
  return fallback;
}

// The address the API reaches this worker's WorkerService at: the listen
// address with its real port, or, when it listens on every interface, this
// host's name.
std::string advertised_address(const std::string& listen, uint16_t port) {
  std::string host = listen.substr(0, listen.rfind(':'));
  if (host.empty() || host == "0.0.0.0" || host == "::" || host == "[::]") {
    std::array<char, 256> name{};
    host = ::gethostname(name.data(), name.size() - 1) == 0 ? name.data() : "localhost";
  }
  return host + ":" + std::to_string(port);
}

int run_embedded_worker(const CommonOptions& common, const EngineFlags& options,
                        const std::string& admin_listen) {
  // Blocked before any thread starts (the store's writer, the plugin
  // folder's watcher, the pools) so that they inherit the mask and the
  // sigwait in run_until_signal() gets SIGTERM: an unblocked thread would
  // take it and the default action would end the process undrained.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  auto node = open_local_node(common, embedded::Role::kOwner, isolation_settings(options));
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
  auto admin = start_admin_port(admin_listen, **engine, {});
  if (!admin.ok()) {
    std::cerr << "dtq: " << admin.status().message() << "\n";
    return admin.status().code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  (*engine)->run_until_signal();
  return 0;
}

int run_distributed_worker(const CommonOptions& common, const WorkerOptions& worker,
                           const BackendUris& uris) {
  const EngineFlags& options = worker.engine;
  if (Status all = uris.require_all("dtq worker"); !all.ok()) {
    std::cerr << "dtq: " << all.message() << "\n";
    return 2;
  }
  // Blocked before any thread starts (every adapter has some), so that they
  // inherit the mask and sigwait below gets the signal.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  host::PluginRegistry plugins;
  if (!load_plugins(common, plugins, isolation_settings(options))) return 1;
  auto settings = engine_settings(plugins, options);
  if (!settings) return 2;
  for (const auto& type : settings->only) {
    if (plugins.find(type) == nullptr) {
      std::cerr << "dtq: --only " << type << ": no loaded plugin provides job type \"" << type
                << "\"\n";
      return 2;
    }
  }
  // The plugins this process runs pools of: the engine's, and the ones its
  // WorkerService validates payloads for.
  host::PluginRegistry hosted;
  std::vector<std::string> types;
  for (const auto& plugin : plugins.list()) {
    const std::string& type = plugin->info().job_type;
    if (!settings->only.empty() && settings->only.count(type) == 0) continue;
    (void)hosted.add(plugin);
    types.push_back(type);
  }

  auto backends = connect_backends(uris, DistributedRole::kWorker, types);
  if (!backends.ok()) {
    std::cerr << "dtq worker: " << backends.status().message() << "\n";
    return backends.status().code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  const std::string grpc_listen = from_env(worker.grpc_listen, "DTQ_GRPC_LISTEN", "127.0.0.1:0");
  host::WorkerGrpcServer grpc({.listen_address = grpc_listen}, hosted);
  if (Status listening = grpc.start(); !listening.ok()) {
    std::cerr << "dtq worker: cannot serve WorkerService on " << grpc_listen << ": "
              << listening.message() << "\n";
    return listening.code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  const std::string address = from_env(worker.grpc_advertise, "DTQ_GRPC_ADVERTISE",
                                       advertised_address(grpc_listen, grpc.port()));

  host::HttpClient http;
  auto engine = host::Engine::create(
      hosted, *settings,
      host::EnginePorts{*backends->queue, *backends->statuses, *backends->results}, http);
  if (!engine.ok()) {
    std::cerr << "dtq: " << engine.status().message() << "\n";
    return 2;
  }
  (*engine)->start();
  for (const auto* pool : (*engine)->pools()) {
    JobTypeInfo registration = host::job_type_info(*pool);
    registration.worker_addresses = {address};
    auto registered = backends->registry->register_pool(std::move(registration), [pool] {
      const host::PluginHealth health = pool->plugin().health();
      return redis::PoolFigures{.in_flight = pool->stats().in_flight,
                                .runner_crashes = health.crashes,
                                .crash_looping = health.crash_looping(),
                                .last_crash = health.last_crash};
    });
    if (!registered.ok()) {
      std::cerr << "dtq worker: cannot register pool " << pool->plugin().info().job_type
                << " in the job type registry: " << registered.status().message() << "\n";
      (*engine)->drain();
      return 1;
    }
  }
  BackendHealth health(BackendHealth::checks_for(*backends, DistributedRole::kWorker),
                       std::chrono::seconds(2), nullptr);
  health.start();
  auto admin = start_admin_port(from_env(worker.admin_listen, "DTQ_ADMIN_LISTEN", ""), **engine,
                                [&health] { return health.healthy(); });
  if (!admin.ok()) {
    std::cerr << "dtq: " << admin.status().message() << "\n";
    (*engine)->drain();
    return admin.status().code() == StatusCode::kInvalidArgument ? 2 : 1;
  }

  std::cerr << "dtq worker: pools:";
  for (const auto* pool : (*engine)->pools()) std::cerr << " " << pool->plugin().info().job_type;
  std::cerr << "; kafka " << backends->uris.kafka.value << ", redis "
            << backends->statuses->settings().describe() << ", mongodb "
            << backends->results->describe() << ", rabbitmq "
            << backends->responder->settings().describe() << "; WorkerService at " << address
            << std::endl;

  int received = 0;
  sigwait(&signals, &received);
  spdlog::info("received {}; leaving the job type registry and draining (grace {} ms)",
               received == SIGTERM ? "SIGTERM" : "SIGINT", settings->drain_grace.count());
  // Off the list first: the API stops counting these pools, and stops
  // asking this WorkerService, at once.
  if (Status gone = backends->registry->deregister_all(); !gone.ok()) {
    spdlog::warn("could not leave the job type registry ({}); the pools expire after {} ms",
                 gone.message(), backends->registry->settings().ttl.count());
  }
  (*engine)->drain();
  grpc.stop();
  spdlog::info("drained; exiting");
  return 0;
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
