// TopicReader: reads given offset ranges of given partitions with a consumer
// that joins no group and commits nothing; for listing dead letters and
// finding the one to replay.
//
// Thread-safety: none; its owner serializes calls. Ownership: owns its
// librdkafka consumer.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "rdkafka_util.hpp"

namespace dtq::kafka {

struct OffsetRange {
  std::string topic;
  int32_t partition = 0;
  int64_t from = 0;  // first offset read
  int64_t to = 0;    // one past the last
};

class TopicReader {
 public:
  static StatusOr<std::unique_ptr<TopicReader>> create(const KafkaSettings& settings);

  // Calls `on` for every record in the ranges, in offset order per
  // partition. Fails if the broker stays silent for the request timeout.
  Status read(const std::vector<OffsetRange>& ranges,
              const std::function<void(const rd_kafka_message_t*)>& on);
  // {low, high}: the first offset kept and one past the last written.
  StatusOr<std::pair<int64_t, int64_t>> watermarks(const std::string& topic, int32_t partition);
  rd_kafka_t* handle() { return handle_.get(); }

 private:
  explicit TopicReader(const KafkaSettings& settings) : settings_(settings) {}

  const KafkaSettings settings_;
  KafkaHandle handle_;
};

}  // namespace dtq::kafka
