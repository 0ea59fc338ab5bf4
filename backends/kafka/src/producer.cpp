#include "producer.hpp"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <mutex>
#include <thread>

namespace dtq::kafka {
namespace {

// What a record's delivery report calls; owned by the record in flight.
struct Completion {
  std::function<void(Status)> done;
};

// Waits for the reports of one produce() call. Shared with the completions,
// so a report arriving after the caller gave up touches nothing freed.
struct Batch {
  std::mutex mutex;
  std::condition_variable finished;
  size_t remaining = 0;
  size_t failed = 0;
  Status first_error;
};

}  // namespace

StatusOr<std::unique_ptr<Producer>> Producer::create(const KafkaSettings& settings) {
  std::unique_ptr<Producer> producer(new Producer(settings));
  auto config = make_config(
      settings, {{"enable.idempotence", "true"},
                 {"acks", "all"},
                 // The Java client's partitioner: a job id lands on the same partition
                 // whichever client produced it.
                 {"partitioner", "murmur2_random"},
                 {"delivery.timeout.ms", std::to_string(settings.delivery_timeout.count())},
                 {"linger.ms", "2"},
                 // Topics are created explicitly, with the configured partition count.
                 {"allow.auto.create.topics", "false"}});
  if (!config.ok()) return config.status();
  rd_kafka_conf_set_dr_msg_cb(*config, on_delivery);
  rd_kafka_conf_set_error_cb(*config, on_error);
  rd_kafka_conf_set_opaque(*config, producer.get());
  auto handle = make_client(ClientKind::kProducer, *config);
  if (!handle.ok()) return handle.status();
  producer->handle_ = std::move(handle).value();
  producer->poller_ = std::thread([p = producer.get()] {
    while (!p->stop_) rd_kafka_poll(p->handle_.get(), 100);
  });
  return producer;
}

Producer::~Producer() {
  if (!handle_) return;
  const auto err = rd_kafka_flush(handle_.get(), to_ms(settings_.delivery_timeout));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    spdlog::error("kafka producer closing with {} records not acknowledged: {}",
                  rd_kafka_outq_len(handle_.get()), rd_kafka_err2str(err));
    // Their completions still run (with an error) while librdkafka purges.
    rd_kafka_purge(handle_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(handle_.get(), 1000);
  }
  stop_ = true;
  if (poller_.joinable()) poller_.join();
  rd_kafka_poll(handle_.get(), 0);  // reports that arrived after the poller stopped
}

void Producer::on_delivery(rd_kafka_t* /*handle*/, const rd_kafka_message_t* message,
                           void* /*opaque*/) {
  std::unique_ptr<Completion> completion(static_cast<Completion*>(message->_private));
  if (!completion) return;
  if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    completion->done(kafka_error(message->err,
                                 "producing to " + std::string(rd_kafka_topic_name(message->rkt))));
  } else {
    completion->done(Status{});
  }
}

void Producer::on_error(rd_kafka_t* handle, int error, const char* reason, void* opaque) {
  log_client_error(handle, error, reason);
  const auto code = static_cast<rd_kafka_resp_err_t>(error);
  // Wrong credentials or an untrusted certificate: librdkafka retries them
  // for ever, and a metadata request just times out. ping() says why.
  if (code != RD_KAFKA_RESP_ERR__AUTHENTICATION && code != RD_KAFKA_RESP_ERR__SSL) return;
  auto* self = static_cast<Producer*>(opaque);
  MutexLock lock(self->mutex_);
  self->refused_ = reason;
}

