// Dead-letter verbs: dead-letters, replay (one, or --type: all of a type),
// delete-dead-letter, and retry (a failed job). On the embedded data folder
// they reach a running `dtq worker` or `dtq serve` through the shared data
// folder; given Kafka (--kafka, $DTQ_KAFKA_BOOTSTRAP or the config file's
// "backends") they read and replay the dead-letter topics, and a replay
// writes the new job's queued status to Redis when Redis is named too. A
// retry needs the failed job's payload, which only the result store keeps:
// it runs on the data folder; in distributed mode the API does it
// (POST /v1/jobs/{id}:retry). Given --server, every one of them asks that
// API server instead (REST, or gRPC for grpc://HOST:PORT: job_client.hpp),
// with an admin key for all but the listing. The everyday job verbs talk
// to the API (client_commands.cpp).
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <variant>

#include "commands.hpp"
#include "distributed_node.hpp"
#include "dtq/core/ids.hpp"
#include "dtq/core/job_service.hpp"
#include "dtq/core/logging.hpp"
#include "job_client.hpp"
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

// A server named but not usable (a bad URI as much as no answer): 1.
int server_unusable(const Status& status) {
  std::cerr << "dtq: " << status.message() << "\n";
  return 1;
}

// The servers the dead-letter verbs may use instead of the data folder.
struct DeadLetterServerFlags {
  BackendFlags flags;
  std::string config;
  std::string server;  // a dtq API server to ask instead of both
};

struct DeadLettersOptions {
  std::string type;
  size_t limit = 50;
  DeadLetterServerFlags servers;
};

struct ReplayOptions {
  std::string job_id;
  std::string type;  // instead of a job id: every dead letter of this type
  DeadLetterServerFlags servers;
};

// delete-dead-letter and retry: a job id.
struct JobIdOptions {
  std::string job_id;
  DeadLetterServerFlags servers;
};

void add_server_flags(CLI::App& command, DeadLetterServerFlags& servers) {
  command.add_option("--kafka", servers.flags.kafka,
                     "Kafka bootstrap servers: use its dead-letter topics ($DTQ_KAFKA_BOOTSTRAP)");
  command.add_option("--kafka-topic-template", servers.flags.kafka_topic_template,
                     "Job topic name, %s = job type ($KAFKA_TOPIC_TEMPLATE)");
  command.add_option("--redis", servers.flags.redis,
                     "Redis URI, for the replayed job's status ($DTQ_REDIS_URL)");
  command.add_option("--config", servers.config,
                     "JSON file whose \"backends\" section names the servers");
  command.add_option("--server", servers.server,
                     "Ask this dtq API server instead: an http(s):// URL (REST), or "
                     "grpc://HOST:PORT (gRPC)");
}

