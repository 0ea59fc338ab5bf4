// What only the Kafka JobQueue does, against a real broker: the contract's
// topic, key and headers (also of dead letters); concurrent out-of-order
// acks never committing past an unfinished job; hand-over of released and
// unfinished jobs; two members of one group splitting the partitions, one
// leaving mid-flight; the broker restarting under a running queue. What
// every JobQueue does is the conformance suite's
// (queue_conformance_test.cpp).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "dtq/core/model_json.hpp"
#include "headers.hpp"
#include "kafka_test_util.hpp"
#include "producer.hpp"
#include "topic_reader.hpp"

namespace dtq::kafka::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAreArray;

struct RawRecord {
  std::string topic;
  int32_t partition = 0;
  std::string key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Every record of `topic`, read with a plain consumer.
std::vector<RawRecord> read_topic(const KafkaSettings& settings, const std::string& topic) {
  std::vector<RawRecord> records;
  auto reader = TopicReader::create(settings);
  EXPECT_TRUE(reader.ok()) << reader.status().message();
  if (!reader.ok()) return records;
  auto count = partition_count((*reader)->handle(), topic, 10s);
  EXPECT_TRUE(count.ok()) << count.status().message();
  if (!count.ok()) return records;
  std::vector<OffsetRange> ranges;
  for (int32_t p = 0; p < *count; ++p) {
    auto marks = (*reader)->watermarks(topic, p);
    EXPECT_TRUE(marks.ok()) << marks.status().message();
    if (marks.ok()) ranges.push_back({topic, p, marks->first, marks->second});
  }
  const Status read = (*reader)->read(ranges, [&](const rd_kafka_message_t* message) {
    RawRecord record{.topic = rd_kafka_topic_name(message->rkt),
                     .partition = message->partition,
                     .key = std::string(key_of(message)),
                     .value = std::string(payload_of(message))};
    rd_kafka_headers_t* headers = nullptr;
    if (rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* name = nullptr;
      const void* value = nullptr;
      size_t size = 0;
      for (size_t i = 0;
           rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
           ++i) {
        record.headers.emplace_back(name, std::string(static_cast<const char*>(value), size));
      }
    }
    records.push_back(std::move(record));
  });
  EXPECT_TRUE(read.ok()) << read.message();
  return records;
}

std::string header_value(const RawRecord& record, const std::string& name) {
  for (const auto& [key, value] : record.headers) {
    if (key == name) return value;
  }
  return "<absent>";
}

std::vector<std::string> ids_of(const std::vector<Delivery>& deliveries) {
  std::vector<std::string> ids;
  for (const auto& delivery : deliveries) ids.push_back(delivery.message.job_id);
  return ids;
}

TEST(KafkaQueueTest, ProducesTheContractsTopicKeyHeadersAndMessage) {
  const KafkaSettings settings = test_settings();
  auto queue = open_queue(settings);
  ASSERT_TRUE(queue);
  EXPECT_EQ(queue->topic("weather"), settings.topic_template.substr(0, 10) + "jobs.weather.v1");
  const JobMessage message = make_message("echo", R"({"message":"hi"})");
  ASSERT_TRUE(queue->enqueue(message).ok());

  const auto records = read_topic(settings, queue->topic("echo"));
  ASSERT_EQ(records.size(), 1u);
  const RawRecord& record = records.front();
  EXPECT_EQ(record.key, message.job_id);
  const std::vector<std::pair<std::string, std::string>> expected_headers = {
      {"content-type", "application/json"}, {"schema-version", "1.0"}};
  EXPECT_EQ(record.headers, expected_headers);
  EXPECT_EQ(record.value, to_json(message));
  auto parsed = parse_job_message(record.value);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  expect_same(*parsed, message);
  EXPECT_THAT(record.value, HasSubstr(R"("schema_version":"1.0")"));

  const auto taken = take_within(*queue, 1);
  ASSERT_EQ(taken.size(), 1u);
  expect_same(taken.front().message, message);
  EXPECT_EQ(taken.front().delivery_count, 1u);
  ASSERT_TRUE(queue->ack(taken.front()).ok());
  EXPECT_EQ(queue->ack(taken.front()).code(), StatusCode::kFailedPrecondition);
}

// Invalid messages are the conformance suite's.
TEST(KafkaQueueTest, RefusesInvalidSettings) {
  KafkaSettings settings = test_settings();
  settings.topic_template = "jobs.v1";
  EXPECT_EQ(KafkaJobQueue::create(settings).status().code(), StatusCode::kInvalidArgument);
  settings = test_settings();
  settings.bootstrap_servers.clear();
  EXPECT_EQ(KafkaJobQueue::create(settings).status().code(), StatusCode::kInvalidArgument);
  settings = test_settings();
  settings.extra = {{"no.such.property", "1"}};
  const auto refused = KafkaJobQueue::create(settings);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("no.such.property"));
}

