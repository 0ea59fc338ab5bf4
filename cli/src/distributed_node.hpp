// Distributed mode for the CLI: where the four servers are (flags, the
// environment, the config file), the adapters' settings from those URIs,
// connecting the adapters with one clear message per failure, and a monitor
// that watches their health for /readyz and the logs. `dtq api`, `dtq
// worker` (when given backends) and the dead-letter verbs use it.
//
// Sources, the first that names a backend wins:
//   flag          --kafka BOOTSTRAP  --redis URI  --mongo URI  --amqp URI
//   environment   DTQ_KAFKA_BOOTSTRAP DTQ_REDIS_URL DTQ_MONGODB_URI DTQ_AMQP_URL
//                 (what `scripts/servers/all.sh env` prints)
//   config file   {"backends": {"kafka": …, "redis": …, "mongo": …, "amqp": …}}
// The Kafka topic template likewise: --kafka-topic-template,
// KAFKA_TOPIC_TEMPLATE (DESIGN §2), "kafka_topic_template".
//
// Thread-safety: the functions are plain; BackendHealth runs one thread of
// its own and its members may be called from any thread.
#pragma once

#include <CLI/CLI.hpp>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "dtq/core/status.hpp"
#include "dtq/kafka/kafka_job_queue.hpp"
#include "dtq/mongo/mongo_result_store.hpp"
#include "dtq/rabbitmq/progress_responder.hpp"
#include "dtq/rabbitmq/rabbit_progress_query.hpp"
#include "dtq/redis/redis_job_type_registry.hpp"
#include "dtq/redis/redis_status_store.hpp"

namespace dtq::cli {

// What the flags said (empty: not given).
struct BackendFlags {
  std::string kafka;
  std::string redis;
  std::string mongo;
  std::string amqp;
  std::string kafka_topic_template;
};
void add_backend_flags(CLI::App& command, BackendFlags& flags);

// The resolved URIs, each with where it came from ("--redis",
// "$DTQ_REDIS_URL", "config file F") for messages.
struct BackendUris {
  struct Source {
    std::string value;
    std::string from;
  };
  Source kafka, redis, mongo, amqp, kafka_topic_template;

  bool any() const {
    return !kafka.value.empty() || !redis.value.empty() || !mongo.value.empty() ||
           !amqp.value.empty();
  }
  // InvalidArgument naming every missing backend, its flag and its variable.
  Status require_all(std::string_view command) const;
};

// Flags, then the environment, then the config file's "backends" section
// (`config_file` may be empty). InvalidArgument for an unreadable or
// malformed section.
StatusOr<BackendUris> resolve_backends(const BackendFlags& flags, const std::string& config_file);

// The adapters' settings from the URIs; InvalidArgument naming the source
// and what is wrong (never echoing a password).
StatusOr<redis::RedisSettings> redis_settings(const BackendUris::Source& uri);
StatusOr<rabbitmq::RabbitSettings> rabbit_settings(const BackendUris::Source& uri);
StatusOr<mongo::MongoSettings> mongo_settings(const BackendUris::Source& uri);
StatusOr<kafka::KafkaSettings> kafka_settings(const BackendUris& uris);

// The connected adapters of one process. Members are destroyed in reverse
// order: the progress responder before the status store it reads.
struct DistributedBackends {
  BackendUris uris;
  std::unique_ptr<kafka::KafkaJobQueue> queue;
  std::unique_ptr<redis::RedisStatusStore> statuses;
  std::unique_ptr<redis::RedisJobTypeRegistry> registry;
  std::unique_ptr<mongo::MongoResultStore> results;
  std::unique_ptr<rabbitmq::RabbitProgressQuery> progress;  // the API's side
  std::unique_ptr<rabbitmq::ProgressResponder> responder;   // a worker's side
};

enum class DistributedRole { kApi, kWorker };

// Connects every adapter the role needs, in order Redis, Kafka (and, for a
// worker, the topics of `job_types`), MongoDB, RabbitMQ, each bounded by its
// connect timeouts. The first failure is returned as "cannot start: <which
// backend, where, and why>": a misconfigured or unreachable server stops the
// process at start-up.
StatusOr<DistributedBackends> connect_backends(const BackendUris& uris, DistributedRole role,
                                               const std::vector<std::string>& job_types);

// Watches named health checks every `interval` on a thread of its own. Each
// change of a backend's health is logged (a warning when it is lost, a line
// when it is back: the adapters reconnect with backoff by themselves), and
// `on_change(healthy, reason)` runs after any change of the whole, with
// reason naming every unhealthy backend.
class BackendHealth {
 public:
  using Check = std::function<Status()>;
  BackendHealth(std::vector<std::pair<std::string, Check>> checks,
                std::chrono::milliseconds interval,
                std::function<void(bool healthy, const std::string& reason)> on_change);
  ~BackendHealth();
  BackendHealth(const BackendHealth&) = delete;
  BackendHealth& operator=(const BackendHealth&) = delete;

  // Runs every check once on the calling thread (then on_change), and starts
  // the thread on first use.
  void start();
  bool healthy() const;

  // The checks of `backends` for `role`.
  static std::vector<std::pair<std::string, Check>> checks_for(DistributedBackends& backends,
                                                               DistributedRole role);

 private:
  void run_checks();
  void loop();

  std::vector<std::pair<std::string, Check>> checks_;
  const std::chrono::milliseconds interval_;
  std::function<void(bool, const std::string&)> on_change_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool healthy_ = false;
  bool first_ = true;
  std::string reason_;
  std::vector<std::string> failing_;  // per check: "" when healthy, else why
  std::thread thread_;
};

}  // namespace dtq::cli