// The Kafka queue when a source names Kafka; null (and ok) when none does.
// `uris` gets what the sources name.
StatusOr<std::unique_ptr<kafka::KafkaJobQueue>> open_kafka(const DeadLetterServerFlags& servers,
                                                           BackendUris& uris) {
  auto resolved = resolve_backends(servers.flags, servers.config);
  if (!resolved.ok()) return resolved.status();
  uris = std::move(resolved).value();
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

// The Redis status store when a source names Redis; null (and ok) when none does.
StatusOr<std::unique_ptr<redis::RedisStatusStore>> open_redis(const BackendUris& uris) {
  if (uris.redis.value.empty()) return std::unique_ptr<redis::RedisStatusStore>();
  auto redis = redis_settings(uris.redis);
  if (!redis.ok()) return redis.status();
  return redis::RedisStatusStore::connect(*redis);
}

// A replay on Kafka, with the new job's queued status in Redis when Redis is
// named (record_replay, as JobService::replay does).
StatusOr<std::string> replay_on_kafka(kafka::KafkaJobQueue& queue, const BackendUris& uris,
                                      const std::string& job_id) {
  if (!is_uuid(job_id)) return invalid_argument("malformed job id \"" + job_id + "\"");
  auto connected = open_redis(uris);
  if (!connected.ok()) return connected.status();
  const std::unique_ptr<redis::RedisStatusStore> statuses = std::move(connected).value();
  auto new_id = queue.replay(job_id);
  if (!new_id.ok() || !statuses) return new_id;
  auto written = record_replay(*statuses, job_id, *new_id);
  if (!written.ok()) {
    std::cerr << "dtq: replayed, but its queued status was not written: "
              << written.status().message() << "\n";
  }
  return new_id;
}

// --- through an API server (--server) ----------------------------------------

std::string text(const nlohmann::json& object, const char* name) {
  const auto found = object.find(name);
  return found != object.end() && found->is_string() ? found->get<std::string>() : std::string();
}

// The answer's body as JSON, or null after reporting a failed request.
std::optional<nlohmann::json> answered(const ApiReply& reply, int& exit_code) {
  if (reply.code < 200 || reply.code >= 300) {
    exit_code = report_reply(reply);
    return std::nullopt;
  }
  auto body = nlohmann::json::parse(reply.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    std::cerr << "dtq: unreadable answer: " << reply.body << "\n";
    exit_code = 1;
    return std::nullopt;
  }
  return body;
}

int dead_letters_on_server(const DeadLettersOptions& options) {
  int exit_code = 0;
  const auto body = answered(make_job_client(options.servers.server, resolve_api_key())
                                 ->dead_letters(options.type, options.limit),
                             exit_code);
  if (!body) return exit_code;
  std::vector<DeadLetter> letters;
  for (const auto& item : body->value("dead_letters", nlohmann::json::array())) {
    DeadLetter letter;
    letter.message.job_id = text(item, "job_id");
    letter.message.job_type = text(item, "job_type");
    letter.failed_at = text(item, "failed_at");
    letter.attempts = item.value("attempts", 0U);
    if (const auto error = item.find("error"); error != item.end() && error->is_object()) {
      letter.error.code = text(*error, "code");
      letter.error.message = text(*error, "message");
    }
    letter.replayed_as = text(item, "replayed_as");
    letters.push_back(std::move(letter));
  }
  print_dead_letters(letters);
  return 0;
}

int replay_on_server(const ReplayOptions& options) {
  auto client = make_job_client(options.servers.server, resolve_api_key());
  int exit_code = 0;
  if (!options.type.empty()) {
    const auto body = answered(client->replay_all(options.type), exit_code);
    if (!body) return exit_code;
    std::cout << "replayed " << body->value("replayed", 0U) << "\n";
    return 0;
  }
  const auto body = answered(client->replay(options.job_id), exit_code);
  if (!body) return exit_code;
  std::cout << text(*body, "job_id") << "\n";
  return 0;
}

int delete_on_server(const JobIdOptions& options) {
  int exit_code = 0;
  const auto body = answered(make_job_client(options.servers.server, resolve_api_key())
                                 ->delete_dead_letter(options.job_id),
                             exit_code);
  if (!body) return exit_code;
  std::cout << "deleted " << options.job_id << "\n";
  return 0;
}

int retry_on_server(const JobIdOptions& options) {
  int exit_code = 0;
  const auto body = answered(
      make_job_client(options.servers.server, resolve_api_key())->retry(options.job_id), exit_code);
  if (!body) return exit_code;
  std::cout << text(*body, "job_id") << "\n";
  return 0;
}

// Where the dead letters are: Kafka's dead-letter topics when a source
// names Kafka, else the data folder (through a running owner).
struct DeadLetterSource {
  BackendUris uris;
  std::unique_ptr<kafka::KafkaJobQueue> kafka;
  std::unique_ptr<LocalNode> node;  // without Kafka
};

// The source, or the exit code after printing why there is none.
std::variant<DeadLetterSource, int> open_source(const CommonOptions& common,
                                                const DeadLetterServerFlags& servers) {
  (void)configure_logging(common.log_level.empty() ? "warn" : common.log_level);
  DeadLetterSource source;
  auto queue = open_kafka(servers, source.uris);
  if (!queue.ok()) return server_unusable(queue.status());
  source.kafka = std::move(queue).value();
  if (!source.kafka && !(source.node = open_local_node(common, embedded::Role::kClient))) return 1;
  return source;
}

int run_dead_letters(const CommonOptions& common, const DeadLettersOptions& options) {
  if (!options.servers.server.empty()) return dead_letters_on_server(options);
  auto opened = open_source(common, options.servers);
  if (const int* failed = std::get_if<int>(&opened)) return *failed;
  auto& source = std::get<DeadLetterSource>(opened);
  auto letters = source.kafka ? source.kafka->dead_letters(options.type, options.limit)
                              : source.node->jobs->dead_letters(options.type, options.limit);
  if (!letters.ok()) return report(letters.status());
  print_dead_letters(*letters);
  return 0;
}

int run_replay_all(DeadLetterSource& source, const std::string& type) {
  StatusOr<size_t> replayed = size_t{0};
  if (source.kafka) {
    auto statuses = open_redis(source.uris);
    if (!statuses.ok()) return server_unusable(statuses.status());
    replayed =
        replay_dead_letters(*source.kafka, statuses->get(), type, JobService::kReplayAllScan);
  } else {
    replayed = source.node->jobs->replay_all(type);
  }
  if (!replayed.ok()) return report(replayed.status());
  std::cout << "replayed " << *replayed << "\n";
  return 0;
}

int run_replay(const CommonOptions& common, const ReplayOptions& options) {
  if (options.job_id.empty() == options.type.empty()) {
    std::cerr << "dtq: replay takes a job id or --type, not both\n";
    return 2;
  }
  if (!options.servers.server.empty()) return replay_on_server(options);
  auto opened = open_source(common, options.servers);
  if (const int* failed = std::get_if<int>(&opened)) return *failed;
  auto& source = std::get<DeadLetterSource>(opened);
  if (!options.type.empty()) return run_replay_all(source, options.type);
  auto new_id = source.kafka ? replay_on_kafka(*source.kafka, source.uris, options.job_id)
                             : source.node->jobs->replay(options.job_id);
  if (!new_id.ok()) return report(new_id.status());
  std::cout << *new_id << "\n";
  return 0;
}

int run_delete(const CommonOptions& common, const JobIdOptions& options) {
  if (!options.servers.server.empty()) return delete_on_server(options);
  auto opened = open_source(common, options.servers);
  if (const int* failed = std::get_if<int>(&opened)) return *failed;
  auto& source = std::get<DeadLetterSource>(opened);
  const Status deleted = source.kafka ? source.kafka->delete_dead_letter(options.job_id)
                                      : source.node->jobs->delete_dead_letter(options.job_id);
  if (!deleted.ok()) return report(deleted);
  std::cout << "deleted " << options.job_id << "\n";
  return 0;
}

int run_retry(const CommonOptions& common, const JobIdOptions& options) {
  if (!options.servers.server.empty()) return retry_on_server(options);
  auto opened = open_source(common, options.servers);
  if (const int* failed = std::get_if<int>(&opened)) return *failed;
  auto& source = std::get<DeadLetterSource>(opened);
  if (source.kafka) {
    std::cerr << "dtq: retry reads the failed job's payload from the result store; in "
                 "distributed mode ask the API: --server URL (an admin key)\n";
    return 2;
  }
  auto new_id = source.node->jobs->retry(options.job_id);
  if (!new_id.ok()) return report(new_id.status());
  std::cout << *new_id << "\n";
  return 0;
}

}  // namespace

