// Dead-letter verbs: dead-letters and replay. On the embedded data folder
// they reach a running `dtq worker` or `dtq serve` through the shared data
// folder; given Kafka (--kafka, $DTQ_KAFKA_BOOTSTRAP or the config file's
// "backends") they read and replay the dead-letter topics, and a replay
// writes the new job's queued status to Redis when Redis is named too. The
// everyday job verbs talk to the API (client_commands.cpp).
#include <iomanip>
#include <iostream>

#include "commands.hpp"
#include "distributed_node.hpp"
#include "dtq/core/ids.hpp"
#include "dtq/core/job_service.hpp"
#include "dtq/core/logging.hpp"
#include "local_node.hpp"

namespace dtq::cli {
namespace {

int exit_code_for(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kNotFound:
    case StatusCode::kFailedPrecondition:
      return 2;
    default:
      return 1;
  }
}

int report(const Status& status) {
  std::cerr << "dtq: " << status.message() << "\n";
  return exit_code_for(status);
}

// The backend flags the dead-letter verbs take.
struct DeadLetterBackends {
  BackendFlags flags;
  std::string config;
};

void add_dead_letter_backend_flags(CLI::App& command, DeadLetterBackends& backends) {
  command.add_option("--kafka", backends.flags.kafka,
                     "Kafka bootstrap servers: use its dead-letter topics ($DTQ_KAFKA_BOOTSTRAP)");
  command.add_option("--kafka-topic-template", backends.flags.kafka_topic_template,
                     "Job topic name, %s = job type ($KAFKA_TOPIC_TEMPLATE)");
  command.add_option("--redis", backends.flags.redis,
                     "Redis URI, for the replayed job's status ($DTQ_REDIS_URL)");
  command.add_option("--config", backends.config,
                     "JSON file whose \"backends\" section names the servers");
}

// The Kafka queue when Kafka is named; null (and ok) when it is not.
StatusOr<std::unique_ptr<kafka::KafkaJobQueue>> open_kafka(const BackendUris& uris) {
  if (uris.kafka.value.empty()) return std::unique_ptr<kafka::KafkaJobQueue>();
  auto settings = kafka_settings(uris);
  if (!settings.ok()) return settings.status();
  auto queue = kafka::KafkaJobQueue::create(*settings);
  if (!queue.ok()) return queue.status();
  if (Status answered = (*queue)->ping(std::chrono::seconds(5)); !answered.ok()) return answered;
  return queue;
}

void print_dead_letters(const std::vector<DeadLetter>& letters) {
  std::cout << std::left << std::setw(38) << "JOB ID" << std::setw(16) << "TYPE" << std::setw(26)
            << "FAILED AT" << std::setw(10) << "ATTEMPTS"
            << "ERROR\n";
  for (const auto& letter : letters) {
    std::cout << std::left << std::setw(38) << letter.message.job_id << std::setw(16)
              << letter.message.job_type << std::setw(26) << letter.failed_at << std::setw(10)
              << letter.attempts << letter.error.code << ": " << letter.error.message
              << (letter.replayed_as.empty() ? "" : " (replayed as " + letter.replayed_as + ")")
              << "\n";
  }
}

// A replay on Kafka, with the new job's queued status in Redis when Redis is
// named (record_replay, as JobService::replay does).
StatusOr<std::string> replay_on_kafka(kafka::KafkaJobQueue& queue, const BackendUris& uris,
                                      const std::string& job_id) {
  if (!is_uuid(job_id)) return invalid_argument("malformed job id \"" + job_id + "\"");
  std::unique_ptr<redis::RedisStatusStore> statuses;
  if (!uris.redis.value.empty()) {
    auto redis = redis_settings(uris.redis);
    if (!redis.ok()) return redis.status();
    auto connected = redis::RedisStatusStore::connect(*redis);
    if (!connected.ok()) return connected.status();
    statuses = std::move(connected).value();
  }
  auto new_id = queue.replay(job_id);
  if (!new_id.ok() || !statuses) return new_id;
  auto written = record_replay(*statuses, job_id, *new_id);
  if (!written.ok()) {
    std::cerr << "dtq: replayed, but its queued status was not written: "
              << written.status().message() << "\n";
  }
  return new_id;
}

}  // namespace

