// `dtq api`: the REST API of a distributed deployment, without a worker
// engine. Jobs are enqueued on Kafka (after their queued status is written
// to Redis), statuses and live events come from Redis, results from
// MongoDB, progress queries go over RabbitMQ to whichever worker answers,
// and the job types are those the worker pools registered in Redis.
// /readyz answers 200 only while every backend answers (checked every
// second); SIGTERM or SIGINT stops it (process_lifecycle.hpp). With --grpc-listen it also serves
// the typed gRPC dtq.v1.JobService (REST is its JSON face) over the same
// JobService, API keys and limits (docs/security.md).
//
// Payload validation: the plugin owns its payload's contract and runs in the
// worker pools, so each submission is validated by a worker of the job
// type's pool over gRPC (api::GrpcPayloadValidator), at the WorkerService
// addresses the pools registered in Redis.
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>

#include "api_wiring.hpp"
#include "commands.hpp"
#include "distributed_node.hpp"
#include "dtq/api/api_server.hpp"
#include "dtq/api/grpc_payload_validator.hpp"
#include "dtq/core/job_scheduler.hpp"
#include "dtq/core/job_service.hpp"
#include "dtq/core/logging.hpp"
#include "dtq/redis/redis_api_key_store.hpp"
#include "local_node.hpp"
#include "process_lifecycle.hpp"

namespace dtq::cli {
namespace {

struct ApiOptions {
  BackendFlags backends;
  std::string config;
  ApiFaceOptions api;
  RetentionFlags retention;  // the results' expiry, the dead-letter topics' retention
  std::string token_file;
  bool no_auth = false;
  std::string cluster_secret;  // empty: $DTQ_CLUSTER_SECRET
};

// job type → the WorkerService addresses of its live pools, from the job
// type registry, read again at most once a second (a submission burst makes
// one Redis round trip a second, not one per job). Shuffled per call to
// spread validation over the pools; a stale address is passed over by the
// validator.
class WorkerResolver {
 public:
  explicit WorkerResolver(JobTypeRegistry& registry) : registry_(registry) {}

  std::vector<std::string> operator()(std::string_view job_type) {
    std::vector<std::string> addresses;
    {
      std::lock_guard lock(mutex_);
      const auto now = std::chrono::steady_clock::now();
      if (!read_ || now - read_at_ >= kMaxAge) {
        auto listed = registry_.list();
        if (listed.ok()) {
          types_ = std::move(listed).value();
          read_ = true;
          read_at_ = now;
        } else {
          spdlog::warn("cannot read the job type registry: {}", listed.status().message());
        }
      }
      for (const auto& type : types_) {
        if (type.job_type == job_type) addresses = type.worker_addresses;
      }
    }
    // Small, as in backoff_delay: a thread_local costs every thread of the
    // process its size (a 5 KB std::mt19937 did), and a shuffle needs little.
    thread_local std::minstd_rand random{std::random_device{}()};
    std::shuffle(addresses.begin(), addresses.end(), random);
    return addresses;
  }

