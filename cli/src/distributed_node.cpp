#include "distributed_node.hpp"

#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <cstdlib>
#include <map>
#include <optional>

#include "dtq/core/uri.hpp"

namespace dtq::cli {
namespace {

constexpr std::chrono::milliseconds kKafkaStartupTimeout{5000};
constexpr std::chrono::milliseconds kKafkaHealthTimeout{2000};

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

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

// A URI's parts: scheme://[user[:password]@]host[:port][/path][?query].
struct Uri {
  std::string scheme;
  std::string user;
  std::string password;
  bool has_password = false;
  std::string host;
  std::optional<uint16_t> port;
  bool has_path = false;
  std::string path;  // without the leading '/', still percent-encoded
  std::string query;
};

// The URI with any password replaced by ***, for messages.
std::string redacted(std::string_view uri) {
  const size_t scheme_end = uri.find("://");
  if (scheme_end == std::string_view::npos) return std::string(uri);
  const size_t authority = scheme_end + 3;
  const size_t at = uri.find('@', authority);
  const size_t slash = uri.find('/', authority);
  if (at == std::string_view::npos || (slash != std::string_view::npos && slash < at))
    return std::string(uri);
  const size_t colon = uri.find(':', authority);
  if (colon == std::string_view::npos || colon > at) return std::string(uri);
  return std::string(uri.substr(0, colon + 1)) + "***" + std::string(uri.substr(at));
}

Status bad_uri(const BackendUris::Source& uri, std::string_view why, std::string_view form) {
  return invalid_argument(uri.from + ": \"" + redacted(uri.value) + "\" " + std::string(why) +
                          " (expected " + std::string(form) + ")");
}

StatusOr<Uri> parse_uri(const BackendUris::Source& source, std::string_view form) {
  std::string_view text = source.value;
  Uri uri;
  const size_t scheme_end = text.find("://");
  if (scheme_end == std::string_view::npos || scheme_end == 0)
    return bad_uri(source, "is not a URI", form);
  uri.scheme = std::string(text.substr(0, scheme_end));
  text.remove_prefix(scheme_end + 3);
  if (const size_t q = text.find('?'); q != std::string_view::npos) {
    uri.query = std::string(text.substr(q + 1));
    text = text.substr(0, q);
  }
  if (const size_t slash = text.find('/'); slash != std::string_view::npos) {
    uri.has_path = true;
    uri.path = std::string(text.substr(slash + 1));
    text = text.substr(0, slash);
  }
  if (const size_t at = text.rfind('@'); at != std::string_view::npos) {
    const std::string_view info = text.substr(0, at);
    const size_t colon = info.find(':');
    uri.user = percent_decode(info.substr(0, colon));
    if (colon != std::string_view::npos) {
      uri.has_password = true;
      uri.password = percent_decode(info.substr(colon + 1));
    }
    text.remove_prefix(at + 1);
  }
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {  // [IPv6]
    const size_t close = text.find(']');
    if (close == std::string_view::npos) return bad_uri(source, "has an unclosed [", form);
    uri.host = std::string(text.substr(1, close - 1));
    text.remove_prefix(close + 1);
    if (!text.empty()) {
      if (text.front() != ':') return bad_uri(source, "has text after the host", form);
      port_text = text.substr(1);
    }
  } else {
    const size_t colon = text.rfind(':');
    uri.host = std::string(text.substr(0, colon));
    if (colon != std::string_view::npos) port_text = text.substr(colon + 1);
  }
  if (uri.host.empty()) return bad_uri(source, "names no host", form);
  if (!port_text.empty() || text.ends_with(":")) {
    unsigned value = 0;
    const auto [end, error] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (error != std::errc() || end != port_text.data() + port_text.size() || value == 0 ||
        value > 65535) {
      return bad_uri(source, "has a bad port", form);
    }
    uri.port = static_cast<uint16_t>(value);
  }
  return uri;
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

Status starting(std::string_view backend, const BackendUris::Source& source, const Status& why) {
  return {why.code(), "cannot start: " + std::string(backend) + " (from " + source.from +
                          "): " + why.message()};
}

}  // namespace

void add_backend_flags(CLI::App& command, BackendFlags& flags) {
  command.add_option("--kafka", flags.kafka,
                     "Kafka bootstrap servers HOST:PORT[,HOST:PORT...] ($DTQ_KAFKA_BOOTSTRAP)");
  command.add_option("--redis", flags.redis,
                     "Redis URI redis://[USER:PASS@]HOST:PORT[/DB] ($DTQ_REDIS_URL)");
  command.add_option("--mongo", flags.mongo,
                     "MongoDB connection string mongodb://... ($DTQ_MONGODB_URI)");
  command.add_option("--amqp", flags.amqp,
                     "RabbitMQ URI amqp://USER:PASS@HOST:PORT/VHOST ($DTQ_AMQP_URL)");
  command.add_option("--kafka-topic-template", flags.kafka_topic_template,
                     "Job topic name, %s = job type (default jobs.%s.v1; $KAFKA_TOPIC_TEMPLATE)");
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
  std::map<std::string, std::string> from_file;
  if (!config_file.empty()) {
    const std::string where = "config file " + config_file + ": ";
    simdjson::padded_string text;
    if (simdjson::padded_string::load(config_file).get(text)) {
      return not_found("cannot read config file " + config_file);
    }
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (auto error = parser.parse(text).get(root); error) {
      return invalid_argument(where + "malformed JSON: " + simdjson::error_message(error));
    }
    simdjson::dom::object sections;
    if (root.get(sections)) return invalid_argument(where + "expected a JSON object");
    simdjson::dom::element backends;
    if (sections["backends"].get(backends) == simdjson::SUCCESS) {
      simdjson::dom::object entries;
      if (backends.get(entries)) return invalid_argument(where + "backends must be an object");
      for (const auto field : entries) {
        const std::string key(field.key);
        const bool known = key == kKafka.key || key == kRedis.key || key == kMongo.key ||
                           key == kAmqp.key || key == kTopicTemplate.key;
        if (!known) {
          return invalid_argument(where + "unknown setting backends." + key +
                                  " (known: kafka, redis, mongo, amqp, kafka_topic_template)");
        }
        std::string_view value;
        if (field.value.get(value))
          return invalid_argument(where + "backends." + key + " must be a string");
        from_file[key] = std::string(value);
      }
    }
  }
  BackendUris uris;
  pick(uris.kafka, flags.kafka, kKafka, from_file[kKafka.key], config_file);
  pick(uris.redis, flags.redis, kRedis, from_file[kRedis.key], config_file);
  pick(uris.mongo, flags.mongo, kMongo, from_file[kMongo.key], config_file);
  pick(uris.amqp, flags.amqp, kAmqp, from_file[kAmqp.key], config_file);
  pick(uris.kafka_topic_template, flags.kafka_topic_template, kTopicTemplate,
       from_file[kTopicTemplate.key], config_file);
  return uris;
}

StatusOr<redis::RedisSettings> redis_settings(const BackendUris::Source& source) {
  constexpr std::string_view form = "redis://[USER:PASS@]HOST:PORT[/DB]";
  auto uri = parse_uri(source, form);
  if (!uri.ok()) return uri.status();
  if (uri->scheme == "rediss")
    return bad_uri(source, "asks for TLS, which dtq's Redis client does not speak", form);
  if (uri->scheme != "redis") return bad_uri(source, "is not a redis:// URI", form);
  if (!uri->query.empty())
    return bad_uri(source, "has options (?...), which are not supported", form);
  redis::RedisSettings settings;
  settings.host = uri->host;
  settings.port = uri->port.value_or(6379);
  settings.username = uri->user;
  settings.password = uri->password;
  if (!uri->user.empty() && !uri->has_password) {
    // redis://PASSWORD@host: a password alone, as redis-cli -u reads it.
    settings.password = uri->user;
    settings.username.clear();
  }
  if (uri->has_path && !uri->path.empty()) {
    int db = -1;
    const auto [end, error] =
        std::from_chars(uri->path.data(), uri->path.data() + uri->path.size(), db);
    if (error != std::errc() || end != uri->path.data() + uri->path.size() || db < 0) {
      return bad_uri(source, "has a database that is not a number", form);
    }
    settings.db = db;
  }
  if (Status valid = settings.validate(); !valid.ok())
    return bad_uri(source, valid.message(), form);
  return settings;
}

StatusOr<rabbitmq::RabbitSettings> rabbit_settings(const BackendUris::Source& source) {
  constexpr std::string_view form = "amqp://USER:PASS@HOST:PORT/VHOST";
  auto uri = parse_uri(source, form);
  if (!uri.ok()) return uri.status();
  if (uri->scheme == "amqps") return bad_uri(source, "asks for TLS, which is not wired yet", form);
  if (uri->scheme != "amqp") return bad_uri(source, "is not an amqp:// URI", form);
  if (!uri->query.empty())
    return bad_uri(source, "has options (?...), which are not supported", form);
  rabbitmq::RabbitSettings settings;
  settings.host = uri->host;
  settings.port = uri->port.value_or(5672);
  if (!uri->user.empty()) settings.username = uri->user;
  if (uri->has_password) settings.password = uri->password;
  // amqp://host and amqp://host/ use the default vhost "/"; "%2f" spells it too.
  if (uri->has_path && !uri->path.empty()) settings.vhost = percent_decode(uri->path);
  if (Status valid = settings.validate(); !valid.ok())
    return bad_uri(source, valid.message(), form);
  return settings;
}

StatusOr<mongo::MongoSettings> mongo_settings(const BackendUris::Source& source) {
  constexpr std::string_view form = "mongodb://[USER:PASS@]HOST:PORT[,HOST:PORT...][/?OPTIONS]";
  if (!source.value.starts_with("mongodb://") && !source.value.starts_with("mongodb+srv://")) {
    return bad_uri(source, "is not a mongodb:// connection string", form);
  }
  mongo::MongoSettings settings;
  settings.uri = source.value;
  if (Status valid = settings.validate(); !valid.ok())
    return bad_uri(source, valid.message(), form);
  return settings;
}

StatusOr<kafka::KafkaSettings> kafka_settings(const BackendUris& uris) {
  constexpr std::string_view form = "HOST:PORT[,HOST:PORT...], optionally after kafka://";
  std::string_view text = uris.kafka.value;
  if (text.starts_with("kafka://")) text.remove_prefix(8);
  if (text.empty()) return bad_uri(uris.kafka, "names no broker", form);
  for (std::string_view rest = text; !rest.empty();) {
    const size_t comma = rest.find(',');
    const std::string_view broker = rest.substr(0, comma);
    const size_t colon = broker.rfind(':');
    unsigned port = 0;
    if (colon == std::string_view::npos || colon == 0 ||
        std::from_chars(broker.data() + colon + 1, broker.data() + broker.size(), port).ptr !=
            broker.data() + broker.size() ||
        port == 0 || port > 65535) {
      return bad_uri(uris.kafka, "has a broker that is not HOST:PORT", form);
    }
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  kafka::KafkaSettings settings;
  settings.bootstrap_servers = std::string(text);
  if (!uris.kafka_topic_template.value.empty())
    settings.topic_template = uris.kafka_topic_template.value;
  return settings;
}

StatusOr<DistributedBackends> connect_backends(const BackendUris& uris, DistributedRole role,
                                               const std::vector<std::string>& job_types) {
  DistributedBackends backends;
  backends.uris = uris;

  auto redis = redis_settings(uris.redis);
  if (!redis.ok()) return redis.status();
  auto kafka = kafka_settings(uris);
  if (!kafka.ok()) return kafka.status();
  auto mongo = mongo_settings(uris.mongo);
  if (!mongo.ok()) return mongo.status();
  auto rabbit = rabbit_settings(uris.amqp);
  if (!rabbit.ok()) return rabbit.status();

  auto statuses = redis::RedisStatusStore::connect(*redis);
  if (!statuses.ok()) return starting("redis", uris.redis, statuses.status());
  backends.statuses = std::move(statuses).value();
  auto registry = redis::RedisJobTypeRegistry::connect(*redis);
  if (!registry.ok()) return starting("redis", uris.redis, registry.status());
  backends.registry = std::move(registry).value();

  auto queue = kafka::KafkaJobQueue::create(*kafka);
  if (!queue.ok()) return starting("kafka", uris.kafka, queue.status());
  backends.queue = std::move(queue).value();
  if (Status answered = backends.queue->ping(kKafkaStartupTimeout); !answered.ok()) {
    return starting("kafka", uris.kafka, answered);
  }
  for (const auto& type : job_types) {
    if (Status topics = backends.queue->ensure_topics(type); !topics.ok()) {
      return starting(
          "kafka", uris.kafka,
          Status(topics.code(), "the topics of job type " + type + ": " + topics.message()));
    }
  }

  auto results = mongo::MongoResultStore::connect(*mongo);
  if (!results.ok()) return starting("mongodb", uris.mongo, results.status());
  backends.results = std::move(results).value();

  if (role == DistributedRole::kApi) {
    auto progress = rabbitmq::RabbitProgressQuery::connect(*rabbit);
    if (!progress.ok()) return starting("rabbitmq", uris.amqp, progress.status());
    backends.progress = std::move(progress).value();
  } else {
    auto responder = rabbitmq::ProgressResponder::start(*rabbit, *backends.statuses);
    if (!responder.ok()) return starting("rabbitmq", uris.amqp, responder.status());
    backends.responder = std::move(responder).value();
  }
  return backends;
}

// --- BackendHealth ------------------------------------------------------------

BackendHealth::BackendHealth(std::vector<std::pair<std::string, Check>> checks,
                             std::chrono::milliseconds interval,
                             std::function<void(bool, const std::string&)> on_change)
    : checks_(std::move(checks)),
      interval_(interval),
      on_change_(std::move(on_change)),
      failing_(checks_.size()) {}

BackendHealth::~BackendHealth() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void BackendHealth::start() {
  run_checks();
  std::lock_guard lock(mutex_);
  if (!thread_.joinable() && !stopping_) thread_ = std::thread([this] { loop(); });
}

bool BackendHealth::healthy() const {
  std::lock_guard lock(mutex_);
  return healthy_;
}

void BackendHealth::run_checks() {
  std::vector<std::string> now(checks_.size());
  for (size_t i = 0; i < checks_.size(); ++i) {
    Status status = checks_[i].second();
    if (!status.ok()) now[i] = status.message().empty() ? "unavailable" : status.message();
  }
  bool healthy = true;
  std::string reason;
  bool changed = false;
  {
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < checks_.size(); ++i) {
      const std::string& name = checks_[i].first;
      if (!now[i].empty()) {
        healthy = false;
        if (!reason.empty()) reason += "; ";
        reason += name + ": " + now[i];
        if (failing_[i].empty()) {
          spdlog::warn("backend {} is unavailable: {} (its client reconnects with backoff)", name,
                       now[i]);
        }
      } else if (!failing_[i].empty()) {
        spdlog::info("backend {} is available again", name);
      }
    }
    changed = first_ || healthy != healthy_ || reason != reason_;
    first_ = false;
    failing_ = now;
    healthy_ = healthy;
    reason_ = reason;
  }
  if (changed && on_change_) on_change_(healthy, reason);
}

void BackendHealth::loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, interval_, [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    run_checks();
    lock.lock();
  }
}

std::vector<std::pair<std::string, BackendHealth::Check>> BackendHealth::checks_for(
    DistributedBackends& backends, DistributedRole role) {
  std::vector<std::pair<std::string, Check>> checks;
  auto* statuses = backends.statuses.get();
  auto* registry = backends.registry.get();
  auto* queue = backends.queue.get();
  auto* results = backends.results.get();
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
    auto* progress = backends.progress.get();
    checks.emplace_back("rabbitmq", [progress]() -> Status {
      if (progress->healthy()) return {};
      return unavailable("not connected to rabbitmq at " + progress->settings().describe());
    });
  } else {
    auto* responder = backends.responder.get();
    checks.emplace_back("rabbitmq", [responder]() -> Status {
      if (responder->healthy()) return {};
      return unavailable("not connected to rabbitmq at " + responder->settings().describe());
    });
  }
  return checks;
}

}  // namespace dtq::cli
