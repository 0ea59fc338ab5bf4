#include "dtq/kafka/kafka_job_queue.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <map>
#include <set>

#include "dtq/core/ids.hpp"
#include "dtq/core/model_json.hpp"
#include "dtq/core/priority.hpp"
#include "dtq/core/thread_annotations.hpp"
#include "dtq/core/time.hpp"
#include "headers.hpp"
#include "producer.hpp"
#include "topic_reader.hpp"
#include "type_consumer.hpp"

namespace dtq::kafka {
namespace {

Status check_template(const std::string& name, const std::string& value) {
  const size_t at = value.find("%s");
  if (at == std::string::npos || value.find('%', at + 2) != std::string::npos ||
      value.find('%') != at) {
    return invalid_argument("kafka " + name + " \"" + value +
                            "\" must contain %s (the job type) exactly once and no other %");
  }
  return {};
}

std::string apply_template(const std::string& topic_template, std::string_view job_type) {
  std::string topic = topic_template;
  return topic.replace(topic.find("%s"), 2, job_type);
}

// The priority topic template: %s and %p, each exactly once, no other %;
// or empty (the classes share the normal topic).
Status check_priority_template(const std::string& value) {
  if (value.empty()) return {};
  size_t percents = 0;
  for (const char c : value) percents += c == '%' ? 1 : 0;
  const size_t type_at = value.find("%s");
  const size_t class_at = value.find("%p");
  if (percents != 2 || type_at == std::string::npos || class_at == std::string::npos) {
    return invalid_argument("kafka priority topic template \"" + value +
                            "\" must contain %s (the job type) and %p (high or low) exactly "
                            "once each and no other %");
  }
  return {};
}

// The consumers of one job type in this process: one per priority class
// (only the normal one, null the others, without class topics), and the
// doorbell they all ring, which take() waits on.
struct TypeLines {
  std::array<std::shared_ptr<TypeConsumer>, kPriorityClasses> consumers;  // by index_of
  std::shared_ptr<Doorbell> doorbell = std::make_shared<Doorbell>();
  Mutex turns_mutex;
  PriorityTurns turns DTQ_GUARDED_BY(turns_mutex);
};

uint32_t parse_u32(std::optional<std::string_view> text) {
  uint32_t value = 0;
  if (text) std::from_chars(text->data(), text->data() + text->size(), value);
  return value;
}

std::string record_time(const rd_kafka_message_t* message) {
  rd_kafka_timestamp_type_t type;
  const int64_t ms = rd_kafka_message_timestamp(message, &type);
  return ms >= 0 ? to_rfc3339(from_unix_ms(ms)) : std::string();
}

// The dead letters and replay markers of some dead-letter partitions.
struct DeadLetterScan {
  std::map<std::string, DeadLetter> letters;   // by job id: the newest
  std::map<std::string, std::string> markers;  // job id → replayed as
  std::set<std::string> deleted;               // job ids with a delete marker

  void add(const rd_kafka_message_t* message) {
    const std::string key(key_of(message));
    const auto kind = header(message, kRecordKind).value_or(kDeadLetterKind);
    if (kind == kReplayMarkerKind) {
      markers[key] = std::string(header(message, kReplayedAs).value_or(""));
      return;
    }
    if (kind == kDeleteMarkerKind) {
      deleted.insert(key);
      return;
    }
    auto parsed = parse_job_message(payload_of(message));
    if (!parsed.ok()) {
      spdlog::warn(
          "kafka: dead letter {} [{}] offset {} (key {}) is not a readable job message; "
          "not listed: {}",
          rd_kafka_topic_name(message->rkt), message->partition, message->offset, key,
          parsed.status().message());
      return;
    }
    DeadLetter letter{
        .message = std::move(parsed).value(),
        .error = JobError{std::string(header(message, kErrorCode).value_or("")),
                          std::string(header(message, kErrorMessage).value_or(""))},
        .attempts = parse_u32(header(message, kAttempts)),
        .failed_at = std::string(header(message, kFailedAt).value_or(record_time(message)))};
    const std::string id = letter.message.job_id;
    auto it = letters.find(id);
    if (it == letters.end() || it->second.failed_at <= letter.failed_at) {
      letters.insert_or_assign(id, std::move(letter));
    }
  }
};

}  // namespace

struct KafkaJobQueue::Impl {
  KafkaSettings settings;
  std::unique_ptr<Producer> producer;
  std::atomic<uint64_t> receipts{1};
  std::atomic<bool> closed{false};