 private:
  static constexpr std::chrono::seconds kMaxAge{1};
  JobTypeRegistry& registry_;
  std::mutex mutex_;
  bool read_ = false;
  std::chrono::steady_clock::time_point read_at_;
  std::vector<JobTypeInfo> types_;
};

// The operator key (admin, stored nowhere): $DTQ_API_TOKEN, else the first
// line of --token-file; empty when neither is given.
StatusOr<std::string> resolve_operator_key(const ApiOptions& options) {
  if (std::string key = operator_key_from_env(); !key.empty()) return key;
  if (options.token_file.empty()) return std::string();
  std::ifstream in(options.token_file);
  if (!in) return not_found("cannot read token file " + options.token_file);
  std::string key;
  std::getline(in, key);
  while (!key.empty() && (key.back() == '\r' || key.back() == ' ')) key.pop_back();
  if (key.empty()) return invalid_argument(options.token_file + " is empty");
  return key;
}

// The keys every replica reads, in the deployment's Redis, and the
// operator key; none with --no-auth.
struct DistributedApiKeys {
  std::unique_ptr<redis::RedisApiKeyStore> store;
  std::unique_ptr<ApiKeys> keys;
};
StatusOr<DistributedApiKeys> open_api_keys(const ApiOptions& options,
                                           const redis::RedisSettings& redis) {
  DistributedApiKeys opened;
  if (options.no_auth) return opened;
  auto operator_key = resolve_operator_key(options);
  if (!operator_key.ok()) return operator_key.status();
  auto store = redis::RedisApiKeyStore::connect(redis);
  if (!store.ok()) return store.status();
  opened.store = std::move(store).value();
  opened.keys = std::make_unique<ApiKeys>(*opened.store, std::move(operator_key).value());
  return opened;
}

// The first line is for scripts and tests; the rest for people.
void print_api_started(const std::string& url, const std::string& grpc_at,
                       const DistributedAdapters& backends, bool keys) {
  std::cout << "LISTENING " << url << std::endl;
  if (!grpc_at.empty()) std::cout << "GRPC_LISTENING " << grpc_at << std::endl;
  std::cerr << "dtq api: REST API at " << url << "\n"
            << "  kafka " << backends.uris.kafka.value << ", redis "
            << backends.statuses->settings().describe() << ", mongodb "
            << backends.results->describe() << ", rabbitmq "
            << backends.progress->settings().describe() << "\n"
            << "  payloads validated by the worker pools over gRPC (their WorkerService)";
  if (!grpc_at.empty()) {
    std::cerr << "\n  gRPC:  dtq.v1.JobService at " << grpc_at
              << " (metadata authorization: Bearer KEY)";
  }
  std::cerr << (keys ? "\n  API keys: in Redis; make one with dtq keys create --redis URL --name "
                       "NAME --scope read|submit|admin"
                     : "\n  every route is open (--no-auth)")
            << std::endl;
}

// The REST API, and with --grpc-listen the gRPC JobService, over
// `backends` until SIGTERM or SIGINT.
int serve_api_until_signal(ProcessLifecycle& lifecycle, const ApiOptions& options,
                           const ApiFace& face, DistributedAdapters& backends) {
  auto resolver = std::make_shared<WorkerResolver>(*backends.registry);
  api::GrpcPayloadValidator validator(
      {.resolve = [resolver](std::string_view job_type) { return (*resolver)(job_type); },
       .cluster_secret = cluster_secret_from(options.cluster_secret)});
  // Through the history's recorders: submits, cancels and replays are recorded.
  JobService jobs(*backends.recorded_queue, *backends.recorded_statuses, *backends.results,
                  validator, *backends.progress, backends.idempotency.get(),
                  backends.schedule.get());
  // Every replica moves due jobs to Kafka; a claim leases each to one of them.
  JobScheduler scheduler(*backends.schedule, *backends.queue, *backends.statuses);
  scheduler.start();
  lifecycle.on_stop([&scheduler] { scheduler.stop(); });
  api::ApiServer server(face.settings, jobs, *backends.statuses, *backends.registry);
  if (Status started = server.start(); !started.ok()) {
    std::cerr << "dtq api: " << started.message() << "\n";
    return 1;
  }
  lifecycle.on_stop([&server] { server.stop(); });
  std::unique_ptr<api::GrpcJobServer> grpc;
  if (!options.api.grpc_listen.empty()) {
    auto started = start_grpc_job_server(options.api.grpc_listen, face.settings, jobs,
                                         *backends.statuses, *backends.registry);
    if (!started.ok()) {
      std::cerr << "dtq api: " << started.status().message() << "\n";
      lifecycle.stop();
      return 1;
    }
    grpc = std::move(started).value();
    lifecycle.on_stop([&grpc] { grpc->stop(); });
  }
  lifecycle.on_stop([&server] { server.set_ready(false, "shutting down"); });
  BackendHealth health(health_checks(backends, DistributedRole::kApi), std::chrono::seconds(1),
                       [&server](bool healthy, const std::string& reason) {
                         server.set_ready(healthy, "backends unavailable: " + reason);
                       });
  health.start();
  print_api_started("http://" + face.settings.bind_address + ":" + std::to_string(server.port()),
                    grpc ? face.grpc_host + ":" + std::to_string(grpc->port()) : std::string(),
                    backends, face.settings.keys != nullptr);
  const std::string signal = lifecycle.wait_for_signal();
  spdlog::info("dtq api: {}; stopping", signal);
  lifecycle.stop();
  return 0;
}

int run_api(const ApiOptions& options) {
  auto face = api_face(options.api);
  if (!face.ok()) {
    std::cerr << "dtq: " << face.status().message() << "\n";
    return 2;
  }
  auto uris = resolve_backends(options.backends, options.config);
  if (!uris.ok()) {
    std::cerr << "dtq: " << uris.status().message() << "\n";
    return 2;
  }
  if (Status all = uris->require_all("dtq api"); !all.ok()) {
    std::cerr << "dtq: " << all.message() << "\n";
    return 2;
  }
  const auto retention = retention_policy(options.retention);
  if (!retention) return 2;
  ProcessLifecycle lifecycle;
  auto backends = connect_backends(*uris, DistributedRole::kApi, {}, *retention);
  if (!backends.ok()) {
    std::cerr << "dtq api: " << backends.status().message() << "\n";
    return backends.status().code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  auto keys = open_api_keys(options, backends->statuses->settings());
  if (!keys.ok()) {
    std::cerr << "dtq api: the API keys: " << keys.status().message() << "\n";
    return keys.status().code() == StatusCode::kUnavailable ? 1 : 2;
  }
  face->settings.keys = keys->keys.get();
  face->settings.history = backends->history.get();
  return serve_api_until_signal(lifecycle, options, *face, *backends);
}

}  // namespace

void add_api_command(CLI::App& app, CommonOptions& common, int& exit_code) {
  auto options = std::make_shared<ApiOptions>();
  auto* api = app.add_subcommand(
      "api", "Run the REST API of a distributed deployment (Kafka, Redis, MongoDB, RabbitMQ)");
  add_backend_flags(*api, options->backends);
  api->add_option("--config", options->config,
                  "JSON file whose \"backends\" section names the servers");
  add_api_face_flags(*api, options->api);
  add_retention_flags(*api, options->retention);
  api->add_option("--token-file", options->token_file,
                  "File holding an operator key with admin scope (default: $DTQ_API_TOKEN)");
  api->add_flag("--no-auth", options->no_auth, "Serve without keys: every route is open to anyone");
  api->add_option("--cluster-secret", options->cluster_secret,
                  "The secret the workers' WorkerService asks of every call (default: "
                  "$DTQ_CLUSTER_SECRET; the same for every worker and API)");
  api->callback([&common, &exit_code, options] {
    (void)configure_logging(common.log_level.empty() ? "info" : common.log_level);
    exit_code = run_api(*options);
  });
}

}  // namespace dtq::cli
