#include "rdkafka_util.hpp"

#include <spdlog/spdlog.h>

#include "dtq/core/ids.hpp"

namespace dtq::kafka {
namespace {

void log_to_spdlog(const rd_kafka_t* handle, int level, const char* facility, const char* text) {
  const char* name = handle != nullptr ? rd_kafka_name(handle) : "rdkafka";
  // syslog levels: 0..3 error, 4 warning, 5..6 notice/info, 7 debug.
  if (level <= 3) {
    spdlog::error("kafka {} {}: {}", name, facility, text);
  } else if (level == 4) {
    spdlog::warn("kafka {} {}: {}", name, facility, text);
  } else if (level <= 6) {
    spdlog::info("kafka {} {}: {}", name, facility, text);
  } else {
    spdlog::debug("kafka {} {}: {}", name, facility, text);
  }
}

void error_to_spdlog(rd_kafka_t* handle, int error, const char* reason, void* /*opaque*/) {
  log_client_error(handle, error, reason);
}

Status set(rd_kafka_conf_t* config, const std::string& name, const std::string& value) {
  char error[512];
  if (rd_kafka_conf_set(config, name.c_str(), value.c_str(), error, sizeof error) !=
      RD_KAFKA_CONF_OK) {
    return invalid_argument("kafka setting " + name + "=\"" +
                            (name.find("password") != std::string::npos ? "***" : value) +
                            "\": " + error);
  }
  return {};
}

}  // namespace

void log_client_error(rd_kafka_t* handle, int error, const char* reason) {
  const auto code = static_cast<rd_kafka_resp_err_t>(error);
  if (code == RD_KAFKA_RESP_ERR__FATAL) {
    char text[512];
    const auto fatal = rd_kafka_fatal_error(handle, text, sizeof text);
    spdlog::error("kafka {} fatal error {}: {}", rd_kafka_name(handle), rd_kafka_err2name(fatal),
                  text);
    return;
  }
  // Connection losses are expected while a broker restarts; librdkafka
  // reconnects by itself.
  spdlog::warn("kafka {}: {} ({})", rd_kafka_name(handle), reason, rd_kafka_err2name(code));
}

Status kafka_error(rd_kafka_resp_err_t error, std::string_view what) {
  std::string message =
      std::string(what) + ": " + rd_kafka_err2str(error) + " (" + rd_kafka_err2name(error) + ")";
  switch (error) {
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
      return {StatusCode::kDeadlineExceeded, std::move(message)};
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_PARTITIONS:
    case RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR:
    case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
      return invalid_argument(std::move(message));
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
      return not_found(std::move(message));
    default:
      return unavailable(std::move(message));
  }
}

StatusOr<rd_kafka_conf_t*> make_config(const KafkaSettings& settings,
                                       const HeaderList& properties) {
  rd_kafka_conf_t* config = rd_kafka_conf_new();
  HeaderList all = {{"bootstrap.servers", settings.bootstrap_servers},
                    {"client.id", settings.client_id}};
  const KafkaSecurity& security = settings.security;
  const std::pair<const char*, const std::string*> optional[] = {
      {"security.protocol", &security.protocol},
      {"sasl.mechanisms", &security.sasl_mechanism},
      {"sasl.username", &security.sasl_username},
      {"sasl.password", &security.sasl_password},
      {"ssl.ca.location", &security.ssl_ca_location},
      {"ssl.certificate.location", &security.ssl_certificate_location},
      {"ssl.key.location", &security.ssl_key_location},
      {"ssl.key.password", &security.ssl_key_password}};
  for (const auto& [name, value] : optional) {
    if (!value->empty()) all.emplace_back(name, *value);
  }
  all.insert(all.end(), properties.begin(), properties.end());
  all.insert(all.end(), settings.extra.begin(), settings.extra.end());
  for (const auto& [name, value] : all) {
    if (Status s = set(config, name, value); !s.ok()) {
      rd_kafka_conf_destroy(config);
      return s;
    }
  }
  rd_kafka_conf_set_log_cb(config, log_to_spdlog);
  rd_kafka_conf_set_error_cb(config, error_to_spdlog);
  return config;
}

StatusOr<KafkaHandle> make_client(ClientKind kind, rd_kafka_conf_t* config) {
  char error[512];
  rd_kafka_t* handle =
      rd_kafka_new(kind == ClientKind::kProducer ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER, config,
                   error, sizeof error);
  if (handle == nullptr) {
    rd_kafka_conf_destroy(config);  // rd_kafka_new owns it only on success
    return invalid_argument(std::string("cannot create a Kafka client: ") + error);
  }
  return KafkaHandle(handle);
}

std::optional<std::string_view> header(const rd_kafka_message_t* message, const char* name) {
  rd_kafka_headers_t* headers = nullptr;
  // The headers stay owned by the message.
  if (rd_kafka_message_headers(message, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return std::nullopt;
  }
  const void* value = nullptr;
  size_t size = 0;
  if (rd_kafka_header_get_last(headers, name, &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return std::nullopt;
  }
  if (value == nullptr) return std::string_view();
  return std::string_view(static_cast<const char*>(value), size);
}

HeadersPtr make_headers(const HeaderList& headers) {
  HeadersPtr out(rd_kafka_headers_new(headers.size()));
  for (const auto& [name, value] : headers) {
    rd_kafka_header_add(out.get(), name.data(), static_cast<ssize_t>(name.size()), value.data(),
                        static_cast<ssize_t>(value.size()));
  }
  return out;
}

std::string_view payload_of(const rd_kafka_message_t* message) {
  if (message->payload == nullptr) return {};
  return {static_cast<const char*>(message->payload), message->len};
}

std::string_view key_of(const rd_kafka_message_t* message) {
  if (message->key == nullptr) return {};
  return {static_cast<const char*>(message->key), message->key_len};
}

StatusOr<std::vector<std::pair<std::string, std::string>>> list_template_topics(
    rd_kafka_t* handle, std::string_view topic_template, std::chrono::milliseconds timeout) {
  const size_t at = topic_template.find("%s");
  const std::string_view prefix = topic_template.substr(0, at);
  const std::string_view suffix = topic_template.substr(at + 2);
  const rd_kafka_metadata_t* metadata = nullptr;
  if (const auto err = rd_kafka_metadata(handle, 1, nullptr, &metadata, to_ms(timeout));
      err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return kafka_error(err, "listing topics");
  }
  std::vector<std::pair<std::string, std::string>> out;
  for (int i = 0; i < metadata->topic_cnt; ++i) {
    const std::string_view name = metadata->topics[i].topic;
    if (name.size() < prefix.size() + suffix.size() || name.substr(0, prefix.size()) != prefix ||
        name.substr(name.size() - suffix.size()) != suffix) {
      continue;
    }
    const std::string_view type =
        name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
    if (is_valid_job_type(type)) out.emplace_back(std::string(type), std::string(name));
  }
  rd_kafka_metadata_destroy(metadata);
  return out;
}

StatusOr<int> partition_count(rd_kafka_t* handle, const std::string& topic,
                              std::chrono::milliseconds timeout) {
  rd_kafka_topic_t* topic_handle = rd_kafka_topic_new(handle, topic.c_str(), nullptr);
  const rd_kafka_metadata_t* metadata = nullptr;
  const auto err = rd_kafka_metadata(handle, 0, topic_handle, &metadata, to_ms(timeout));
  rd_kafka_topic_destroy(topic_handle);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return kafka_error(err, "metadata of topic " + topic);
  Status status;
  int count = 0;
  if (metadata->topic_cnt != 1 || metadata->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    status = kafka_error(metadata->topic_cnt == 1 ? metadata->topics[0].err
                                                  : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
                         "topic " + topic);
  } else {
    count = metadata->topics[0].partition_cnt;
    // Usable once every partition has a leader.
    for (int i = 0; i < count; ++i) {
      const auto& partition = metadata->topics[0].partitions[i];
      if (partition.err != RD_KAFKA_RESP_ERR_NO_ERROR || partition.leader < 0) {
        status = kafka_error(partition.err != RD_KAFKA_RESP_ERR_NO_ERROR
                                 ? partition.err
                                 : RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
                             "topic " + topic + " [" + std::to_string(partition.id) + "]");
        break;
      }
    }
  }
  rd_kafka_metadata_destroy(metadata);
  if (!status.ok()) return status;
  return count;
}

}  // namespace dtq::kafka