  Mutex topics_mutex;
  std::set<std::string> ready_topics DTQ_GUARDED_BY(topics_mutex);  // known to exist
  // Types whose topics (every class's and the dead letters') all exist.
  std::set<std::string, std::less<>> ready_types DTQ_GUARDED_BY(topics_mutex);

  // Held only to look a consumer up or add one: every ack and release takes
  // it, so nothing slow (a broker round trip) runs under it; the functions
  // that reach the broker say DTQ_EXCLUDES(consumers_mutex).
  Mutex consumers_mutex;
  std::map<std::string, std::shared_ptr<TypeLines>, std::less<>> consumers
      DTQ_GUARDED_BY(consumers_mutex);
  // Serializes starting consumers (topic creation, joining the group), so
  // that two first take()s of a type start one consumer, not two.
  Mutex starting_mutex;

  Mutex reader_mutex;  // also serializes replays in this process
  std::unique_ptr<TopicReader> reader DTQ_GUARDED_BY(reader_mutex);

  std::string topic(std::string_view type, JobPriority priority = JobPriority::kNormal) const {
    if (priority == JobPriority::kNormal || !class_topics()) {
      return apply_template(settings.topic_template, type);
    }
    std::string name = apply_template(settings.priority_topic_template, type);
    return name.replace(name.find("%p"), 2, to_string(priority));
  }
  // Whether the high and low classes have topics (and consumers) of their own.
  bool class_topics() const { return !settings.priority_topic_template.empty(); }

  // The priorities that have a topic of their own.
  std::vector<JobPriority> topic_classes() const {
    if (!class_topics()) return {JobPriority::kNormal};
    return {std::begin(kAllPriorities), std::end(kAllPriorities)};
  }

  std::string group(std::string_view type, JobPriority priority) const {
    std::string name = settings.group_id_prefix + std::string(type);
    if (priority != JobPriority::kNormal) name += "." + std::string(to_string(priority));
    return name;
  }
  std::string dlq_topic(std::string_view type) const {
    return apply_template(settings.dlq_topic_template, type);
  }

  Status ensure_topics(std::string_view type) DTQ_EXCLUDES(consumers_mutex) {
    if (!is_valid_job_type(type)) {
      return invalid_argument("\"" + std::string(type) + "\" is not a valid job type");
    }
    MutexLock lock(topics_mutex);
    // Every enqueue asks: a type met before costs one lookup, not its topics' names.
    if (ready_types.contains(type)) return {};
    std::vector<std::string> missing;
    std::vector<std::string> wanted{dlq_topic(type)};
    for (const JobPriority priority : topic_classes()) wanted.push_back(topic(type, priority));
    for (auto& name : wanted) {
      if (ready_topics.count(name) == 0) missing.push_back(std::move(name));
    }
    if (missing.empty()) {
      ready_types.emplace(type);
      return {};
    }
    const std::string letters = dlq_topic(type);
    const bool letters_missing = ready_topics.count(letters) == 0;
    std::vector<std::string> jobs = missing;
    std::erase(jobs, letters);
    if (Status s = producer->create_topics(jobs, settings.partitions, settings.replication_factor);
        !s.ok()) {
      return s;
    }
    if (letters_missing) {
      if (Status s = ensure_dlq_topic(letters); !s.ok()) return s;
    }
    if (Status s = producer->wait_visible(missing); !s.ok()) return s;
    ready_topics.insert(missing.begin(), missing.end());
    ready_types.emplace(type);
    return {};
  }

