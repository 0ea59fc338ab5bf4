// Priorities on Kafka, against a real broker: each class on its own topic
// (jobs.T.v1 stays normal, jobs.T.high.v1, jobs.T.low.v1), the class read
// back from the topic, a high job submitted behind a backlog of normal ones
// taken ahead of that backlog, and a low job not starved by a high load;
// and, with the class topics off, every class on the job topic.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "dtq/core/model_json.hpp"
#include "kafka_test_util.hpp"
#include "producer.hpp"

namespace dtq::kafka::testing {
namespace {

JobMessage with_priority(JobPriority priority) {
  JobMessage message = make_message();
  message.priority = priority;
  return message;
}

// Starts the type's three consumers and waits until each class has
// delivered once, so that what follows does not measure group joins.
void warm_up(KafkaJobQueue& queue) {
  for (const JobPriority priority : kAllPriorities) {
    ASSERT_TRUE(queue.enqueue(with_priority(priority)).ok());
  }
  const auto taken = take_within(queue, 3, 90s);
  ASSERT_EQ(taken.size(), 3u);
  for (const auto& delivery : taken) ASSERT_TRUE(queue.ack(delivery).ok());
}

TEST(KafkaPriorityTest, EachClassHasItsTopicAndGroupAndNormalKeepsTheContractsOwn) {
  const KafkaSettings settings = test_settings();
  auto queue = open_queue(settings);
  ASSERT_NE(queue, nullptr);
  const std::string prefix =
      settings.topic_template.substr(0, settings.topic_template.find("jobs."));
  EXPECT_EQ(queue->topic("echo"), prefix + "jobs.echo.v1");
  EXPECT_EQ(queue->topic("echo", JobPriority::kNormal), prefix + "jobs.echo.v1");
  EXPECT_EQ(queue->topic("echo", JobPriority::kHigh), prefix + "jobs.echo.high.v1");
  EXPECT_EQ(queue->topic("echo", JobPriority::kLow), prefix + "jobs.echo.low.v1");
  EXPECT_EQ(queue->group_id("echo"), settings.group_id_prefix + "echo");
  EXPECT_EQ(queue->group_id("echo", JobPriority::kHigh), settings.group_id_prefix + "echo.high");

  KafkaSettings bad = settings;
  bad.priority_topic_template = "jobs.%s.v1";
  EXPECT_EQ(KafkaJobQueue::create(bad).status().code(), StatusCode::kInvalidArgument);

  warm_up(*queue);
  // Each delivery comes back with its class, whatever the topic held.
  const JobMessage low = with_priority(JobPriority::kLow);
  ASSERT_TRUE(queue->enqueue(low).ok());
  const auto taken = take_within(*queue, 1, 30s);
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0].message.job_id, low.job_id);
  EXPECT_EQ(taken[0].message.priority, JobPriority::kLow);
  ASSERT_TRUE(queue->ack(taken[0]).ok());
}

// For a broker that caps topics (Event Hubs Standard: 10 per namespace):
// no class topics are made, and every class goes through the job topic,
// keeping its priority in the message.
TEST(KafkaPriorityTest, WithoutClassTopicsEveryClassSharesTheJobTopic) {
  KafkaSettings settings = test_settings();
  settings.priority_topic_template.clear();
  auto queue = open_queue(settings);
  ASSERT_NE(queue, nullptr);
  EXPECT_EQ(queue->topic("echo", JobPriority::kHigh), queue->topic("echo"));
  EXPECT_EQ(queue->topic("echo", JobPriority::kLow), queue->topic("echo"));

  std::vector<std::string> sent;
  for (const JobPriority priority : kAllPriorities) {
    const JobMessage message = with_priority(priority);
    sent.push_back(message.job_id);
    ASSERT_TRUE(queue->enqueue(message).ok());
  }
  const auto taken = take_within(*queue, 3, 90s);
  ASSERT_EQ(taken.size(), 3u);
  for (const auto& delivery : taken) {
    const auto at = std::find(sent.begin(), sent.end(), delivery.message.job_id);
    ASSERT_NE(at, sent.end());
    EXPECT_EQ(delivery.message.priority, kAllPriorities[static_cast<size_t>(at - sent.begin())]);
  }
  // Each is settled through the consumer that handed it out.
  EXPECT_TRUE(queue->ack(taken[0]).ok());
  EXPECT_TRUE(queue->release(taken[1]).ok());
  EXPECT_TRUE(queue->dead_letter(taken[2], JobError{"nope", "no"}, 1).ok());

  const std::string prefix =
      settings.topic_template.substr(0, settings.topic_template.find("jobs."));
  auto admin = Producer::create(settings);
  ASSERT_TRUE(admin.ok()) << admin.status().message();
  EXPECT_TRUE((*admin)->topic_config(queue->topic("echo")).ok());
  EXPECT_FALSE((*admin)->topic_config(prefix + "jobs.echo.high.v1").ok());
  EXPECT_FALSE((*admin)->topic_config(prefix + "jobs.echo.low.v1").ok());
}

