// The embedded JobQueue: leasing, ordering, crash recovery (a real killed
// owner process), dead letters and replay, the client role, the owner lock,
// and exactly-once delivery under concurrency.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "dtq/core/ports/job_queue.hpp"
#include "embedded_test_util.hpp"

namespace dtq::embedded::testing {
namespace {

using ::testing::HasSubstr;
using SteadyClock = std::chrono::steady_clock;

class QueueTest : public EmbeddedTest {};

// Takes exactly one message or fails the test.
Delivery take_one(JobQueue& queue, std::string_view job_type = "echo") {
  auto taken = queue.take(job_type, 1, 5s);
  EXPECT_TRUE(taken.ok()) << taken.status().message();
  EXPECT_EQ(taken.ok() ? taken->size() : 0, 1u);
  return taken.ok() && !taken->empty() ? taken->front() : Delivery{};
}

size_t count_ready(JobQueue& queue, std::string_view job_type = "echo") {
  auto taken = queue.take(job_type, 1000, 0ms);
  EXPECT_TRUE(taken.ok()) << taken.status().message();
  return taken.ok() ? taken->size() : 0;
}

void expect_same(const JobMessage& actual, const JobMessage& expected) {
  EXPECT_EQ(actual.job_id, expected.job_id);
  EXPECT_EQ(actual.job_type, expected.job_type);
  EXPECT_EQ(actual.submitted_at, expected.submitted_at);
  EXPECT_EQ(actual.trace_id, expected.trace_id);
  EXPECT_EQ(actual.payload, expected.payload);
}

TEST_F(QueueTest, EnqueueTakeAck) {
  auto backends = open();
  const JobMessage message = make_message();
  ASSERT_TRUE(backends.queue->enqueue(message).ok());
  const Delivery delivery = take_one(*backends.queue);
  expect_same(delivery.message, message);
  EXPECT_EQ(delivery.delivery_count, 1u);
  ASSERT_TRUE(backends.queue->ack(delivery).ok());
  EXPECT_EQ(count_ready(*backends.queue), 0u);
  const Status again = backends.queue->ack(delivery);
  EXPECT_EQ(again.code(), StatusCode::kFailedPrecondition) << again.message();
}

TEST_F(QueueTest, InvalidMessagesAreRefused) {
  auto backends = open();
  JobMessage bad_id = make_message();
  bad_id.job_id = "not-a-uuid";
  EXPECT_EQ(backends.queue->enqueue(bad_id).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(backends.queue->enqueue(make_message("Not A Type")).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(count_ready(*backends.queue), 0u);
}

TEST_F(QueueTest, DeliversInFifoOrderPerType) {
  auto backends = open();
  std::vector<JobMessage> messages;
  for (int i = 0; i < 5; ++i) {
    messages.push_back(make_message("echo", R"({"n":)" + std::to_string(i) + "}"));
    ASSERT_TRUE(backends.queue->enqueue(messages.back()).ok());
  }
  const Delivery first = take_one(*backends.queue);
  EXPECT_EQ(first.message.job_id, messages[0].job_id);
  auto rest = backends.queue->take("echo", 10, 1s);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ((*rest)[i].message.job_id, messages[i + 1].job_id);
}

TEST_F(QueueTest, JobTypesAreIsolated) {
  auto backends = open();
  const JobMessage echo = make_message("echo");
  const JobMessage weather = make_message("weather");
  ASSERT_TRUE(backends.queue->enqueue(echo).ok());
  ASSERT_TRUE(backends.queue->enqueue(weather).ok());
  EXPECT_EQ(take_one(*backends.queue, "weather").message.job_id, weather.job_id);
  EXPECT_EQ(count_ready(*backends.queue, "weather"), 0u);
  EXPECT_EQ(take_one(*backends.queue, "echo").message.job_id, echo.job_id);
  EXPECT_EQ(count_ready(*backends.queue, "quote"), 0u);
}

TEST_F(QueueTest, TakeWaitsForAnEnqueueFromAnotherThread) {
  auto backends = open();
  const JobMessage message = make_message();
  StatusOr<std::vector<Delivery>> taken = Status{};
  std::thread taker([&] { taken = backends.queue->take("echo", 1, 20s); });
  ASSERT_TRUE(backends.queue->enqueue(message).ok());
  taker.join();
  ASSERT_TRUE(taken.ok()) << taken.status().message();
  ASSERT_EQ(taken->size(), 1u);
  EXPECT_EQ(taken->front().message.job_id, message.job_id);
}

TEST_F(QueueTest, TakeTimesOutEmpty) {
  auto backends = open();
  const auto start = SteadyClock::now();
  auto taken = backends.queue->take("echo", 1, 50ms);
  ASSERT_TRUE(taken.ok());
  EXPECT_TRUE(taken->empty());
  EXPECT_GE(SteadyClock::now() - start, 45ms);
}

TEST_F(QueueTest, CloseWakesTakersAndLaterTakesReturnAtOnce) {
  auto backends = open();
  StatusOr<std::vector<Delivery>> taken = Status{};
  std::atomic<bool> returned{false};
  std::thread taker([&] {
    taken = backends.queue->take("echo", 1, 60s);
    returned = true;
  });
  backends.queue->close();
  EXPECT_TRUE(eventually([&] { return returned.load(); }, 20s));
  taker.join();
  ASSERT_TRUE(taken.ok());
  EXPECT_TRUE(taken->empty());
  ASSERT_TRUE(backends.queue->enqueue(make_message()).ok());
  auto after = backends.queue->take("echo", 1, 60s);
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->empty());
}

TEST_F(QueueTest, UnackedMessageIsRedeliveredAfterReopen) {
  const JobMessage message = make_message();
  {
    auto backends = open();
    ASSERT_TRUE(backends.queue->enqueue(message).ok());
    EXPECT_EQ(take_one(*backends.queue).delivery_count, 1u);
  }
  auto backends = open();
  const Delivery again = take_one(*backends.queue);
  expect_same(again.message, message);
  EXPECT_EQ(again.delivery_count, 2u);
}

TEST_F(QueueTest, MessageLeasedByACrashedOwnerIsRedelivered) {
  const JobMessage message = make_message();
  {
    auto client = open(Role::kClient);
    ASSERT_TRUE(client.queue->enqueue(message).ok());
  }
  // Forked before this process opens anything, so the child inherits no
  // threads or locks.
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto owner = open_embedded({.data_dir = dir_, .role = Role::kOwner});
    if (!owner.ok()) _exit(1);
    auto taken = owner->queue->take("echo", 1, 5s);
    if (!taken.ok() || taken->size() != 1) _exit(2);
    // Durable, and so is the delivery count written before it.
    auto put = owner->results->put(JobResult{.job_id = new_uuid4(), .job_type = "echo", .completed_at = now_rfc3339()});
    if (!put.ok()) _exit(3);
    _exit(0);  // no ack, no destructors: a crash
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);

  auto backends = open();
  const Delivery again = take_one(*backends.queue);
  expect_same(again.message, message);
  EXPECT_EQ(again.delivery_count, 2u);
}

TEST_F(QueueTest, AckedMessagesNeverComeBack) {
  std::vector<JobMessage> messages = {make_message(), make_message(), make_message()};
  {
    auto backends = open();
    ASSERT_TRUE(backends.queue->enqueue_batch(messages).ok());
    auto taken = backends.queue->take("echo", 3, 1s);
    ASSERT_TRUE(taken.ok());
    ASSERT_EQ(taken->size(), 3u);
    ASSERT_TRUE(backends.queue->ack((*taken)[0]).ok());
    ASSERT_TRUE(backends.queue->ack((*taken)[2]).ok());
  }
  auto backends = open();
  auto taken = backends.queue->take("echo", 10, 200ms);
  ASSERT_TRUE(taken.ok());
  ASSERT_EQ(taken->size(), 1u);
  EXPECT_EQ(taken->front().message.job_id, messages[1].job_id);
}

TEST_F(QueueTest, ReleasedMessageIsFirstInLine) {
  auto backends = open();
  const JobMessage first = make_message();
  const JobMessage second = make_message();
  ASSERT_TRUE(backends.queue->enqueue(first).ok());
  ASSERT_TRUE(backends.queue->enqueue(second).ok());
  const Delivery delivery = take_one(*backends.queue);
  ASSERT_EQ(delivery.message.job_id, first.job_id);
  ASSERT_TRUE(backends.queue->release(delivery).ok());
  EXPECT_EQ(backends.queue->release(delivery).code(), StatusCode::kFailedPrecondition);
  const Delivery again = take_one(*backends.queue);
  EXPECT_EQ(again.message.job_id, first.job_id);
  EXPECT_EQ(again.delivery_count, 2u);
  EXPECT_EQ(take_one(*backends.queue).message.job_id, second.job_id);
}

TEST_F(QueueTest, DeadLetterListAndReplay) {
  auto backends = open();
  const JobMessage message = make_message("echo", R"({"fail":true})");
  ASSERT_TRUE(backends.queue->enqueue(message).ok());
  const Delivery delivery = take_one(*backends.queue);
  ASSERT_TRUE(backends.queue->dead_letter(delivery, JobError{"boom", "it broke"}, 3).ok());
  EXPECT_EQ(backends.queue->ack(delivery).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(count_ready(*backends.queue), 0u);

  auto letters = backends.queue->dead_letters("", 10);
  ASSERT_TRUE(letters.ok()) << letters.status().message();
  ASSERT_EQ(letters->size(), 1u);
  const DeadLetter& letter = letters->front();
  expect_same(letter.message, message);
  EXPECT_EQ(letter.error.code, "boom");
  EXPECT_EQ(letter.error.message, "it broke");
  EXPECT_EQ(letter.attempts, 3u);
  EXPECT_TRUE(parse_rfc3339(letter.failed_at).has_value()) << letter.failed_at;
  EXPECT_TRUE(letter.replayed_as.empty());
  auto other_type = backends.queue->dead_letters("weather", 10);
  ASSERT_TRUE(other_type.ok());
  EXPECT_TRUE(other_type->empty());

  auto replayed = backends.queue->replay(message.job_id);
  ASSERT_TRUE(replayed.ok()) << replayed.status().message();
  EXPECT_NE(*replayed, message.job_id);
  EXPECT_TRUE(is_uuid(*replayed));
  const Delivery rerun = take_one(*backends.queue);
  EXPECT_EQ(rerun.message.job_id, *replayed);
  EXPECT_EQ(rerun.message.payload, message.payload);
  EXPECT_EQ(rerun.message.trace_id, message.trace_id);
  EXPECT_EQ(rerun.message.job_type, message.job_type);
  EXPECT_EQ(rerun.delivery_count, 1u);

  const auto twice = backends.queue->replay(message.job_id);
  EXPECT_EQ(twice.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(twice.status().message(), HasSubstr(*replayed));
  EXPECT_EQ(backends.queue->replay(new_uuid4()).status().code(), StatusCode::kNotFound);

  letters = backends.queue->dead_letters("echo", 10);
  ASSERT_TRUE(letters.ok());
  ASSERT_EQ(letters->size(), 1u);
  EXPECT_EQ(letters->front().replayed_as, *replayed);
}

TEST_F(QueueTest, DeadLettersAreListedNewestFirstAndSurviveReopen) {
  std::vector<std::string> ids;
  {
    auto backends = open();
    for (int i = 0; i < 3; ++i) {
      const JobMessage message = make_message();
      ids.push_back(message.job_id);
      ASSERT_TRUE(backends.queue->enqueue(message).ok());
      ASSERT_TRUE(backends.queue->dead_letter(take_one(*backends.queue), JobError{"e", "m"}, 1).ok());
    }
  }
  auto backends = open();
  EXPECT_EQ(count_ready(*backends.queue), 0u);
  auto letters = backends.queue->dead_letters("", 2);
  ASSERT_TRUE(letters.ok());
  ASSERT_EQ(letters->size(), 2u);
  EXPECT_EQ((*letters)[0].message.job_id, ids[2]);
  EXPECT_EQ((*letters)[1].message.job_id, ids[1]);
}

TEST_F(QueueTest, ClientEnqueueReachesARunningOwner) {
  auto owner = open(Role::kOwner);
  auto client = open(Role::kClient);
  const JobMessage message = make_message();
  ASSERT_TRUE(client.queue->enqueue(message).ok());
  // The owner polls every 20 ms; take waits up to 5 s.
  const Delivery delivery = take_one(*owner.queue);
  expect_same(delivery.message, message);
  ASSERT_TRUE(owner.queue->ack(delivery).ok());
  // And a message the owner enqueues itself is not loaded a second time.
  ASSERT_TRUE(owner.queue->enqueue(make_message()).ok());
  ASSERT_TRUE(client.queue->enqueue(make_message()).ok());
  auto taken = owner.queue->take("echo", 10, 5s);
  ASSERT_TRUE(taken.ok());
  size_t total = taken->size();
  while (total < 2) {
    auto more = owner.queue->take("echo", 10, 5s);
    ASSERT_TRUE(more.ok());
    if (more->empty()) break;
    total += more->size();
  }
  EXPECT_EQ(total, 2u);
  auto extra = owner.queue->take("echo", 10, 200ms);
  ASSERT_TRUE(extra.ok());
  EXPECT_TRUE(extra->empty());
}

TEST_F(QueueTest, ClientCannotLease) {
  auto client = open(Role::kClient);
  ASSERT_TRUE(client.queue->enqueue(make_message()).ok());
  const auto taken = client.queue->take("echo", 1, 10ms);
  EXPECT_EQ(taken.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(taken.status().message(), HasSubstr("only the owning process leases jobs"));
  const Delivery fake{.message = make_message(), .receipt = 1};
  EXPECT_EQ(client.queue->ack(fake).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(client.queue->release(fake).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(client.queue->dead_letter(fake, JobError{"e", "m"}, 1).code(), StatusCode::kFailedPrecondition);
}

TEST_F(QueueTest, SecondOwnerIsRefusedWhileTheFirstIsOpen) {
  int to_parent[2];
  int to_child[2];
  ASSERT_EQ(pipe(to_parent), 0);
  ASSERT_EQ(pipe(to_child), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(to_parent[0]);
    close(to_child[1]);
    int code = 0;
    {
      auto owner = open_embedded({.data_dir = dir_, .role = Role::kOwner});
      char ready = owner.ok() ? 'y' : 'n';
      code = owner.ok() ? 0 : 1;
      if (write(to_parent[1], &ready, 1) != 1) code = 2;
      char go = 0;
      if (read(to_child[0], &go, 1) < 0) code = 3;  // EOF also means go
    }
    _exit(code);
  }
  close(to_parent[1]);
  close(to_child[0]);
  char ready = 0;
  ASSERT_EQ(read(to_parent[0], &ready, 1), 1);
  ASSERT_EQ(ready, 'y');

  auto second = open_embedded({.data_dir = dir_, .role = Role::kOwner});
  EXPECT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(), HasSubstr("is in use by another dtq process (pid " + std::to_string(child) + ")"));
  EXPECT_THAT(second.status().message(), HasSubstr(dir_.string()));
  // A client may still open it.
  auto client = open_embedded({.data_dir = dir_, .role = Role::kClient});
  EXPECT_TRUE(client.ok()) << client.status().message();

  ASSERT_EQ(write(to_child[1], "x", 1), 1);
  close(to_child[1]);
  close(to_parent[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  auto third = open_embedded({.data_dir = dir_, .role = Role::kOwner});
  EXPECT_TRUE(third.ok()) << third.status().message();
}

TEST_F(QueueTest, SecondOwnerInTheSameProcessIsRefusedUntilTheFirstCloses) {
  auto first = open();
  const auto second = open_embedded({.data_dir = dir_, .role = Role::kOwner});
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(), HasSubstr("(pid " + std::to_string(getpid()) + ")"));
  first = {};
  EXPECT_TRUE(open_embedded({.data_dir = dir_, .role = Role::kOwner}).ok());
}

TEST_F(QueueTest, EnqueueBatchIsAllOrNothing) {
  auto backends = open();
  const JobMessage queued = make_message();
  ASSERT_TRUE(backends.queue->enqueue(queued).ok());

  const JobMessage a = make_message();
  std::vector<JobMessage> duplicate_inside = {a, make_message(), a};
  const Status inside = backends.queue->enqueue_batch(duplicate_inside);
  EXPECT_EQ(inside.code(), StatusCode::kAlreadyExists) << inside.message();
  EXPECT_THAT(inside.message(), HasSubstr(a.job_id));

  std::vector<JobMessage> duplicate_of_queued = {make_message(), queued};
  EXPECT_EQ(backends.queue->enqueue_batch(duplicate_of_queued).code(), StatusCode::kAlreadyExists);

  auto taken = backends.queue->take("echo", 10, 100ms);
  ASSERT_TRUE(taken.ok());
  ASSERT_EQ(taken->size(), 1u);
  EXPECT_EQ(taken->front().message.job_id, queued.job_id);
  backends = {};
  backends = open();  // nothing of the refused batches reached the table either
  EXPECT_EQ(count_ready(*backends.queue), 1u);
}

TEST_F(QueueTest, ConcurrentProducersAndConsumersDeliverEachMessageOnce) {
  constexpr int kProducers = 4;
  constexpr int kConsumers = 4;
  constexpr size_t kPerProducer = 5'000;
  constexpr size_t kTotal = kProducers * kPerProducer;
  auto backends = open();

  std::atomic<size_t> received{0};
  std::atomic<bool> failed{false};
  std::mutex mutex;
  std::vector<std::string> delivered;
  delivered.reserve(kTotal);
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      std::vector<JobMessage> batch;
      for (size_t i = 0; i < kPerProducer; ++i) {
        batch.push_back(make_message());
        // Half the producers enqueue one by one, half in batches.
        if (p % 2 == 0 || batch.size() == 50 || i + 1 == kPerProducer) {
          if (!backends.queue->enqueue_batch(batch).ok()) failed = true;
          batch.clear();
        }
      }
    });
  }
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&] {
      const auto until = SteadyClock::now() + 60s;
      while (received.load() < kTotal && SteadyClock::now() < until) {
        auto taken = backends.queue->take("echo", 8, 50ms);
        if (!taken.ok()) {
          failed = true;
          return;
        }
        for (const auto& delivery : *taken) {
          if (!backends.queue->ack(delivery).ok()) failed = true;
          std::lock_guard lock(mutex);
          delivered.push_back(delivery.message.job_id);
        }
        received += taken->size();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_FALSE(failed.load());
  ASSERT_EQ(delivered.size(), kTotal);
  EXPECT_EQ(std::set<std::string>(delivered.begin(), delivered.end()).size(), kTotal);
  EXPECT_EQ(count_ready(*backends.queue), 0u);
  backends = {};
  backends = open();  // every ack reached the table
  EXPECT_EQ(count_ready(*backends.queue), 0u);
}

TEST_F(QueueTest, FullDurabilityWorksTheSame) {
  const JobMessage message = make_message();
  {
    auto backends = open(Role::kOwner, Durability::kFull);
    ASSERT_TRUE(backends.queue->enqueue(message).ok());
  }
  auto backends = open(Role::kOwner, Durability::kFull);
  expect_same(take_one(*backends.queue).message, message);
}

}  // namespace
}  // namespace dtq::embedded::testing