void add_job_commands(CLI::App& app, CommonOptions& common, int& exit_code) {
  const auto client = [&common]() {
    (void)configure_logging(common.log_level.empty() ? "warn" : common.log_level);
    return open_local_node(common, embedded::Role::kClient);
  };

  // Kafka's queue when a source names Kafka (reported and null on failure,
  // with `failed` set), else null.
  const auto kafka_queue = [&common](const DeadLetterBackends& backends, BackendUris& uris,
                                     bool& failed) {
    (void)configure_logging(common.log_level.empty() ? "warn" : common.log_level);
    failed = false;
    auto resolved = resolve_backends(backends.flags, backends.config);
    if (!resolved.ok()) {
      std::cerr << "dtq: " << resolved.status().message() << "\n";
      failed = true;
      return std::unique_ptr<kafka::KafkaJobQueue>();
    }
    uris = *resolved;
    auto queue = open_kafka(uris);
    if (!queue.ok()) {
      std::cerr << "dtq: " << queue.status().message() << "\n";
      failed = true;
      return std::unique_ptr<kafka::KafkaJobQueue>();
    }
    return std::move(queue).value();
  };

  auto dead_type = std::make_shared<std::string>();
  auto dead_limit = std::make_shared<size_t>(50);
  auto dead_backends = std::make_shared<DeadLetterBackends>();
  auto* dead = app.add_subcommand("dead-letters", "List failed jobs kept for replay, newest first");
  dead->add_option("--type", *dead_type, "Only this job type");
  dead->add_option("--limit", *dead_limit, "At most this many");
  add_dead_letter_backend_flags(*dead, *dead_backends);
  dead->callback([=, &exit_code] {
    BackendUris uris;
    bool failed = false;
    if (auto queue = kafka_queue(*dead_backends, uris, failed); failed) {
      return void(exit_code = 1);
    } else if (queue) {
      auto letters = queue->dead_letters(*dead_type, *dead_limit);
      if (!letters.ok()) return void(exit_code = report(letters.status()));
      print_dead_letters(*letters);
      return void(exit_code = 0);
    }
    auto node = client();
    if (!node) return void(exit_code = 1);
    auto letters = node->jobs->dead_letters(*dead_type, *dead_limit);
    if (!letters.ok()) return void(exit_code = report(letters.status()));
    print_dead_letters(*letters);
    exit_code = 0;
  });

  auto replay_id = std::make_shared<std::string>();
  auto replay_backends = std::make_shared<DeadLetterBackends>();
  auto* replay = app.add_subcommand("replay", "Enqueue a dead-lettered job again, as a new job");
  replay->add_option("job_id", *replay_id, "The dead-lettered job's id")->required();
  add_dead_letter_backend_flags(*replay, *replay_backends);
  replay->callback([=, &exit_code] {
    BackendUris uris;
    bool failed = false;
    if (auto queue = kafka_queue(*replay_backends, uris, failed); failed) {
      return void(exit_code = 1);
    } else if (queue) {
      auto new_id = replay_on_kafka(*queue, uris, *replay_id);
      if (!new_id.ok()) return void(exit_code = report(new_id.status()));
      std::cout << *new_id << "\n";
      return void(exit_code = 0);
    }
    auto node = client();
    if (!node) return void(exit_code = 1);
    auto new_id = node->jobs->replay(*replay_id);
    if (!new_id.ok()) return void(exit_code = report(new_id.status()));
    std::cout << *new_id << "\n";
    exit_code = 0;
  });
}

}  // namespace dtq::cli