void add_job_commands(CLI::App& app, CommonOptions& common, int& exit_code) {
  auto dead_letters = std::make_shared<DeadLettersOptions>();
  auto* dead = app.add_subcommand("dead-letters", "List failed jobs kept for replay, newest first");
  dead->add_option("--type", dead_letters->type, "Only this job type");
  dead->add_option("--limit", dead_letters->limit, "At most this many");
  add_server_flags(*dead, dead_letters->servers);
  dead->callback(
      [&common, &exit_code, dead_letters] { exit_code = run_dead_letters(common, *dead_letters); });

  auto replay_options = std::make_shared<ReplayOptions>();
  auto* replay = app.add_subcommand("replay", "Enqueue a dead-lettered job again, as a new job");
  replay->add_option("job_id", replay_options->job_id, "The dead-lettered job's id");
  replay->add_option("--type", replay_options->type,
                     "Instead of one job: every dead letter of this type not replayed yet");
  add_server_flags(*replay, replay_options->servers);
  replay->callback(
      [&common, &exit_code, replay_options] { exit_code = run_replay(common, *replay_options); });

  auto delete_options = std::make_shared<JobIdOptions>();
  auto* remove = app.add_subcommand("delete-dead-letter",
                                    "Forget a dead letter: neither listed nor replayable any more");
  remove->add_option("job_id", delete_options->job_id, "The dead-lettered job's id")->required();
  add_server_flags(*remove, delete_options->servers);
  remove->callback(
      [&common, &exit_code, delete_options] { exit_code = run_delete(common, *delete_options); });

  auto retry_options = std::make_shared<JobIdOptions>();
  auto* retry = app.add_subcommand(
      "retry",
      "Run a failed job again, as a new job of its type and payload (data folder, or --server)");
  retry->add_option("job_id", retry_options->job_id, "The failed job's id")->required();
  add_server_flags(*retry, retry_options->servers);
  retry->callback(
      [&common, &exit_code, retry_options] { exit_code = run_retry(common, *retry_options); });
}

}  // namespace dtq::cli