TEST(KafkaPriorityTest, AHighJobBehindABacklogOfNormalOnesIsTakenAheadOfIt) {
  const KafkaSettings settings = test_settings();
  auto queue = open_queue(settings);
  ASSERT_NE(queue, nullptr);
  warm_up(*queue);
  constexpr size_t kBacklog = 200;
  std::vector<JobMessage> backlog;
  for (size_t i = 0; i < kBacklog; ++i) backlog.push_back(make_message());
  ASSERT_TRUE(queue->enqueue_batch(backlog).ok());
  const JobMessage high = with_priority(JobPriority::kHigh);
  ASSERT_TRUE(queue->enqueue(high).ok());
  // A worker taking one job at a time, each running 2 ms: the high job comes
  // long before the backlog runs out (it is taken as soon as its consumer
  // has it, a few milliseconds after the enqueue). A worker of instant jobs
  // takes all 200 in about 4 ms, before the high one is even fetched.
  size_t normals_before = 0;
  bool high_taken = false;
  while (!high_taken && normals_before < kBacklog) {
    const auto taken = take_within(*queue, 1, 30s);
    ASSERT_EQ(taken.size(), 1u);
    high_taken = taken[0].message.job_id == high.job_id;
    if (!high_taken) ++normals_before;
    std::this_thread::sleep_for(2ms);
    ASSERT_TRUE(queue->ack(taken[0]).ok());
  }
  EXPECT_TRUE(high_taken);
  EXPECT_LT(normals_before, kBacklog / 2) << "the high job waited behind most of the backlog";
}

TEST(KafkaPriorityTest, ALowJobIsNotStarvedByAHighLoad) {
  const KafkaSettings settings = test_settings();
  auto queue = open_queue(settings);
  ASSERT_NE(queue, nullptr);
  warm_up(*queue);
  // The low job and a load of high ones, all waiting when the worker
  // starts: strict priority would leave the low one for last.
  const JobMessage low = with_priority(JobPriority::kLow);
  ASSERT_TRUE(queue->enqueue(low).ok());
  constexpr size_t kHighLoad = 120;
  std::vector<JobMessage> highs;
  for (size_t i = 0; i < kHighLoad; ++i) highs.push_back(with_priority(JobPriority::kHigh));
  ASSERT_TRUE(queue->enqueue_batch(highs).ok());
  size_t highs_before = 0;
  bool low_taken = false;
  while (!low_taken && highs_before < kHighLoad) {
    const auto taken = take_within(*queue, 1, 30s);
    ASSERT_EQ(taken.size(), 1u);
    low_taken = taken[0].message.job_id == low.job_id;
    if (!low_taken) ++highs_before;
    ASSERT_TRUE(queue->ack(taken[0]).ok());
  }
  EXPECT_TRUE(low_taken);
  // It ran while high jobs still waited: they never shut it out.
  EXPECT_LT(highs_before, kHighLoad / 2);
}

}  // namespace
}  // namespace dtq::kafka::testing
