#include "backend_sources.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cstdlib>
#include <map>

namespace dtq::cli {
namespace {

struct BackendNames {
  const char* key;       // in the config file's "backends"
  const char* flag;      // --flag
  const char* variable;  // $VARIABLE
};
constexpr BackendNames kKafka{"kafka", "--kafka", "DTQ_KAFKA_BOOTSTRAP"};
constexpr BackendNames kRedis{"redis", "--redis", "DTQ_REDIS_URL"};
constexpr BackendNames kMongo{"mongo", "--mongo", "DTQ_MONGODB_URI"};
constexpr BackendNames kAmqp{"amqp", "--amqp", "DTQ_AMQP_URL"};
constexpr BackendNames kTopicTemplate{"kafka_topic_template", "--kafka-topic-template",
                                      "KAFKA_TOPIC_TEMPLATE"};
constexpr BackendNames kPriorityTopicTemplate{"kafka_priority_topic_template",
                                              "--kafka-priority-topic-template",
                                              "KAFKA_PRIORITY_TOPIC_TEMPLATE"};

std::string env(const char* name) {
  // Read at start-up, before any thread starts.
  // NOLINTNEXTLINE(concurrency-mt-unsafe)
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

// One entry of the "backends" section: a known key with a string value.
StatusOr<std::string> entry_value(const std::string& where, std::string_view key,
                                  simdjson::dom::element value) {
  const auto names = {&kKafka, &kRedis, &kMongo, &kAmqp, &kTopicTemplate, &kPriorityTopicTemplate};
  if (std::ranges::none_of(names, [key](const BackendNames* n) { return key == n->key; })) {
    return invalid_argument(where + "unknown setting backends." + std::string(key) +
                            " (known: kafka, redis, mongo, amqp, kafka_topic_template, "
                            "kafka_priority_topic_template)");
  }
  std::string_view text;
  if (value.get(text))
    return invalid_argument(where + "backends." + std::string(key) + " must be a string");
  return std::string(text);
}

// The config file's "backends" section, key → value (empty without a file
// or a section).
StatusOr<std::map<std::string, std::string>> read_config_section(const std::string& config_file) {
  std::map<std::string, std::string> values;
  if (config_file.empty()) return values;
  const std::string where = "config file " + config_file + ": ";
  simdjson::padded_string text;
  if (simdjson::padded_string::load(config_file).get(text))
    return not_found("cannot read config file " + config_file);
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto error = parser.parse(text).get(root); error)
    return invalid_argument(where + "malformed JSON: " + simdjson::error_message(error));
  simdjson::dom::object sections;
  if (root.get(sections)) return invalid_argument(where + "expected a JSON object");
  simdjson::dom::element backends;
  if (sections["backends"].get(backends) != simdjson::SUCCESS) return values;
  simdjson::dom::object entries;
  if (backends.get(entries)) return invalid_argument(where + "backends must be an object");
  for (const auto field : entries) {
    auto value = entry_value(where, field.key, field.value);
    if (!value.ok()) return value.status();
    values[std::string(field.key)] = std::move(value).value();
  }
  return values;
}

// One backend's URI from the first source that names it.
void pick(BackendUris::Source& out, const std::string& flag, const BackendNames& names,
          const std::string& from_file, const std::string& config_file) {
  if (!flag.empty()) {
    out = {flag, names.flag};
  } else if (std::string value = env(names.variable); !value.empty()) {
    out = {value, std::string("$") + names.variable};
  } else if (!from_file.empty()) {
    out = {from_file, "config file " + config_file + " (backends." + names.key + ")"};
  }
}

}  // namespace

void add_backend_flags(CLI::App& command, BackendFlags& flags) {
  command.add_option("--kafka", flags.kafka,
                     "Kafka bootstrap servers HOST:PORT[,HOST:PORT...], or "
                     "kafka://USER:PASS@HOST:PORT[,...]?security.protocol=sasl_ssl&... "
                     "($DTQ_KAFKA_BOOTSTRAP)");
  command.add_option("--redis", flags.redis,
                     "Redis URI redis://[USER:PASS@]HOST:PORT[/DB] ($DTQ_REDIS_URL)");
  command.add_option("--mongo", flags.mongo,
                     "MongoDB connection string mongodb://... ($DTQ_MONGODB_URI)");
  command.add_option("--amqp", flags.amqp,
                     "RabbitMQ URI amqp://USER:PASS@HOST:PORT/VHOST, or "
                     "amqps://...?cacertfile=PATH for TLS ($DTQ_AMQP_URL)");
  command.add_option("--kafka-topic-template", flags.kafka_topic_template,
                     "Job topic name, %s = job type (default jobs.%s.v1; $KAFKA_TOPIC_TEMPLATE)");
  command.add_option("--kafka-priority-topic-template", flags.kafka_priority_topic_template,
                     "Topic of the high and low priority jobs, %s = job type, %p = high|low "
                     "(default jobs.%s.%p.v1), or off: every class on the job topic, in arrival "
                     "order ($KAFKA_PRIORITY_TOPIC_TEMPLATE)");
}

Status BackendUris::require_all(std::string_view command) const {
  std::string missing;
  for (const auto& [source, names] : {std::pair{&kafka, &kKafka}, std::pair{&redis, &kRedis},
                                      std::pair{&mongo, &kMongo}, std::pair{&amqp, &kAmqp}}) {
    if (!source->value.empty()) continue;
    if (!missing.empty()) missing += ", ";
    missing += std::string(names->flag) + " (or $" + names->variable + ")";
  }
  if (missing.empty()) return {};
  return invalid_argument(std::string(command) +
                          " in distributed mode needs all four backends: missing " + missing);
}

StatusOr<BackendUris> resolve_backends(const BackendFlags& flags, const std::string& config_file) {
  auto from_file = read_config_section(config_file);
  if (!from_file.ok()) return from_file.status();
  BackendUris uris;
  pick(uris.kafka, flags.kafka, kKafka, (*from_file)[kKafka.key], config_file);
  pick(uris.redis, flags.redis, kRedis, (*from_file)[kRedis.key], config_file);
  pick(uris.mongo, flags.mongo, kMongo, (*from_file)[kMongo.key], config_file);
  pick(uris.amqp, flags.amqp, kAmqp, (*from_file)[kAmqp.key], config_file);
  pick(uris.kafka_topic_template, flags.kafka_topic_template, kTopicTemplate,
       (*from_file)[kTopicTemplate.key], config_file);
  pick(uris.kafka_priority_topic_template, flags.kafka_priority_topic_template,
       kPriorityTopicTemplate, (*from_file)[kPriorityTopicTemplate.key], config_file);
  return uris;
}

}  // namespace dtq::cli