  // A dead-letter topic with retention.ms = settings.dlq_retention: created
  // so, or altered to it when it exists. Only a failure to create it at all
  // is an error; a refused retention is a warning.
  Status ensure_dlq_topic(const std::string& name) DTQ_REQUIRES(topics_mutex) {
    Producer::TopicConfig config;
    if (settings.dlq_retention.count() > 0) {
      config["retention.ms"] = std::to_string(settings.dlq_retention.count());
    }
    std::vector<std::string> created;
    Status made = producer->create_topics({name}, settings.partitions, settings.replication_factor,
                                          config, &created);
    if (!made.ok() && !config.empty()) {
      spdlog::warn(
          "kafka: topic {} cannot be created with retention.ms={} ({}); creating it with "
          "the broker's default retention",
          name, config["retention.ms"], made.message());
      return producer->create_topics({name}, settings.partitions, settings.replication_factor);
    }
    if (!made.ok() || !created.empty() || config.empty()) return made;
    // It existed: made by an older dtq, a script, or with another retention.
    if (Status set = producer->set_topic_config(name, config); !set.ok()) {
      spdlog::warn("kafka: topic {} keeps its retention: {}", name, set.message());
    }
    return {};
  }

  std::shared_ptr<TypeLines> find_lines(std::string_view type) {
    MutexLock lock(consumers_mutex);
    const auto it = consumers.find(type);
    return it == consumers.end() ? nullptr : it->second;
  }

  // The consumer that handed out `delivery`: its type's, of its class.
  std::shared_ptr<TypeConsumer> find_consumer(const Delivery& delivery) {
    const auto lines = find_lines(delivery.message.job_type);
    if (!lines) return nullptr;
    // Without class topics, every class came through the normal consumer.
    const JobPriority from = class_topics() ? delivery.message.priority : JobPriority::kNormal;
    return lines->consumers[index_of(from)];
  }

  StatusOr<std::shared_ptr<TypeLines>> lines(std::string_view type) DTQ_EXCLUDES(consumers_mutex) {
    if (auto found = find_lines(type)) return found;
    MutexLock starting(starting_mutex);
    if (auto found = find_lines(type)) return found;
    if (Status s = ensure_topics(type); !s.ok()) return s;
    auto started = std::make_shared<TypeLines>();
    for (const JobPriority priority : topic_classes()) {
      auto consumer = TypeConsumer::start(
          settings, std::string(type), priority, topic(type, priority), dlq_topic(type),
          group(type, priority), *producer, receipts, closed, started->doorbell);
      if (!consumer.ok()) {
        for (auto& made : started->consumers) {
          if (made) made->shutdown();
        }
        return consumer.status();
      }
      started->consumers[index_of(priority)] = std::move(consumer).value();
    }
    MutexLock lock(consumers_mutex);
    consumers.emplace(std::string(type), started);
    // A close() that ran while it started did not see it to wake it.
    if (closed) started->doorbell->ring();
    return started;
  }

  StatusOr<TopicReader*> topic_reader() DTQ_REQUIRES(reader_mutex) {
    if (!reader) {
      auto created = TopicReader::create(settings);
      if (!created.ok()) return created.status();
      reader = std::move(created).value();
    }
    return reader.get();
  }

