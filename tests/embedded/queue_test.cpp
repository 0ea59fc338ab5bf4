// What only the embedded JobQueue does: FIFO order, crash recovery (a real
// killed owner process), the client role, the owner lock, second copies of
// queued jobs, full durability, a backlog larger than the memory window. What every JobQueue does
// is the conformance suite's (conformance_test.cpp).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vector>

#include "dtq/core/ports/job_queue.hpp"
#include "embedded_test_util.hpp"
#include "support/queue_helpers.hpp"

namespace dtq::embedded::testing {
namespace {

using dtq::testing::expect_same;
using ::testing::HasSubstr;

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
    auto put = owner->results->put(
        JobResult{.job_id = new_uuid4(), .job_type = "echo", .completed_at = now_rfc3339()});
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
  EXPECT_EQ(client.queue->dead_letter(fake, JobError{"e", "m"}, 1).code(),
            StatusCode::kFailedPrecondition);
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
  EXPECT_THAT(second.status().message(),
              HasSubstr("is in use by another dtq process (pid " + std::to_string(child) + ")"));
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

// A duplicate inside a batch is the conformance suite's. The queue has no
// index on job_id (it would cost each job two random page writes), so a
// second copy of a job still queued is queued too, as on Kafka: the job
// scheduler's retry after a lost status write makes one, and delivery is
// at least once anyway.
TEST_F(QueueTest, ASecondCopyOfAQueuedJobIsQueuedAsOnKafka) {
  auto backends = open();
  const JobMessage queued = make_message();
  ASSERT_TRUE(backends.queue->enqueue(queued).ok());
  ASSERT_TRUE(backends.queue->enqueue(queued).ok());
  backends = {};
  backends = open();
  auto taken = backends.queue->take("echo", 10, 1s);
  ASSERT_TRUE(taken.ok());
  ASSERT_EQ(taken->size(), 2u);
  for (const Delivery& copy : *taken) {
    EXPECT_EQ(copy.message.job_id, queued.job_id);
    EXPECT_TRUE(backends.queue->ack(copy).ok());
  }
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

// A backlog past the window waits in the table and comes out later, in
// order, each job once; queue_window is tiny here to make the backlog cheap.
class QueueWindowTest : public EmbeddedTest {
 protected:
  static constexpr size_t kWindow = 4;

  EmbeddedBackends open_windowed(Role role = Role::kOwner) {
    auto backends = open_embedded(
        {.data_dir = dir_, .role = role, .poll_interval = 20ms, .queue_window = kWindow});
    EXPECT_TRUE(backends.ok()) << backends.status().message();
    return backends.ok() ? std::move(backends).value() : EmbeddedBackends{};
  }

  // Takes until `count` deliveries came, in the order they came; each take
  // may hand out no more than the window holds.
  static std::vector<Delivery> take_all(JobQueue& queue, size_t count, size_t per_take = 3) {
    std::vector<Delivery> taken;
    while (taken.size() < count) {
      auto some = queue.take("echo", per_take, 5s);
      EXPECT_TRUE(some.ok()) << some.status().message();
      if (!some.ok() || some->empty()) break;
      for (auto& delivery : *some) taken.push_back(std::move(delivery));
    }
    return taken;
  }

  static std::vector<std::string> ids(const std::vector<Delivery>& deliveries) {
    std::vector<std::string> out;
    for (const auto& delivery : deliveries) out.push_back(delivery.message.job_id);
    return out;
  }
};

TEST_F(QueueWindowTest, ABacklogPastTheWindowIsDeliveredInOrderEachJobOnce) {
  auto backends = open_windowed();
  std::vector<std::string> expected;
  std::vector<JobMessage> batch;
  for (int i = 0; i < 30; ++i) {
    batch.push_back(make_message("echo", R"({"n":)" + std::to_string(i) + "}"));
    expected.push_back(batch.back().job_id);
  }
  ASSERT_TRUE(backends.queue->enqueue_batch(batch).ok());
  // Single enqueues behind the batch, while the window is spilled.
  for (int i = 0; i < 10; ++i) {
    const JobMessage one = make_message();
    ASSERT_TRUE(backends.queue->enqueue(one).ok());
    expected.push_back(one.job_id);
  }
  const auto taken = take_all(*backends.queue, expected.size());
  for (const auto& delivery : taken) ASSERT_TRUE(backends.queue->ack(delivery).ok());
  EXPECT_EQ(ids(taken), expected);
  auto extra = backends.queue->take("echo", 10, 200ms);
  ASSERT_TRUE(extra.ok());
  EXPECT_TRUE(extra->empty());
}

TEST_F(QueueWindowTest, AHighPriorityJobPassesASpilledBacklog) {
  auto backends = open_windowed();
  std::vector<JobMessage> backlog;
  for (int i = 0; i < 20; ++i) backlog.push_back(make_message());
  ASSERT_TRUE(backends.queue->enqueue_batch(backlog).ok());
  JobMessage urgent = make_message();
  urgent.priority = JobPriority::kHigh;
  ASSERT_TRUE(backends.queue->enqueue(urgent).ok());
  // The high class has its own window: its job goes at its turn, not after
  // the twenty in front of it.
  const auto first = take_all(*backends.queue, 2, 1);
  EXPECT_THAT(ids(first), ::testing::Contains(urgent.job_id));
}

TEST_F(QueueWindowTest, ASpilledBacklogAndItsLeasesSurviveARestart) {
  std::vector<std::string> expected;
  {
    auto backends = open_windowed();
    std::vector<JobMessage> batch;
    for (int i = 0; i < 20; ++i) {
      batch.push_back(make_message());
      expected.push_back(batch.back().job_id);
    }
    ASSERT_TRUE(backends.queue->enqueue_batch(batch).ok());
    // Leased, never acked: they come back first after the restart.
    ASSERT_EQ(take_all(*backends.queue, 3).size(), 3u);
  }
  auto backends = open_windowed();
  const auto taken = take_all(*backends.queue, expected.size());
  EXPECT_EQ(ids(taken), expected);
}

TEST_F(QueueWindowTest, AClientsBacklogPastTheWindowReachesTheOwner) {
  auto owner = open_windowed();
  auto client = open_windowed(Role::kClient);
  std::vector<std::string> expected;
  for (int i = 0; i < 12; ++i) {
    const JobMessage one = make_message();
    ASSERT_TRUE(client.queue->enqueue(one).ok());
    expected.push_back(one.job_id);
  }
  EXPECT_EQ(ids(take_all(*owner.queue, expected.size())), expected);
}

}  // namespace
}  // namespace dtq::embedded::testing