// Jobs run concurrently and finish out of order; whatever the order, the
// committed offset stays below every unfinished job: a new member of the
// group gets exactly the unfinished jobs again (and not the finished ones
// after them, which the commit's metadata names).
TEST(KafkaQueueTest, OutOfOrderAcksNeverCommitPastAnUnfinishedJob) {
  const KafkaSettings settings = test_settings(/*partitions=*/2);
  std::vector<JobMessage> messages;
  for (int i = 0; i < 60; ++i)
    messages.push_back(make_message("echo", R"({"n":)" + std::to_string(i) + "}"));
  std::set<std::string> unfinished;
  {
    auto queue = open_queue(settings);
    ASSERT_TRUE(queue);
    ASSERT_TRUE(queue->enqueue_batch(messages).ok());
    auto taken = take_within(*queue, messages.size());
    ASSERT_EQ(taken.size(), messages.size());
    for (const auto& delivery : taken) EXPECT_EQ(delivery.delivery_count, 1u);
    // Some early, some in the middle, the very last: never acknowledged.
    for (const size_t i : {0UL, 7UL, 8UL, 31UL, 59UL}) unfinished.insert(taken[i].message.job_id);
    std::shuffle(taken.begin(), taken.end(), std::mt19937(42));
    std::atomic<size_t> next{0};
    std::atomic<int> errors{0};
    std::vector<std::thread> workers;
    for (int w = 0; w < 4; ++w) {
      workers.emplace_back([&] {
        for (size_t i = next++; i < taken.size(); i = next++) {
          if (unfinished.count(taken[i].message.job_id) != 0) continue;
          if (!queue->ack(taken[i]).ok()) ++errors;
        }
      });
    }
    for (auto& worker : workers) worker.join();
    EXPECT_EQ(errors.load(), 0);
    // The member leaves with the unfinished jobs still leased: after
    // revoke_drain it commits and lets go.
  }
  auto queue = open_queue(settings);
  ASSERT_TRUE(queue);
  auto again = take_within(*queue, unfinished.size());
  EXPECT_THAT(ids_of(again), UnorderedElementsAreArray(unfinished));
  for (const auto& delivery : again)
    EXPECT_EQ(delivery.delivery_count, 2u) << delivery.message.job_id;
  auto extra = queue->take("echo", 100, 1500ms);
  ASSERT_TRUE(extra.ok());
  EXPECT_TRUE(extra->empty()) << "a finished job came back: " << extra->front().message.job_id;
  for (const auto& delivery : again) ASSERT_TRUE(queue->ack(delivery).ok());
  queue.reset();

  queue = open_queue(settings);
  auto none = queue->take("echo", 100, 2s);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty()) << none->size() << " finished jobs came back";
}

// A buffer nobody takes from pauses its partitions (librdkafka drops what it
// had fetched); taking again resumes them. Each job still arrives exactly
// once however often the buffer fills.
TEST(KafkaQueueTest, ABufferLeftFullPausesAndResumesWithoutLosingOrRepeatingAJob) {
  KafkaSettings settings = test_settings(/*partitions=*/2);
  settings.prefetch = 4;
  std::vector<JobMessage> messages;
  for (int i = 0; i < 40; ++i)
    messages.push_back(make_message("echo", R"({"n":)" + std::to_string(i) + "}"));
  auto queue = open_queue(settings);
  ASSERT_TRUE(queue);
  ASSERT_TRUE(queue->enqueue_batch(messages).ok());
  std::vector<Delivery> taken = take_within(*queue, 1);
  ASSERT_EQ(taken.size(), 1u);
  for (int stall = 0; stall < 3; ++stall) {
    // Long enough for the poll thread to find the buffer full and pause.
    std::this_thread::sleep_for(300ms);
    for (auto& delivery : take_within(*queue, 3)) taken.push_back(std::move(delivery));
  }
  for (auto& delivery : take_within(*queue, messages.size() - taken.size()))
    taken.push_back(std::move(delivery));
  std::vector<std::string> expected;
  for (const auto& message : messages) expected.push_back(message.job_id);
  EXPECT_THAT(ids_of(taken), UnorderedElementsAreArray(expected));
  for (const auto& delivery : taken) {
    EXPECT_EQ(delivery.delivery_count, 1u) << delivery.message.job_id;
    ASSERT_TRUE(queue->ack(delivery).ok());
  }
  auto extra = queue->take("echo", 100, 1500ms);
  ASSERT_TRUE(extra.ok());
  EXPECT_TRUE(extra->empty()) << "a job came twice: " << extra->front().message.job_id;
}

