// The embedded queue's priority classes: within a job type, high before
// normal before low by the PriorityTurns rule (priority.hpp), oldest first
// within a class, the class kept across a restart, and no starvation of
// low-priority jobs under a constant high-priority load.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <vector>

#include "dtq/core/ports/job_queue.hpp"
#include "dtq/core/time.hpp"
#include "embedded_test_util.hpp"

namespace dtq::embedded::testing {
namespace {

class PriorityQueueTest : public EmbeddedTest {};

JobMessage with_priority(JobPriority priority, int n) {
  JobMessage message = make_message("echo", R"({"n":)" + std::to_string(n) + "}");
  message.priority = priority;
  return message;
}

Delivery take_one(JobQueue& queue) {
  auto taken = queue.take("echo", 1, 5s);
  EXPECT_TRUE(taken.ok()) << taken.status().message();
  EXPECT_EQ(taken.ok() ? taken->size() : 0, 1u);
  return taken.ok() && !taken->empty() ? taken->front() : Delivery{};
}

TEST_F(PriorityQueueTest, AHighJobBehindABacklogOfNormalOnesIsTakenFirst) {
  auto backends = open();
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(backends.queue->enqueue(with_priority(JobPriority::kNormal, i)).ok());
  }
  const JobMessage high = with_priority(JobPriority::kHigh, 100);
  ASSERT_TRUE(backends.queue->enqueue(high).ok());
  const Delivery first = take_one(*backends.queue);
  EXPECT_EQ(first.message.job_id, high.job_id);
  EXPECT_EQ(first.message.priority, JobPriority::kHigh);
  // Then the normal ones, oldest first.
  EXPECT_EQ(take_one(*backends.queue).message.payload, R"({"n":0})");
}

TEST_F(PriorityQueueTest, ClassesShareTakesSixThreeOneAndStayInOrderWithinAClass) {
  auto backends = open();
  std::map<JobPriority, std::vector<std::string>> sent;
  for (int i = 0; i < 30; ++i) {
    for (const JobPriority priority : kAllPriorities) {
      const JobMessage message = with_priority(priority, i);
      sent[priority].push_back(message.job_id);
      ASSERT_TRUE(backends.queue->enqueue(message).ok());
    }
  }
  auto taken = backends.queue->take("echo", 10, 1s);
  ASSERT_TRUE(taken.ok());
  ASSERT_EQ(taken->size(), 10u);
  std::map<JobPriority, std::vector<std::string>> got;
  for (const auto& delivery : *taken)
    got[delivery.message.priority].push_back(delivery.message.job_id);
  EXPECT_EQ(got[JobPriority::kHigh].size(), 6u);
  EXPECT_EQ(got[JobPriority::kNormal].size(), 3u);
  EXPECT_EQ(got[JobPriority::kLow].size(), 1u);
  for (auto& [priority, ids] : got) {
    const auto& expected = sent[priority];
    EXPECT_EQ(ids, std::vector<std::string>(expected.begin(),
                                            expected.begin() + static_cast<long>(ids.size())))
        << to_string(priority);
  }
}

TEST_F(PriorityQueueTest, ALowJobRunsUnderAConstantHighLoad) {
  auto backends = open();
  const JobMessage low = with_priority(JobPriority::kLow, -1);
  ASSERT_TRUE(backends.queue->enqueue(low).ok());
  // Every take finds high-priority work waiting: two more arrive for each
  // one taken, so the high backlog only grows.
  int n = 0;
  for (int i = 0; i < 4; ++i)
    ASSERT_TRUE(backends.queue->enqueue(with_priority(JobPriority::kHigh, n++)).ok());
  size_t takes = 0;
  bool low_ran = false;
  while (!low_ran && takes < 100) {
    const Delivery delivery = take_one(*backends.queue);
    ++takes;
    low_ran = delivery.message.job_id == low.job_id;
    ASSERT_TRUE(backends.queue->ack(delivery).ok());
    for (int i = 0; i < 2; ++i)
      ASSERT_TRUE(backends.queue->enqueue(with_priority(JobPriority::kHigh, n++)).ok());
  }
  EXPECT_TRUE(low_ran);
  // High 6, low 1: its turn comes within 7 takes.
  EXPECT_LE(takes, 7u);
}

TEST_F(PriorityQueueTest, TheClassSurvivesARestartAndARelease) {
  const JobMessage normal = with_priority(JobPriority::kNormal, 1);
  const JobMessage high = with_priority(JobPriority::kHigh, 2);
  {
    auto backends = open();
    ASSERT_TRUE(backends.queue->enqueue(normal).ok());
    ASSERT_TRUE(backends.queue->enqueue(high).ok());
  }
  auto backends = open();
  const Delivery first = take_one(*backends.queue);
  EXPECT_EQ(first.message.job_id, high.job_id);
  EXPECT_EQ(first.message.priority, JobPriority::kHigh);
  // Released, it is first of its class again: ahead of a newer high job.
  ASSERT_TRUE(backends.queue->release(first).ok());
  const JobMessage newer = with_priority(JobPriority::kHigh, 3);
  ASSERT_TRUE(backends.queue->enqueue(newer).ok());
  std::vector<std::string> order;
  for (int i = 0; i < 3; ++i) order.push_back(take_one(*backends.queue).message.job_id);
  const auto at = [&](const std::string& id) {
    return std::find(order.begin(), order.end(), id) - order.begin();
  };
  EXPECT_LT(at(high.job_id), at(newer.job_id));
  EXPECT_LT(at(normal.job_id), 3);
}

TEST_F(PriorityQueueTest, TheStatusKeepsThePriority) {
  auto backends = open();
  JobStatus status{.job_id = new_uuid4(),
                   .state = JobState::kQueued,
                   .updated_at = now_rfc3339(),
                   .message = "queued",
                   .job_type = "echo",
                   .priority = JobPriority::kLow};
  ASSERT_TRUE(backends.statuses->update(status).ok());
  status.state = JobState::kRunning;
  status.priority = JobPriority::kNormal;  // a worker's update need not repeat it
  ASSERT_TRUE(backends.statuses->update(status).ok());
  auto read = backends.statuses->get(status.job_id);
  ASSERT_TRUE(read.ok()) << read.status().message();
  EXPECT_EQ(read->priority, JobPriority::kLow);
  EXPECT_EQ(read->state, JobState::kRunning);
}

}  // namespace
}  // namespace dtq::embedded::testing
