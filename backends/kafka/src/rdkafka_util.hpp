// Small helpers over librdkafka's C API: owning handles, configuration from
// KafkaSettings, errors as Status, headers. Internal to dtq::kafka.
//
// Thread-safety: the functions are safe from any thread; the handles are
// owned by one object each.
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dtq/core/status.hpp"
#include "dtq/kafka/kafka_job_queue.hpp"

namespace dtq::kafka {

struct HandleDeleter {
  void operator()(rd_kafka_t* handle) const { rd_kafka_destroy(handle); }
};
struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* list) const {
    rd_kafka_topic_partition_list_destroy(list);
  }
};
struct MessageDeleter {
  void operator()(rd_kafka_message_t* message) const { rd_kafka_message_destroy(message); }
};
struct QueueDeleter {
  void operator()(rd_kafka_queue_t* queue) const { rd_kafka_queue_destroy(queue); }
};
struct EventDeleter {
  void operator()(rd_kafka_event_t* event) const { rd_kafka_event_destroy(event); }
};
struct HeadersDeleter {
  void operator()(rd_kafka_headers_t* headers) const { rd_kafka_headers_destroy(headers); }
};

using KafkaHandle = std::unique_ptr<rd_kafka_t, HandleDeleter>;
using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;
using MessagePtr = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;
using QueuePtr = std::unique_ptr<rd_kafka_queue_t, QueueDeleter>;
using EventPtr = std::unique_ptr<rd_kafka_event_t, EventDeleter>;
using HeadersPtr = std::unique_ptr<rd_kafka_headers_t, HeadersDeleter>;

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// "what: Broker: Unknown topic or partition (UNKNOWN_TOPIC_OR_PART)" with a
// code that tells a caller whether retrying may help.
Status kafka_error(rd_kafka_resp_err_t error, std::string_view what);

// What make_config's error callback does with a client error: a fatal one
// logged with its cause, the others (connection losses librdkafka retries,
// refusals) as warnings. For a client that installs its own callback.
void log_client_error(rd_kafka_t* handle, int error, const char* reason);

inline int to_ms(std::chrono::milliseconds d) {
  return static_cast<int>(std::min<int64_t>(d.count(), 24 * 3600 * 1000));
}

enum class ClientKind { kProducer, kConsumer };

// A configuration with the connection, security and `extra` settings
// applied, and the client's logs routed to spdlog. `properties` are applied
// after the connection settings and before `extra`.
StatusOr<rd_kafka_conf_t*> make_config(const KafkaSettings& settings, const HeaderList& properties);
StatusOr<KafkaHandle> make_client(ClientKind kind, rd_kafka_conf_t* config);

// Last value of header `name`, if present.
std::optional<std::string_view> header(const rd_kafka_message_t* message, const char* name);
HeadersPtr make_headers(const HeaderList& headers);

std::string_view payload_of(const rd_kafka_message_t* message);
std::string_view key_of(const rd_kafka_message_t* message);

// Topics whose name matches `topic_template` ("prefix%ssuffix") with a valid
// job type in place of %s: type → name.
StatusOr<std::vector<std::pair<std::string, std::string>>> list_template_topics(
    rd_kafka_t* handle, std::string_view topic_template, std::chrono::milliseconds timeout);
// Partition count of `topic`; NotFound when the topic does not exist,
// Unavailable while one of its partitions has no leader.
StatusOr<int> partition_count(rd_kafka_t* handle, const std::string& topic,
                              std::chrono::milliseconds timeout);

}  // namespace dtq::kafka