// The consumer lag a worker reports (dtq_worker_consumer_lag): every record
// of the partitions it holds that is not finished, buffered or running, and
// one less for each job acked from the front of its partition.
TEST(KafkaQueueTest, ConsumerLagCountsTheRecordsNotFinished) {
  const KafkaSettings settings = test_settings(/*partitions=*/2);
  std::vector<JobMessage> messages;
  for (int i = 0; i < 20; ++i)
    messages.push_back(make_message("echo", R"({"n":)" + std::to_string(i) + "}"));
  auto queue = open_queue(settings);
  ASSERT_TRUE(queue);
  const auto lag = [&] {
    auto counted = queue->consumer_lag("echo", 2s);
    return counted.ok() ? *counted : -1;
  };
  EXPECT_EQ(lag(), 0) << "no consumer yet: nothing held";
  ASSERT_TRUE(queue->enqueue_batch(messages).ok());
  auto taken = take_within(*queue, 5);
  ASSERT_EQ(taken.size(), 5u);
  EXPECT_TRUE(dtq::testing::eventually([&] { return lag() == 20; })) << lag();
  // Taken in each partition's order: acking them moves both fronts.
  for (const auto& delivery : taken) ASSERT_TRUE(queue->ack(delivery).ok());
  EXPECT_EQ(lag(), 15);
  const auto untaken = queue->consumer_lag("never_taken", 2s);
  ASSERT_TRUE(untaken.ok()) << untaken.status().message();
  EXPECT_EQ(*untaken, 0);
}

// A member that dies (no revocation, no last commit) leaves behind only what
// its periodic commits said: the next member gets exactly the unfinished
// jobs, as redeliveries.
TEST(KafkaQueueTest, AMemberThatDiesLeavesExactlyItsUnfinishedJobs) {
  const KafkaSettings settings = test_settings(/*partitions=*/2);
  std::vector<JobMessage> messages;
  for (int i = 0; i < 20; ++i) messages.push_back(make_message());
  std::set<std::string> unfinished = {messages[2].job_id, messages[11].job_id};
  {
    auto producer = open_queue(settings);
    ASSERT_TRUE(producer);
    ASSERT_TRUE(producer->enqueue_batch(messages).ok());
  }
  // Forked while this process has no Kafka client (and so no threads of
  // librdkafka) for the child to inherit half of.
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto queue = KafkaJobQueue::create(settings);
    if (!queue.ok()) _exit(1);
    const auto taken = take_within(**queue, messages.size());
    if (taken.size() != messages.size()) _exit(2);
    for (const auto& delivery : taken) {
      if (unfinished.count(delivery.message.job_id) == 0 && !(*queue)->ack(delivery).ok()) _exit(3);
    }
    // The point of the sleep: several commit intervals pass (the periodic
    // commits are what a dead member leaves), and nothing outside shows them.
    std::this_thread::sleep_for(500ms);
    _exit(0);  // no destructor: the member dies
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);

  // The group hands the dead member's partitions over after its session
  // times out.
  auto queue = open_queue(settings);
  ASSERT_TRUE(queue);
  auto again = take_within(*queue, unfinished.size(), 40s);
  EXPECT_THAT(ids_of(again), UnorderedElementsAreArray(unfinished));
  for (const auto& delivery : again) EXPECT_EQ(delivery.delivery_count, 2u);
  auto extra = queue->take("echo", 100, 1500ms);
  ASSERT_TRUE(extra.ok());
  EXPECT_TRUE(extra->empty()) << "a finished job came back: " << extra->front().message.job_id;
}

