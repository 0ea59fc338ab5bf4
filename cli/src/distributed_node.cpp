#include "distributed_node.hpp"

#include "dtq/kafka/kafka_bootstrap.hpp"
#include "dtq/mongo/mongo_module.hpp"
#include "dtq/mongo/mongo_uri.hpp"
#include "dtq/rabbitmq/rabbit_uri.hpp"
#include "dtq/redis/redis_uri.hpp"

namespace dtq::cli {
namespace {

constexpr std::chrono::milliseconds kKafkaStartupTimeout{5000};
constexpr std::chrono::milliseconds kKafkaHealthTimeout{2000};

// A driver's verdict on a URI, its error prefixed with where the URI came
// from ("--amqp: ...").
template <typename Settings>
StatusOr<Settings> named(const BackendUris::Source& source, StatusOr<Settings> parsed) {
  if (parsed.ok()) return parsed;
  return Status(parsed.status().code(), source.from + ": " + parsed.status().message());
}

Status starting(std::string_view backend, const BackendUris::Source& source, const Status& why) {
  return {why.code(), "cannot start: " + std::string(backend) + " (from " + source.from +
                          "): " + why.message()};
}

// How often a worker deletes the results past their retention (a bound on
// lateness where MongoDB's TTL monitor lags; the only trim on FerretDB).
constexpr std::chrono::minutes kMongoTrimInterval{1};

// Every adapter's settings, read before anything connects.
struct AdapterSettings {
  redis::RedisSettings redis;
  kafka::KafkaSettings kafka;
  mongo::MongoSettings mongo;
  rabbitmq::RabbitSettings rabbit;
};

StatusOr<AdapterSettings> settings_of(const BackendUris& uris) {
  auto redis = redis_settings(uris.redis);
  if (!redis.ok()) return redis.status();
  auto kafka = kafka_settings(uris);
  if (!kafka.ok()) return kafka.status();
  auto mongo = mongo_settings(uris.mongo);
  if (!mongo.ok()) return mongo.status();
  auto rabbit = rabbit_settings(uris.amqp);
  if (!rabbit.ok()) return rabbit.status();
  return AdapterSettings{.redis = std::move(redis).value(),
                         .kafka = std::move(kafka).value(),
                         .mongo = std::move(mongo).value(),
                         .rabbit = std::move(rabbit).value()};
}

Status connect_redis(const redis::RedisSettings& settings, DistributedRole role,
                     DistributedAdapters& adapters) {
  auto statuses = redis::RedisStatusStore::connect(settings);
  if (!statuses.ok()) return starting("redis", adapters.uris.redis, statuses.status());
  adapters.statuses = std::move(statuses).value();
  auto registry = redis::RedisJobTypeRegistry::connect(settings);
  if (!registry.ok()) return starting("redis", adapters.uris.redis, registry.status());
  adapters.registry = std::move(registry).value();
  if (role == DistributedRole::kApi) {
    // The submits' idempotency keys, shared by every replica.
    auto keys = redis::RedisIdempotencyStore::connect(settings);
    if (!keys.ok()) return starting("redis", adapters.uris.redis, keys.status());
    adapters.idempotency = std::move(keys).value();
    // The delayed jobs, which every replica's scheduler moves to Kafka.
    auto schedule = redis::RedisJobSchedule::connect(settings);
    if (!schedule.ok()) return starting("redis", adapters.uris.redis, schedule.status());
    adapters.schedule = std::move(schedule).value();
  }
  return {};
}

// The queue, once a broker answered, with the topics of `job_types` made.
Status connect_kafka(const kafka::KafkaSettings& settings,
                     const std::vector<std::string>& job_types, DistributedAdapters& adapters) {
  const BackendUris::Source& source = adapters.uris.kafka;
  auto queue = kafka::KafkaJobQueue::create(settings);
  if (!queue.ok()) return starting("kafka", source, queue.status());
  adapters.queue = std::move(queue).value();
  if (Status answered = adapters.queue->ping(kKafkaStartupTimeout); !answered.ok())
    return starting("kafka", source, answered);
  for (const auto& type : job_types) {
    if (Status topics = adapters.queue->ensure_topics(type); !topics.ok()) {
      return starting(
          "kafka", source,
          Status(topics.code(), "the topics of job type " + type + ": " + topics.message()));
    }
  }
  return {};
}

Status connect_mongo(const mongo::MongoSettings& settings, DistributedAdapters& adapters) {
  auto results = mongo::connect_results(settings);
  if (!results.ok()) return starting("mongodb", adapters.uris.mongo, results.status());
  adapters.results = std::move(results).value();
  return {};
}

// The history's writer and recorders, once the queue, the statuses and
// MongoDB are connected. `role` names the attempts' worker.
void start_history(DistributedRole role, DistributedAdapters& adapters) {
  adapters.history = std::make_unique<HistoryWriter>(adapters.results->history());
  const std::string identity =
      history_worker_identity(role == DistributedRole::kApi ? "api" : "worker");
  adapters.recorded_queue =
      std::make_unique<RecordingJobQueue>(*adapters.queue, *adapters.history, identity);
  adapters.recorded_statuses =
      std::make_unique<RecordingStatusStore>(*adapters.statuses, *adapters.history, identity);
}

// The API asks for progress; a worker answers from its status store.
Status connect_rabbit(const rabbitmq::RabbitSettings& settings, DistributedRole role,
                      DistributedAdapters& adapters) {
  if (role == DistributedRole::kApi) {
    auto progress = rabbitmq::RabbitProgressQuery::connect(settings);
    if (!progress.ok()) return starting("rabbitmq", adapters.uris.amqp, progress.status());
    adapters.progress = std::move(progress).value();
    return {};
  }
  auto responder = rabbitmq::ProgressResponder::start(settings, *adapters.statuses);
  if (!responder.ok()) return starting("rabbitmq", adapters.uris.amqp, responder.status());
  adapters.responder = std::move(responder).value();
  return {};
}

}  // namespace

StatusOr<redis::RedisSettings> redis_settings(const BackendUris::Source& uri) {
  return named(uri, redis::parse_uri(uri.value));
}

StatusOr<rabbitmq::RabbitSettings> rabbit_settings(const BackendUris::Source& uri) {
  return named(uri, rabbitmq::parse_uri(uri.value));
}

StatusOr<mongo::MongoSettings> mongo_settings(const BackendUris::Source& uri) {
  return named(uri, mongo::parse_uri(uri.value));
}

StatusOr<kafka::KafkaSettings> kafka_settings(const BackendUris& uris) {
  // Brokers, credentials and TLS (kafka://USER:PASS@HOST:PORT?security.protocol=...).
  auto connection = named(uris.kafka, kafka::parse_kafka_uri(uris.kafka.value));
  if (!connection.ok()) return connection.status();
  kafka::KafkaSettings settings;
  settings.bootstrap_servers = std::move(connection->bootstrap_servers);
  settings.security = std::move(connection->security);
  if (!uris.kafka_topic_template.value.empty())
    settings.topic_template = uris.kafka_topic_template.value;
  // "off": the classes share the job topic (a broker that caps topics).
  if (uris.kafka_priority_topic_template.value == "off") {
    settings.priority_topic_template.clear();
  } else if (!uris.kafka_priority_topic_template.value.empty()) {
    settings.priority_topic_template = uris.kafka_priority_topic_template.value;
  }
  return settings;
}

StatusOr<DistributedAdapters> connect_backends(const BackendUris& uris, DistributedRole role,
                                               const std::vector<std::string>& job_types,
                                               const RetentionPolicy& retention) {
  auto settings = settings_of(uris);
  if (!settings.ok()) return settings.status();
  // Every result stored carries its expiry; the workers, which store them,
  // also trim. Dead-letter topics keep their records as long.
  settings->mongo.retention = retention;
  if (role == DistributedRole::kWorker) settings->mongo.trim_interval = kMongoTrimInterval;
  settings->kafka.dlq_retention = retention.dead_letters;
  DistributedAdapters adapters;
  adapters.uris = uris;
  if (Status s = connect_redis(settings->redis, role, adapters); !s.ok()) return s;
  if (Status s = connect_kafka(settings->kafka, job_types, adapters); !s.ok()) return s;
  if (Status s = connect_mongo(settings->mongo, adapters); !s.ok()) return s;
  if (Status s = connect_rabbit(settings->rabbit, role, adapters); !s.ok()) return s;
  start_history(role, adapters);
  return adapters;
}

std::vector<BackendHealth::NamedCheck> health_checks(DistributedAdapters& adapters,
                                                     DistributedRole role) {
  std::vector<BackendHealth::NamedCheck> checks;
  auto* statuses = adapters.statuses.get();
  auto* registry = adapters.registry.get();
  auto* queue = adapters.queue.get();
  auto* results = adapters.results.get();
  checks.emplace_back("redis", [statuses, registry, role]() -> Status {
    if (Status answered = statuses->ping(); !answered.ok()) return answered;
    if (role == DistributedRole::kWorker && !registry->healthy()) {
      return unavailable("the job type registry's heartbeat does not reach redis at " +
                         statuses->settings().describe());
    }
    return registry->ping();
  });
  checks.emplace_back("kafka", [queue] { return queue->ping(kKafkaHealthTimeout); });
  checks.emplace_back("mongodb", [results] { return results->ping(); });
  if (role == DistributedRole::kApi) {
    auto* progress = adapters.progress.get();
    checks.emplace_back("rabbitmq", [progress]() -> Status {
      if (progress->healthy()) return {};
      return unavailable("not connected to rabbitmq at " + progress->settings().describe());
    });
  } else {
    auto* responder = adapters.responder.get();
    checks.emplace_back("rabbitmq", [responder]() -> Status {
      if (responder->healthy()) return {};
      return unavailable("not connected to rabbitmq at " + responder->settings().describe());
    });
  }
  return checks;
}

}  // namespace dtq::cli