void Producer::enqueue(const Record& record, std::function<void(Status)> done) {
  auto completion = std::make_unique<Completion>(Completion{std::move(done)});
  const auto until = std::chrono::steady_clock::now() + settings_.delivery_timeout;
  while (true) {
    HeadersPtr headers = make_headers(record.headers);
    // produceva, not the RD_KAFKA_V_* macros (C casts). librdkafka copies
    // key and value (RD_KAFKA_MSG_F_COPY) and never writes to them.
    rd_kafka_vu_t values[6] = {};
    values[0].vtype = RD_KAFKA_VTYPE_TOPIC;
    values[0].u.cstr = record.topic.c_str();
    values[1].vtype = RD_KAFKA_VTYPE_KEY;
    values[1].u.mem = {const_cast<char*>(record.key.data()), record.key.size()};
    values[2].vtype = RD_KAFKA_VTYPE_VALUE;
    values[2].u.mem = {const_cast<char*>(record.value.data()), record.value.size()};
    values[3].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    values[3].u.i = RD_KAFKA_MSG_F_COPY;
    values[4].vtype = RD_KAFKA_VTYPE_HEADERS;
    values[4].u.headers = headers.get();
    values[5].vtype = RD_KAFKA_VTYPE_OPAQUE;
    values[5].u.ptr = completion.get();
    rd_kafka_error_t* error = rd_kafka_produceva(handle_.get(), values, 6);
    const rd_kafka_resp_err_t err =
        error == nullptr ? RD_KAFKA_RESP_ERR_NO_ERROR : rd_kafka_error_code(error);
    if (error != nullptr) rd_kafka_error_destroy(error);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      (void)headers.release();     // owned by the record now
      (void)completion.release();  // freed by on_delivery
      return;
    }
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && std::chrono::steady_clock::now() < until) {
      // The poller serves reports; give it room.
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    completion->done(kafka_error(err, "producing to " + record.topic));
    return;
  }
}

void Producer::produce_async(const Record& record, std::function<void(Status)> done) {
  enqueue(record, std::move(done));
}

Status Producer::produce(std::span<const Record> records) {
  if (records.empty()) return {};
  auto batch = std::make_shared<Batch>();
  batch->remaining = records.size();
  for (const Record& record : records) {
    enqueue(record, [batch](Status status) {
      std::lock_guard lock(batch->mutex);
      if (!status.ok()) {
        if (batch->failed++ == 0) batch->first_error = std::move(status);
      }
      if (--batch->remaining == 0) batch->finished.notify_all();
    });
  }
  // librdkafka reports every record within delivery.timeout.ms; the margin
  // only guards against a report that never comes.
  const auto limit = settings_.delivery_timeout + settings_.request_timeout;
  std::unique_lock lock(batch->mutex);
  if (!batch->finished.wait_for(lock, limit, [&] { return batch->remaining == 0; })) {
    return {StatusCode::kDeadlineExceeded, std::to_string(batch->remaining) + " of " +
                                               std::to_string(records.size()) +
                                               " records not acknowledged by Kafka within " +
                                               std::to_string(limit.count()) + " ms"};
  }
  if (batch->failed == 0) return {};
  std::string message = batch->first_error.message();
  if (records.size() > 1) {
    message += " (" + std::to_string(batch->failed) + " of " + std::to_string(records.size()) +
               " records not enqueued; the others were)";
  }
  return {batch->first_error.code(), std::move(message)};
}