// A released job comes back first (the conformance suite); released while
// its member leaves, the next member runs it, as a redelivery.
TEST(KafkaQueueTest, AJobReleasedAsItsMemberLeavesGoesToTheNext) {
  const KafkaSettings settings = test_settings(/*partitions=*/1);
  const JobMessage first = make_message();
  const JobMessage second = make_message();
  {
    auto queue = open_queue(settings);
    ASSERT_TRUE(queue);
    ASSERT_TRUE(queue->enqueue(first).ok());
    ASSERT_TRUE(queue->enqueue(second).ok());
    auto taken = take_within(*queue, 2);
    ASSERT_EQ(taken.size(), 2u);
    ASSERT_EQ(taken[0].message.job_id, first.job_id);
    ASSERT_TRUE(queue->ack(taken[1]).ok());
    ASSERT_TRUE(queue->release(taken[0]).ok());
  }
  auto queue = open_queue(settings);
  ASSERT_TRUE(queue);
  auto handed_over = take_within(*queue, 1);
  ASSERT_EQ(handed_over.size(), 1u);
  EXPECT_EQ(handed_over[0].message.job_id, first.job_id);
  EXPECT_EQ(handed_over[0].delivery_count, 2u);
  auto extra = queue->take("echo", 10, 1s);
  ASSERT_TRUE(extra.ok());
  EXPECT_TRUE(extra->empty());
}

// Listing and replaying dead letters is the conformance suite's; this is
// what one looks like on the dead-letter topic.
TEST(KafkaQueueTest, ADeadLetterIsTheJobMessageWithItsErrorInHeaders) {
  const KafkaSettings settings = test_settings();
  auto queue = open_queue(settings);
  ASSERT_TRUE(queue);
  const JobMessage message = make_message("echo", R"({"fail":true})");
  ASSERT_TRUE(queue->enqueue(message).ok());
  auto taken = take_within(*queue, 1);
  ASSERT_EQ(taken.size(), 1u);
  ASSERT_TRUE(queue->dead_letter(taken[0], JobError{"boom", "it broke"}, 3).ok());

  // The record on jobs.echo.dlq.v1: the job message unchanged, its error in headers.
  const auto records = read_topic(settings, queue->dlq_topic("echo"));
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].key, message.job_id);
  EXPECT_EQ(records[0].value, to_json(message));
  EXPECT_EQ(header_value(records[0], "content-type"), "application/json");
  EXPECT_EQ(header_value(records[0], "schema-version"), "1.0");
  EXPECT_EQ(header_value(records[0], "dtq-record"), "dead-letter");
  EXPECT_EQ(header_value(records[0], "dtq-error-code"), "boom");
  EXPECT_EQ(header_value(records[0], "dtq-error-message"), "it broke");
  EXPECT_EQ(header_value(records[0], "dtq-attempts"), "3");
  EXPECT_EQ(header_value(records[0], "dtq-source-topic"), queue->topic("echo"));
}

// The dead-letter topic keeps its records for the dead-letter retention
// (DescribeConfigs); the job topic is left to the broker's default.
TEST(KafkaQueueTest, ADeadLetterTopicIsCreatedWithTheDeadLetterRetention) {
  KafkaSettings settings = test_settings();
  settings.dlq_retention = std::chrono::hours(24 * 30);
  auto queue = open_queue(settings);
  ASSERT_TRUE(queue);
  ASSERT_TRUE(queue->ensure_topics("echo").ok());
  auto admin = Producer::create(settings);
  ASSERT_TRUE(admin.ok()) << admin.status().message();
  auto letters = (*admin)->topic_config(queue->dlq_topic("echo"));
  ASSERT_TRUE(letters.ok()) << letters.status().message();
  EXPECT_EQ((*letters)["retention.ms"], "2592000000");  // 30 days, the default
  auto jobs = (*admin)->topic_config(queue->topic("echo"));
  ASSERT_TRUE(jobs.ok()) << jobs.status().message();
  EXPECT_FALSE(jobs->contains("retention.ms"));
}

// A dead-letter topic that exists (an older dtq, a script) is altered to
// the retention asked for; its other configs stay.
TEST(KafkaQueueTest, AnExistingDeadLetterTopicGetsTheRetentionAndKeepsItsOtherConfigs) {
  KafkaSettings settings = test_settings(/*partitions=*/1);
  auto admin = Producer::create(settings);
  ASSERT_TRUE(admin.ok()) << admin.status().message();
  const std::string name = KafkaJobQueue::create(settings).value()->dlq_topic("echo");
  ASSERT_TRUE((*admin)->create_topics({name}, 1, -1, {{"max.message.bytes", "200000"}}).ok());
  ASSERT_TRUE((*admin)->wait_visible({name}).ok());

  settings.dlq_retention = std::chrono::hours(36);
  auto queue = open_queue(settings);
  ASSERT_TRUE(queue);
  ASSERT_TRUE(queue->ensure_topics("echo").ok());
  auto config = (*admin)->topic_config(name);
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ((*config)["retention.ms"], std::to_string(36 * 3600 * 1000));
  EXPECT_EQ((*config)["max.message.bytes"], "200000");
}

