#include "topic_reader.hpp"

#include <map>
#include <thread>

#include "dtq/core/ids.hpp"

namespace dtq::kafka {

StatusOr<std::unique_ptr<TopicReader>> TopicReader::create(const KafkaSettings& settings) {
  std::unique_ptr<TopicReader> reader(new TopicReader(settings));
  // The consumer API wants a group id; assign() never joins the group. Not a
  // job type's group: job types have no '-'.
  auto config = make_config(settings, {{"group.id", settings.group_id_prefix + "dlq-reader"},
                                       {"enable.auto.commit", "false"},
                                       {"enable.auto.offset.store", "false"},
                                       {"enable.partition.eof", "true"},
                                       {"allow.auto.create.topics", "false"}});
  if (!config.ok()) return config.status();
  auto handle = make_client(ClientKind::kConsumer, *config);
  if (!handle.ok()) return handle.status();
  reader->handle_ = std::move(handle).value();
  rd_kafka_poll_set_consumer(reader->handle_.get());
  return reader;
}

StatusOr<std::pair<int64_t, int64_t>> TopicReader::watermarks(const std::string& topic,
                                                              int32_t partition) {
  const auto until = std::chrono::steady_clock::now() + settings_.request_timeout;
  while (true) {
    int64_t low = 0;
    int64_t high = 0;
    const auto err = rd_kafka_query_watermark_offsets(handle_.get(), topic.c_str(), partition, &low,
                                                      &high, to_ms(settings_.request_timeout));
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return std::make_pair(low, high);
    // A partition just created, or moving after a broker restart, has no
    // leader for a moment.
    const bool transient = err == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION ||
                           err == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE ||
                           err == RD_KAFKA_RESP_ERR__TRANSPORT ||
                           err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN;
    if (!transient || std::chrono::steady_clock::now() >= until) {
      return kafka_error(err, "offsets of " + topic + " [" + std::to_string(partition) + "]");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

Status TopicReader::read(const std::vector<OffsetRange>& ranges,
                         const std::function<void(const rd_kafka_message_t*)>& on) {
  std::map<std::pair<std::string, int32_t>, int64_t> remaining;  // → end offset
  PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(ranges.size())));
  for (const auto& range : ranges) {
    if (range.from >= range.to) continue;
    rd_kafka_topic_partition_list_add(list.get(), range.topic.c_str(), range.partition)->offset =
        range.from;
    remaining[{range.topic, range.partition}] = range.to;
  }
  if (remaining.empty()) return {};
  if (const auto err = rd_kafka_assign(handle_.get(), list.get());
      err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return kafka_error(err, "reading topics");
  }
  Status status;
  auto idle_until = std::chrono::steady_clock::now() + settings_.request_timeout;
  while (!remaining.empty()) {
    MessagePtr message(rd_kafka_consumer_poll(handle_.get(), 100));
    if (!message) {
      if (std::chrono::steady_clock::now() > idle_until) {
        status = {StatusCode::kDeadlineExceeded,
                  "reading " + remaining.begin()->first.first + ": no answer from Kafka within " +
                      std::to_string(settings_.request_timeout.count()) + " ms"};
        break;
      }
      continue;
    }
    idle_until = std::chrono::steady_clock::now() + settings_.request_timeout;
    const std::string topic = message->rkt != nullptr ? rd_kafka_topic_name(message->rkt) : "";
    const auto it = remaining.find({topic, message->partition});
    if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      if (it != remaining.end()) remaining.erase(it);
      continue;
    }
    if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      // Transport errors are retried by librdkafka; the idle timeout bounds it.
      if (message->err == RD_KAFKA_RESP_ERR__TRANSPORT ||
          message->err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        continue;
      }
      status = kafka_error(message->err, "reading " + topic);
      break;
    }
    if (it == remaining.end()) continue;
    if (message->offset < it->second) on(message.get());
    if (message->offset + 1 >= it->second) remaining.erase(it);
  }
  rd_kafka_assign(handle_.get(), nullptr);
  return status;
}

}  // namespace dtq::kafka