Status Producer::create_topics(const std::vector<std::string>& topics, int32_t partitions,
                               int16_t replication_factor, const TopicConfig& config,
                               std::vector<std::string>* created) {
  if (topics.empty()) return {};
  char error[512];
  std::vector<rd_kafka_NewTopic_t*> requests;
  Status status;
  for (const auto& topic : topics) {
    rd_kafka_NewTopic_t* request =
        rd_kafka_NewTopic_new(topic.c_str(), partitions, replication_factor, error, sizeof error);
    if (request == nullptr) {
      status = invalid_argument("topic " + topic + ": " + error);
      break;
    }
    requests.push_back(request);
    for (const auto& [name, value] : config) {
      if (rd_kafka_NewTopic_set_config(request, name.c_str(), value.c_str()) !=
          RD_KAFKA_RESP_ERR_NO_ERROR) {
        std::string message = "topic " + topic;
        message.append(": config ").append(name).append("=").append(value);
        status = invalid_argument(std::move(message));
      }
    }
    if (!status.ok()) break;
  }
  if (status.ok()) {
    rd_kafka_AdminOptions_t* options =
        rd_kafka_AdminOptions_new(handle_.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(options, to_ms(settings_.request_timeout), error,
                                              sizeof error);
    rd_kafka_AdminOptions_set_operation_timeout(options, to_ms(settings_.request_timeout), error,
                                                sizeof error);
    QueuePtr queue(rd_kafka_queue_new(handle_.get()));
    rd_kafka_CreateTopics(handle_.get(), requests.data(), requests.size(), options, queue.get());
    rd_kafka_AdminOptions_destroy(options);
    // The request times out on its own; the margin covers the reply.
    EventPtr event(rd_kafka_queue_poll(
        queue.get(), to_ms(settings_.request_timeout * 2 + std::chrono::seconds(1))));
    if (!event) {
      status = {StatusCode::kDeadlineExceeded, "creating topics: no answer from Kafka"};
    } else if (rd_kafka_event_error(event.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      status = kafka_error(
          rd_kafka_event_error(event.get()),
          std::string("creating topics (") + rd_kafka_event_error_string(event.get()) + ")");
    } else {
      size_t count = 0;
      const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(
          rd_kafka_event_CreateTopics_result(event.get()), &count);
      for (size_t i = 0; i < count && status.ok(); ++i) {
        const auto err = rd_kafka_topic_result_error(results[i]);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
          std::string configs;
          for (const auto& [name, value] : config) {
            configs.append(", ").append(name).append("=").append(value);
          }
          spdlog::info("kafka: created topic {} ({} partitions{})",
                       rd_kafka_topic_result_name(results[i]), partitions, configs);
          if (created != nullptr) created->emplace_back(rd_kafka_topic_result_name(results[i]));
        } else if (err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
          const char* detail = rd_kafka_topic_result_error_string(results[i]);
          status = kafka_error(
              err, std::string("creating topic ") + rd_kafka_topic_result_name(results[i]) +
                       (detail != nullptr ? std::string(" (") + detail + ")" : ""));
        }
      }
    }
  }
  rd_kafka_NewTopic_destroy_array(requests.data(), requests.size());
  return status;
}

namespace {

// Runs one admin request whose result arrives on `queue` and returns its
// event, or why there is none.
StatusOr<EventPtr> admin_reply(rd_kafka_queue_t* queue, std::chrono::milliseconds timeout,
                               std::string_view what) {
  // The request times out on its own; the margin covers the reply.
  EventPtr event(rd_kafka_queue_poll(queue, to_ms(timeout * 2 + std::chrono::seconds(1))));
  if (!event) {
    return Status{StatusCode::kDeadlineExceeded, std::string(what) + ": no answer from Kafka"};
  }
  if (rd_kafka_event_error(event.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return kafka_error(rd_kafka_event_error(event.get()),
                       std::string(what) + " (" + rd_kafka_event_error_string(event.get()) + ")");
  }
  return event;
}

rd_kafka_AdminOptions_t* admin_options(rd_kafka_t* handle, rd_kafka_admin_op_t op,
                                       std::chrono::milliseconds timeout) {
  char error[512];
  rd_kafka_AdminOptions_t* options = rd_kafka_AdminOptions_new(handle, op);
  rd_kafka_AdminOptions_set_request_timeout(options, to_ms(timeout), error, sizeof error);
  return options;
}

}  // namespace

StatusOr<Producer::TopicConfig> Producer::topic_config(const std::string& topic) {
  const std::string what = "describing the configs of topic " + topic;
  rd_kafka_ConfigResource_t* resource =
      rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str());
  rd_kafka_AdminOptions_t* options =
      admin_options(handle_.get(), RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, settings_.request_timeout);
  QueuePtr queue(rd_kafka_queue_new(handle_.get()));
  rd_kafka_DescribeConfigs(handle_.get(), &resource, 1, options, queue.get());
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_ConfigResource_destroy(resource);
  auto event = admin_reply(queue.get(), settings_.request_timeout, what);
  if (!event.ok()) return event.status();
  size_t count = 0;
  const rd_kafka_ConfigResource_t** described = rd_kafka_DescribeConfigs_result_resources(
      rd_kafka_event_DescribeConfigs_result(event->get()), &count);
  if (count != 1) {
    return internal_error(what + ": " + std::to_string(count) + " resources answered");
  }
  if (const auto err = rd_kafka_ConfigResource_error(described[0]);
      err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* detail = rd_kafka_ConfigResource_error_string(described[0]);
    return kafka_error(err, what + (detail != nullptr ? std::string(" (") + detail + ")" : ""));
  }
  TopicConfig config;
  size_t entries = 0;
  const rd_kafka_ConfigEntry_t** entry = rd_kafka_ConfigResource_configs(described[0], &entries);
  for (size_t i = 0; i < entries; ++i) {
    if (rd_kafka_ConfigEntry_source(entry[i]) != RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG) {
      continue;
    }
    const char* value = rd_kafka_ConfigEntry_value(entry[i]);
    config[rd_kafka_ConfigEntry_name(entry[i])] = value != nullptr ? value : "";
  }
  return config;
}

Status Producer::set_topic_config(const std::string& topic, const TopicConfig& config) {
  auto current = topic_config(topic);
  if (!current.ok()) return current.status();
  TopicConfig wanted = *current;
  for (const auto& [name, value] : config) wanted[name] = value;
  if (wanted == *current) return {};
  const std::string what = "setting the configs of topic " + topic;
  rd_kafka_ConfigResource_t* resource =
      rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str());
  for (const auto& [name, value] : wanted) {
    if (rd_kafka_ConfigResource_set_config(resource, name.c_str(), value.c_str()) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_ConfigResource_destroy(resource);
      return invalid_argument(
          std::string(what).append(": config ").append(name).append("=").append(value));
    }
  }
  rd_kafka_AdminOptions_t* options =
      admin_options(handle_.get(), RD_KAFKA_ADMIN_OP_ALTERCONFIGS, settings_.request_timeout);
  QueuePtr queue(rd_kafka_queue_new(handle_.get()));
  rd_kafka_AlterConfigs(handle_.get(), &resource, 1, options, queue.get());
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_ConfigResource_destroy(resource);
  auto event = admin_reply(queue.get(), settings_.request_timeout, what);
  if (!event.ok()) return event.status();
  size_t count = 0;
  const rd_kafka_ConfigResource_t** altered = rd_kafka_AlterConfigs_result_resources(
      rd_kafka_event_AlterConfigs_result(event->get()), &count);
  for (size_t i = 0; i < count; ++i) {
    if (const auto err = rd_kafka_ConfigResource_error(altered[i]);
        err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* detail = rd_kafka_ConfigResource_error_string(altered[i]);
      return kafka_error(err, what + (detail != nullptr ? std::string(" (") + detail + ")" : ""));
    }
  }
  std::string changed;
  for (const auto& [name, value] : config) {
    changed.append(" ").append(name).append("=").append(value);
  }
  spdlog::info("kafka: topic {} now has{}", topic, changed);
  return {};
}