TEST(KafkaQueueTest, AnUnreadableRecordIsDeadLetteredAndSkipped) {
  const KafkaSettings settings = test_settings(/*partitions=*/1);
  auto queue = open_queue(settings);
  ASSERT_TRUE(queue);
  ASSERT_TRUE(queue->ensure_topics("echo").ok());
  auto producer = Producer::create(settings);
  ASSERT_TRUE(producer.ok());
  const Record garbage{
      .topic = queue->topic("echo"), .key = "junk", .value = "not json", .headers = {}};
  ASSERT_TRUE((*producer)->produce({&garbage, 1}).ok());
  const JobMessage good = make_message();
  ASSERT_TRUE(queue->enqueue(good).ok());

  auto taken = take_within(*queue, 1);
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0].message.job_id, good.job_id);
  ASSERT_TRUE(queue->ack(taken[0]).ok());
  std::vector<RawRecord> dead;
  ASSERT_TRUE(eventually(
      [&] { return !(dead = read_topic(settings, queue->dlq_topic("echo"))).empty(); }, 10s));
  EXPECT_EQ(dead[0].key, "junk");
  EXPECT_EQ(dead[0].value, "not json");
  EXPECT_EQ(header_value(dead[0], "dtq-error-code"), "invalid_message");
  queue.reset();

  queue = open_queue(settings);  // both offsets are committed
  auto none = queue->take("echo", 10, 2s);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

// Two members of one group: each gets some of the partitions. When one
// leaves with jobs unfinished, exactly those move to the other; nothing the
// leaver finished runs again.
TEST(KafkaQueueTest, TwoMembersSplitThePartitionsAndALeaversUnfinishedJobsMove) {
  const KafkaSettings settings = test_settings(/*partitions=*/4);
  auto first = open_queue(settings);
  auto second = open_queue(settings);
  ASSERT_TRUE(first && second);

  std::mutex mutex;
  std::map<std::string, int> acked;  // job id → times acknowledged
  std::vector<Delivery> held;        // taken by `first`, never finished by it
  std::set<std::string> first_got, second_got;
  std::vector<Delivery> second_redelivered;
  std::atomic<bool> stop_first{false}, stop_second{false};
  std::atomic<int> errors{0};

  auto worker = [&](KafkaJobQueue& queue, std::atomic<bool>& stop, bool is_first) {
    while (!stop) {
      auto taken = queue.take("echo", 4, 100ms);
      if (!taken.ok()) {
        ++errors;
        continue;
      }
      for (auto& delivery : *taken) {
        std::lock_guard lock(mutex);
        (is_first ? first_got : second_got).insert(delivery.message.job_id);
        // Held (never finished by `first`) only once the group has settled
        // with both members: a rebalance before that would move them early.
        if (is_first && !second_got.empty() && held.size() < 3 && first_got.size() % 3 == 0) {
          held.push_back(delivery);
          continue;
        }
        if (!is_first && delivery.delivery_count > 1) second_redelivered.push_back(delivery);
        if (!queue.ack(delivery).ok()) ++errors;
        ++acked[delivery.message.job_id];
      }
    }
  };
  std::thread first_thread(worker, std::ref(*first), std::ref(stop_first), true);
  std::thread second_thread(worker, std::ref(*second), std::ref(stop_second), false);
  struct Joiner {  // the threads end however the test ends
    std::atomic<bool>& stop_first;
    std::atomic<bool>& stop_second;
    std::thread& first;
    std::thread& second;
    ~Joiner() {
      stop_first = stop_second = true;
      if (first.joinable()) first.join();
      if (second.joinable()) second.join();
    }
  } joiner{stop_first, stop_second, first_thread, second_thread};

  // Produce until both members have work and `first` holds three jobs.
  std::set<std::string> produced;
  const auto until = SteadyClock::now() + 45s;
  while (SteadyClock::now() < until) {
    {
      std::lock_guard lock(mutex);
      if (first_got.size() >= 5 && second_got.size() >= 5 && held.size() == 3) break;
    }
    const JobMessage message = make_message();
    ASSERT_TRUE(first->enqueue(message).ok());
    produced.insert(message.job_id);
    // One at a time: the next once a member took this one.
    ASSERT_TRUE(eventually(
        [&] {
          std::lock_guard lock(mutex);
          return first_got.contains(message.job_id) || second_got.contains(message.job_id);
        },
        20s));
  }
  // Everything produced so far is taken by someone.
  ASSERT_TRUE(eventually(
      [&] {
        std::lock_guard lock(mutex);
        std::set<std::string> taken;
        for (const auto& [id, times] : acked) taken.insert(id);
        for (const auto& delivery : held) taken.insert(delivery.message.job_id);
        return taken == produced;
      },
      20s));
  std::set<std::string> held_ids;
  {
    std::lock_guard lock(mutex);
    ASSERT_EQ(held.size(), 3u) << "first got " << first_got.size() << ", second "
                               << second_got.size();
    EXPECT_GE(first_got.size(), 5u);
    EXPECT_GE(second_got.size(), 5u);
    for (const auto& delivery : held) held_ids.insert(delivery.message.job_id);
  }

  // `first` leaves mid-flight: its held jobs go to `second`.
  stop_first = true;
  first_thread.join();
  first.reset();
  ASSERT_TRUE(eventually(
      [&] {
        std::lock_guard lock(mutex);
        return std::all_of(held_ids.begin(), held_ids.end(),
                           [&](const auto& id) { return acked.count(id) > 0; });
      },
      30s))
      << "the leaver's unfinished jobs did not reach the other member";
  // Room for anything that should not come: no job runs a second time.
  EXPECT_TRUE(throughout(
      [&] {
        std::lock_guard lock(mutex);
        return std::all_of(acked.begin(), acked.end(),
                           [](const auto& entry) { return entry.second == 1; });
      },
      1s));
  stop_second = true;
  second_thread.join();

  std::lock_guard lock(mutex);
  EXPECT_EQ(errors.load(), 0);
  std::set<std::string> redelivered;
  for (const auto& delivery : second_redelivered) redelivered.insert(delivery.message.job_id);
  EXPECT_EQ(redelivered, held_ids);
  EXPECT_EQ(acked.size(), produced.size());
  for (const auto& [id, times] : acked) EXPECT_EQ(times, 1) << id << " ran " << times << " times";
}

