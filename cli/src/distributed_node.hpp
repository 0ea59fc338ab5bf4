// Distributed mode for the CLI: the adapters of Kafka, Redis, MongoDB and
// RabbitMQ, configured from the URIs that backend_sources.hpp resolved
// (each driver reads its own URI), connected in a fixed order with one
// clear message per failure, and their health checks for BackendHealth.
// `dtq api`, `dtq worker` (when given backends) and the dead-letter verbs
// use it.
//
// Thread-safety: plain functions, called from a command's main thread at
// start-up. The health checks may run on any thread while the adapters
// live.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backend_health.hpp"
#include "backend_sources.hpp"
#include "dtq/core/job_history_recorder.hpp"
#include "dtq/core/retention.hpp"
#include "dtq/core/status.hpp"
#include "dtq/kafka/kafka_job_queue.hpp"
#include "dtq/mongo/mongo_results.hpp"
#include "dtq/mongo/mongo_settings.hpp"
#include "dtq/rabbitmq/progress_responder.hpp"
#include "dtq/rabbitmq/rabbit_progress_query.hpp"
#include "dtq/redis/redis_idempotency_store.hpp"
#include "dtq/redis/redis_job_schedule.hpp"
#include "dtq/redis/redis_job_type_registry.hpp"
#include "dtq/redis/redis_status_store.hpp"

namespace dtq::cli {

// The adapters' settings from the URIs, each read by its driver
// (redis::parse_uri, rabbitmq::parse_uri, mongo::parse_uri,
// kafka::parse_kafka_uri); InvalidArgument naming the source, what
// is wrong and the form expected (never echoing a password).
StatusOr<redis::RedisSettings> redis_settings(const BackendUris::Source& uri);
StatusOr<rabbitmq::RabbitSettings> rabbit_settings(const BackendUris::Source& uri);
StatusOr<mongo::MongoSettings> mongo_settings(const BackendUris::Source& uri);
StatusOr<kafka::KafkaSettings> kafka_settings(const BackendUris& uris);

// The connected adapters of one process. Members are destroyed in reverse
// order: the progress responder before the status store it reads.
struct DistributedAdapters {
  BackendUris uris;
  std::unique_ptr<kafka::KafkaJobQueue> queue;
  std::unique_ptr<redis::RedisStatusStore> statuses;
  std::unique_ptr<redis::RedisJobTypeRegistry> registry;
  std::unique_ptr<redis::RedisIdempotencyStore> idempotency;  // the API's side
  std::unique_ptr<redis::RedisJobSchedule> schedule;          // the API's side: delayed jobs
  std::unique_ptr<mongo::MongoResults> results;             // through the module: mongo_module.hpp
  std::unique_ptr<rabbitmq::RabbitProgressQuery> progress;  // the API's side
  std::unique_ptr<rabbitmq::ProgressResponder> responder;   // a worker's side
  // The job history in MongoDB's job_events (results->history()), written
  // in batches; and the queue and statuses above behind its recording
  // decorators (dtq/core/job_history_recorder.hpp): what the API and the
  // engine are given, so that what they do is recorded. After the ports
  // they wrap, so destroyed first.
  std::unique_ptr<HistoryWriter> history;
  std::unique_ptr<RecordingJobQueue> recorded_queue;
  std::unique_ptr<RecordingStatusStore> recorded_statuses;
};

enum class DistributedRole { kApi, kWorker };

// Connects every adapter the role needs, in order Redis, Kafka (and, for a
// worker, the topics of `job_types`), MongoDB, RabbitMQ, each bounded by its
// connect timeouts. Every URI is read before anything connects. The first
// failure is returned as "cannot start: <which backend, where, and why>":
// a misconfigured or unreachable server stops the process at start-up.
// `retention` sets the results' expiry (and, for a worker, its periodic
// trim) and the dead-letter topics' retention.ms.
StatusOr<DistributedAdapters> connect_backends(const BackendUris& uris, DistributedRole role,
                                               const std::vector<std::string>& job_types,
                                               const RetentionPolicy& retention = {});

// One health check per backend of `adapters` for `role`, for BackendHealth.
// They hold pointers into `adapters`, which must outlive them.
std::vector<BackendHealth::NamedCheck> health_checks(DistributedAdapters& adapters,
                                                     DistributedRole role);

}  // namespace dtq::cli