Status Producer::wait_visible(const std::vector<std::string>& topics) {
  const auto until = std::chrono::steady_clock::now() + settings_.request_timeout;
  for (const auto& topic : topics) {
    while (true) {
      auto count = partition_count(handle_.get(), topic, settings_.request_timeout);
      if (count.ok() && *count > 0) break;
      if (std::chrono::steady_clock::now() >= until) {
        return count.ok() ? unavailable("topic " + topic + " has no partitions yet")
                          : count.status();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  return {};
}

Status Producer::ping(std::chrono::milliseconds timeout) {
  const rd_kafka_metadata_t* metadata = nullptr;
  const auto err = rd_kafka_metadata(handle_.get(), 0, nullptr, &metadata, to_ms(timeout));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    Status failed = kafka_error(err, "cluster metadata");
    MutexLock lock(mutex_);
    if (refused_.empty()) return failed;
    return failed_precondition(failed.message() +
                               "; the broker refused the connection: " + refused_);
  }
  {
    MutexLock lock(mutex_);
    refused_.clear();
  }
  const bool brokers = metadata->broker_cnt > 0;
  rd_kafka_metadata_destroy(metadata);
  if (!brokers) return unavailable("cluster metadata lists no broker");
  return {};
}

}  // namespace dtq::kafka