// The broker stops and starts again under a running queue: an enqueue made
// while it is down completes once it is back, a job taken before the restart
// can still be finished, and nothing finished comes back afterwards.
TEST(KafkaQueueTest, RecoversFromABrokerRestart) {
  if (!broker_is_scripted()) {
    GTEST_SKIP() << "DTQ_KAFKA_BOOTSTRAP names a broker these tests do not run";
  }
  KafkaSettings settings = test_settings(/*partitions=*/2);
  settings.delivery_timeout = 120s;
  settings.session_timeout = 45s;  // the member outlives the restart
  auto queue = open_queue(settings);
  ASSERT_TRUE(queue);
  const JobMessage before = make_message();
  ASSERT_TRUE(queue->enqueue(before).ok());
  auto in_flight = take_within(*queue, 1);
  ASSERT_EQ(in_flight.size(), 1u);

  ASSERT_TRUE(stop_broker());
  const JobMessage during = make_message();
  Status enqueued = internal_error("not done");
  std::thread producer([&] { enqueued = queue->enqueue(during); });
  // The point of the sleep: the enqueue is in flight while the broker is
  // down, and nothing outside shows that it is.
  std::this_thread::sleep_for(500ms);
  ASSERT_TRUE(start_broker());
  producer.join();
  ASSERT_TRUE(enqueued.ok()) << enqueued.message();

  // Finishing the job taken before the restart. If the group moved it
  // meanwhile, it comes back (as a redelivery) and is finished then.
  std::set<std::string> finished;
  if (queue->ack(in_flight[0]).ok()) finished.insert(before.job_id);
  const auto until = SteadyClock::now() + 60s;
  while (finished.size() < 2 && SteadyClock::now() < until) {
    auto taken = queue->take("echo", 10, 200ms);
    if (!taken.ok()) continue;  // the group may still be settling
    for (const auto& delivery : *taken) {
      if (delivery.message.job_id == before.job_id) {
        EXPECT_EQ(delivery.delivery_count, 2u);
      }
      ASSERT_TRUE(queue->ack(delivery).ok());
      finished.insert(delivery.message.job_id);
    }
  }
  EXPECT_EQ(finished, (std::set<std::string>{before.job_id, during.job_id}));
  queue.reset();

  queue = open_queue(settings);
  auto none = queue->take("echo", 10, 3s);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty()) << none->size() << " finished jobs came back after the restart";
}

}  // namespace
}  // namespace dtq::kafka::testing
