// Producer: the one idempotent producer (acks=all) of a KafkaJobQueue, with
// a thread that serves its delivery reports, and the admin calls that ride
// on its connection (creating topics).
//
// Thread-safety: every member function is thread-safe. Ownership: owns the
// librdkafka producer; a completion given to produce_async() runs on the
// producer's thread, and every one runs before the destructor returns.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "dtq/core/thread_annotations.hpp"
#include "rdkafka_util.hpp"

namespace dtq::kafka {

struct Record {
  std::string topic;
  std::string key;
  std::string value;
  HeaderList headers;
};

class Producer {
 public:
  static StatusOr<std::unique_ptr<Producer>> create(const KafkaSettings& settings);
  // Waits up to the delivery timeout for records still on their way.
  ~Producer();
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Produces every record and waits for the broker's acknowledgement of
  // each; the first failure, with how many of the records were not
  // confirmed, when any failed.
  Status produce(std::span<const Record> records);
  // Produces `record`; `done` runs once with the outcome.
  void produce_async(const Record& record, std::function<void(Status)> done);

  // Topic configs by name ("retention.ms" → "2592000000").
  using TopicConfig = std::map<std::string, std::string>;
  // Creates the topics that do not exist yet (an existing one is fine),
  // each with `config`. Those created are added to `created`, if given.
  Status create_topics(const std::vector<std::string>& topics, int32_t partitions,
                       int16_t replication_factor, const TopicConfig& config = {},
                       std::vector<std::string>* created = nullptr);
  // The configs the broker holds for `topic` itself (DescribeConfigs,
  // source DYNAMIC_TOPIC_CONFIG; broker defaults left out).
  StatusOr<TopicConfig> topic_config(const std::string& topic);
  // Sets `config` on an existing topic when a value differs. AlterConfigs
  // replaces a topic's whole set, so the topic's other configs are sent
  // back with it as they were.
  Status set_topic_config(const std::string& topic, const TopicConfig& config);
  // Waits until the topics appear in the cluster's metadata.
  Status wait_visible(const std::vector<std::string>& topics);
  // One metadata request (no topic) answered by a broker. When no broker
  // answered and one refused the connection meanwhile (SASL authentication,
  // the TLS handshake): FailedPrecondition with the broker's reason.
  Status ping(std::chrono::milliseconds timeout);

 private:
  explicit Producer(const KafkaSettings& settings) : settings_(settings) {}
  static void on_delivery(rd_kafka_t* handle, const rd_kafka_message_t* message, void* opaque);
  // Logs the client's errors and keeps the last refusal for ping().
  static void on_error(rd_kafka_t* handle, int error, const char* reason, void* opaque);
  // Hands the record to librdkafka; runs `done` at once if it refused it.
  void enqueue(const Record& record, std::function<void(Status)> done);

  const KafkaSettings settings_;
  KafkaHandle handle_;
  std::atomic<bool> stop_{false};
  std::thread poller_;

  Mutex mutex_;
  // The last SASL or TLS refusal librdkafka reported; cleared by a ping
  // that a broker answered.
  std::string refused_ DTQ_GUARDED_BY(mutex_);
};

}  // namespace dtq::kafka