  // The dead-letter topics to look at: one type's, or every type's.
  StatusOr<std::vector<std::pair<std::string, std::string>>> dlq_topics(TopicReader& reader_,
                                                                        std::string_view type) {
    if (type.empty()) {
      return list_template_topics(reader_.handle(), settings.dlq_topic_template,
                                  settings.request_timeout);
    }
    std::vector<std::pair<std::string, std::string>> one{{std::string(type), dlq_topic(type)}};
    return one;
  }
};

KafkaJobQueue::KafkaJobQueue(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

StatusOr<std::unique_ptr<KafkaJobQueue>> KafkaJobQueue::create(KafkaSettings settings) {
  if (settings.bootstrap_servers.empty()) {
    return invalid_argument("kafka: no bootstrap servers given");
  }
  if (Status s = check_template("topic template", settings.topic_template); !s.ok()) return s;
  if (Status s = check_template("dead-letter topic template", settings.dlq_topic_template);
      !s.ok()) {
    return s;
  }
  if (settings.topic_template == settings.dlq_topic_template) {
    return invalid_argument("kafka: the job and dead-letter topic templates must differ");
  }
  if (Status s = check_priority_template(settings.priority_topic_template); !s.ok()) return s;
  if (settings.partitions < 1) return invalid_argument("kafka: partitions must be at least 1");
  for (const auto& [name, value] : {std::pair{"delivery timeout", settings.delivery_timeout},
                                    {"request timeout", settings.request_timeout},
                                    {"session timeout", settings.session_timeout},
                                    {"commit interval", settings.commit_interval}}) {
    if (value.count() <= 0)
      return invalid_argument(std::string("kafka: ") + name + " must be positive");
  }
  auto impl = std::make_unique<Impl>();
  impl->settings = std::move(settings);
  auto producer = Producer::create(impl->settings);
  if (!producer.ok()) return producer.status();
  impl->producer = std::move(producer).value();
  return std::unique_ptr<KafkaJobQueue>(new KafkaJobQueue(std::move(impl)));
}

KafkaJobQueue::~KafkaJobQueue() {
  close();
  std::map<std::string, std::shared_ptr<TypeLines>, std::less<>> consumers;
  {
    MutexLock lock(impl_->consumers_mutex);
    consumers.swap(impl_->consumers);
  }
  // Each leaves its group (drain, commit) while the producer still serves
  // the dead letters it may wait for.
  for (auto& [type, lines] : consumers) {
    for (auto& consumer : lines->consumers) {
      if (consumer) consumer->shutdown();
    }
  }
  consumers.clear();
  {
    MutexLock lock(impl_->reader_mutex);
    impl_->reader.reset();
  }
  impl_->producer.reset();
}

std::string KafkaJobQueue::topic(std::string_view job_type, JobPriority priority) const {
  return impl_->topic(job_type, priority);
}
std::string KafkaJobQueue::dlq_topic(std::string_view job_type) const {
  return impl_->dlq_topic(job_type);
}
std::string KafkaJobQueue::group_id(std::string_view job_type, JobPriority priority) const {
  return impl_->group(job_type, priority);
}

Status KafkaJobQueue::ensure_topics(std::string_view job_type) {
  return impl_->ensure_topics(job_type);
}

StatusOr<int64_t> KafkaJobQueue::consumer_lag(std::string_view job_type,
                                              std::chrono::milliseconds timeout) {
  const auto lines = impl_->find_lines(job_type);
  if (!lines) return int64_t{0};
  int64_t lag = 0;
  for (const auto& consumer : lines->consumers) {
    if (!consumer) continue;  // a class without a topic of its own
    auto one = consumer->lag(timeout);
    if (!one.ok()) return one;
    lag += *one;
  }
  return lag;
}

Status KafkaJobQueue::ping(std::chrono::milliseconds timeout) {
  Status answered = impl_->producer->ping(timeout);
  if (answered.ok()) return answered;
  return {answered.code(), "kafka at " + impl_->settings.bootstrap_servers +
                               " did not answer: " + answered.message()};
}

Status KafkaJobQueue::enqueue(const JobMessage& message) {
  return enqueue_batch({&message, 1});
}

Status KafkaJobQueue::enqueue_batch(std::span<const JobMessage> messages) {
  if (messages.empty()) return {};
  if (Status s = check_job_batch(messages); !s.ok()) return s;
  std::set<std::string_view> types;
  for (const auto& message : messages) types.insert(message.job_type);
  for (const auto type : types) {
    if (Status s = impl_->ensure_topics(type); !s.ok()) return s;
  }
  std::vector<Record> records;
  records.reserve(messages.size());
  for (const auto& message : messages) {
    records.push_back(Record{.topic = impl_->topic(message.job_type, message.priority),
                             .key = message.job_id,
                             .value = to_json(message),
                             .headers = job_headers()});
  }
  return impl_->producer->produce(records);
}

StatusOr<std::vector<Delivery>> KafkaJobQueue::take(std::string_view job_type, size_t max,
                                                    std::chrono::milliseconds wait) {
  std::vector<Delivery> taken;
  if (impl_->closed || max == 0) return taken;
  auto found = impl_->lines(job_type);
  if (!found.ok()) return found.status();
  TypeLines& lines = **found;
  const auto until = std::chrono::steady_clock::now() +
                     std::min<std::chrono::milliseconds>(wait, std::chrono::hours(24));
  while (true) {
    // Read before looking, so a message that arrives after the look rings
    // past it and the wait below returns at once.
    const uint64_t seen = lines.doorbell->rings();
    while (taken.size() < max) {
      std::array<bool, kPriorityClasses> waiting{};
      for (size_t i = 0; i < kPriorityClasses; ++i) {
        waiting[i] = lines.consumers[i] != nullptr && lines.consumers[i]->has_ready();
      }
      std::optional<JobPriority> turn;
      {
        MutexLock lock(lines.turns_mutex);
        turn = lines.turns.next(waiting);
      }
      if (!turn) break;
      // Empty when another take() was faster or the buffer held only
      // records of a revoked partition: look again.
      auto one = lines.consumers[index_of(*turn)]->take(1, std::chrono::milliseconds(0));
      if (!one.ok()) return taken.empty() ? one : taken;
      for (auto& delivery : *one) taken.push_back(std::move(delivery));
    }
    if (!taken.empty() || impl_->closed || std::chrono::steady_clock::now() >= until) return taken;
    lines.doorbell->wait(seen, until);
  }
}

Status KafkaJobQueue::ack(const Delivery& delivery) {
  const auto consumer = impl_->find_consumer(delivery);
  if (!consumer) return not_leased(delivery);
  return consumer->ack(delivery);
}

Status KafkaJobQueue::release(const Delivery& delivery) {
  const auto consumer = impl_->find_consumer(delivery);
  if (!consumer) return not_leased(delivery);
  return consumer->release(delivery);
}

Status KafkaJobQueue::dead_letter(const Delivery& delivery, const JobError& error,
                                  uint32_t attempts) {
  const auto consumer = impl_->find_consumer(delivery);
  if (!consumer) return not_leased(delivery);
  auto lease = consumer->lease(delivery);
  if (!lease.ok()) return lease.status();
  const std::string& type = lease->message.job_type;
  if (Status s = impl_->ensure_topics(type); !s.ok()) return s;
  const Record record{.topic = impl_->dlq_topic(type),
                      .key = lease->message.job_id,
                      .value = to_json(lease->message),
                      .headers = dead_letter_headers(error, attempts, now_rfc3339(),
                                                     impl_->topic(type, lease->message.priority),
                                                     lease->partition, lease->offset)};
  // Durable in the dead-letter topic before the original is finished; on
  // failure the job stays leased and the caller may release it.
  if (Status s = impl_->producer->produce({&record, 1}); !s.ok()) return s;
  return consumer->ack(delivery);
}

namespace {

// Where a backwards read of one dead-letter partition stands.
struct TailCursor {
  std::string topic;
  int32_t partition;
  int64_t low;
  int64_t end;  // one past the next record to read backwards
  size_t seen = 0;
};

// A cursor at the end of every non-empty partition of `topics`.
StatusOr<std::vector<TailCursor>> tail_cursors(
    TopicReader& reader, const std::vector<std::pair<std::string, std::string>>& topics,
    std::chrono::milliseconds timeout) {
  std::vector<TailCursor> cursors;
  for (const auto& [type, topic] : topics) {
    auto count = partition_count(reader.handle(), topic, timeout);
    if (!count.ok()) {
      if (count.status().code() == StatusCode::kNotFound) continue;  // nothing failed yet
      return count.status();
    }
    for (int32_t p = 0; p < *count; ++p) {
      auto marks = reader.watermarks(topic, p);
      if (!marks.ok()) return marks.status();
      if (marks->second > marks->first) cursors.push_back({topic, p, marks->first, marks->second});
    }
  }
  return cursors;
}

// Reads each partition backwards in windows until it gave `limit` records
// or ran out: the newest `limit` dead letters of a partition are in its
// tail, and a replay marker always follows its dead letter.
Status scan_tails(TopicReader& reader, std::vector<TailCursor>& cursors, size_t limit,
                  DeadLetterScan& scan) {
  const auto window = static_cast<int64_t>(std::max<size_t>(limit, 32));
  while (true) {
    std::vector<OffsetRange> ranges;
    for (const auto& cursor : cursors) {
      if (cursor.end > cursor.low && cursor.seen < limit) {
        ranges.push_back({cursor.topic, cursor.partition, std::max(cursor.low, cursor.end - window),
                          cursor.end});
      }
    }
    if (ranges.empty()) return {};
    std::map<std::pair<std::string, int32_t>, size_t> counts;
    if (Status s = reader.read(ranges,
                               [&](const rd_kafka_message_t* message) {
                                 ++counts[{rd_kafka_topic_name(message->rkt), message->partition}];
                                 scan.add(message);
                               });
        !s.ok()) {
      return s;
    }
    for (auto& cursor : cursors) {
      if (cursor.end <= cursor.low || cursor.seen >= limit) continue;
      cursor.seen += counts[{cursor.topic, cursor.partition}];
      cursor.end = std::max(cursor.low, cursor.end - window);
    }
  }
}

}  // namespace

StatusOr<std::vector<DeadLetter>> KafkaJobQueue::dead_letters(std::string_view job_type,
                                                              size_t limit) {
  std::vector<DeadLetter> out;
  if (limit == 0) return out;
  if (!job_type.empty() && !is_valid_job_type(job_type)) {
    return invalid_argument("\"" + std::string(job_type) + "\" is not a valid job type");
  }
  MutexLock lock(impl_->reader_mutex);
  auto reader = impl_->topic_reader();
  if (!reader.ok()) return reader.status();
  auto topics = impl_->dlq_topics(**reader, job_type);
  if (!topics.ok()) return topics.status();
  auto cursors = tail_cursors(**reader, *topics, impl_->settings.request_timeout);
  if (!cursors.ok()) return cursors.status();
  DeadLetterScan scan;
  if (Status scanned = scan_tails(**reader, *cursors, limit, scan); !scanned.ok()) return scanned;
  for (auto& [id, letter] : scan.letters) {
    if (scan.deleted.count(id) != 0) continue;
    if (const auto marker = scan.markers.find(id); marker != scan.markers.end()) {
      letter.replayed_as = marker->second;
    }
    out.push_back(std::move(letter));
  }
  std::sort(out.begin(), out.end(),
            [](const DeadLetter& a, const DeadLetter& b) { return a.failed_at > b.failed_at; });
  if (out.size() > limit) out.resize(limit);
  return out;
}

namespace {

// The records of one job id in the dead-letter topics, and the topic they
// are in.
struct FoundLetter {
  DeadLetterScan scan;
  std::string topic;
};

// Searches the job id's key partition of each of `topics`: the dead letter
// and any marker share it.
StatusOr<FoundLetter> find_letter(TopicReader& reader,
                                  const std::vector<std::pair<std::string, std::string>>& topics,
                                  std::string_view job_id, std::chrono::milliseconds timeout) {
  std::vector<OffsetRange> ranges;
  for (const auto& [type, topic] : topics) {
    auto count = partition_count(reader.handle(), topic, timeout);
    if (!count.ok()) continue;
    rd_kafka_topic_t* handle = rd_kafka_topic_new(reader.handle(), topic.c_str(), nullptr);
    const int32_t partition = rd_kafka_msg_partitioner_murmur2(handle, job_id.data(), job_id.size(),
                                                               *count, nullptr, nullptr);
    rd_kafka_topic_destroy(handle);
    auto marks = reader.watermarks(topic, partition);
    if (!marks.ok()) return marks.status();
    ranges.push_back({topic, partition, marks->first, marks->second});
  }
  FoundLetter found;
  if (Status s = reader.read(ranges,
                             [&](const rd_kafka_message_t* message) {
                               if (key_of(message) != job_id) return;
                               found.scan.add(message);
                               found.topic = rd_kafka_topic_name(message->rkt);
                             });
      !s.ok()) {
    return s;
  }
  const std::string id(job_id);
  if (found.scan.letters.count(id) == 0 || found.scan.deleted.count(id) != 0) {
    return not_found("no dead letter for job " + id);
  }
  return found;
}

// What replay() and delete_dead_letter() start with: the job id checked,
// then its dead letter found in every type's dead-letter topic.
StatusOr<FoundLetter> locate_letter(KafkaJobQueue::Impl& impl, std::string_view job_id)
    DTQ_REQUIRES(impl.reader_mutex) {
  if (!is_uuid(job_id)) return invalid_argument("malformed job id \"" + std::string(job_id) + "\"");
  auto reader = impl.topic_reader();
  if (!reader.ok()) return reader.status();
  auto topics = impl.dlq_topics(**reader, "");
  if (!topics.ok()) return topics.status();
  return find_letter(**reader, *topics, job_id, impl.settings.request_timeout);
}

}  // namespace

StatusOr<std::string> KafkaJobQueue::replay(std::string_view job_id) {
  MutexLock lock(impl_->reader_mutex);
  auto located = locate_letter(*impl_, job_id);
  if (!located.ok()) return located.status();
  const DeadLetterScan& scan = located->scan;
  const std::string& letter_topic = located->topic;
  const std::string id(job_id);
  const auto found = scan.letters.find(id);
  if (const auto marker = scan.markers.find(id); marker != scan.markers.end()) {
    return failed_precondition("job " + id + " was already replayed as " + marker->second);
  }
  const JobMessage& original = found->second.message;
  JobMessage replayed{.schema_version = original.schema_version,
                      .job_id = new_uuid4(),
                      .job_type = original.job_type,
                      .submitted_at = now_rfc3339(),
                      .trace_id = original.trace_id,
                      .payload = original.payload,
                      .priority = original.priority};
  if (Status s = enqueue(replayed); !s.ok()) return s;
  const std::string replayed_at = now_rfc3339();
  const Record marker{.topic = letter_topic,
                      .key = id,
                      .value = "{\"job_id\":\"" + id + "\",\"replayed_as\":\"" + replayed.job_id +
                               "\",\"replayed_at\":\"" + replayed_at + "\"}",
                      .headers = replay_marker_headers(replayed.job_id, replayed_at)};
  if (Status s = impl_->producer->produce({&marker, 1}); !s.ok()) {
    // The new job is on its way; only the listing will not show it.
    spdlog::error("kafka: job {} replayed as {}, but the replay marker was not written: {}", id,
                  replayed.job_id, s.message());
  }
  return replayed.job_id;
}

Status KafkaJobQueue::delete_dead_letter(std::string_view job_id) {
  MutexLock lock(impl_->reader_mutex);
  auto located = locate_letter(*impl_, job_id);
  if (!located.ok()) return located.status();
  const std::string id(job_id);
  const std::string deleted_at = now_rfc3339();
  const Record marker{.topic = located->topic,
                      .key = id,
                      .value = "{\"job_id\":\"" + id + "\",\"deleted_at\":\"" + deleted_at + "\"}",
                      .headers = delete_marker_headers(deleted_at)};
  return impl_->producer->produce({&marker, 1});
}

void KafkaJobQueue::close() {
  impl_->closed = true;
  MutexLock lock(impl_->consumers_mutex);
  for (auto& [type, lines] : impl_->consumers) {
    for (auto& consumer : lines->consumers) {
      if (consumer) consumer->wake();
    }
  }
}

}  // namespace dtq::kafka
