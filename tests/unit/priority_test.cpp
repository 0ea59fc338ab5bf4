// Priorities in the core: the names, the turns rule shared by every queue,
// and the job message and status JSON (absent means normal, so messages
// from before priorities still parse and a normal one is the contract's).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <map>

#include "dtq/core/model_json.hpp"
#include "dtq/core/priority.hpp"
#include "support/model_factories.hpp"

namespace dtq {
namespace {

TEST(PriorityTest, NamesRoundTripAndNothingElseParses) {
  for (const JobPriority priority : kAllPriorities) {
    EXPECT_EQ(parse_job_priority(to_string(priority)), priority);
  }
  EXPECT_FALSE(parse_job_priority("HIGH"));
  EXPECT_FALSE(parse_job_priority("urgent"));
  EXPECT_FALSE(parse_job_priority(""));
}

TEST(PriorityTest, TurnsGiveSixThreeOneOfEveryTenWhenAllWait) {
  PriorityTurns turns;
  std::map<JobPriority, int> counts;
  for (int i = 0; i < 100; ++i) ++counts[turns.next({true, true, true}).value()];
  EXPECT_EQ(counts[JobPriority::kHigh], 60);
  EXPECT_EQ(counts[JobPriority::kNormal], 30);
  EXPECT_EQ(counts[JobPriority::kLow], 10);
}

TEST(PriorityTest, TurnsNeverStarveLowUnderHighLoad) {
  PriorityTurns turns;
  int since_low = 0;
  int worst = 0;
  for (int i = 0; i < 1000; ++i) {
    ++since_low;
    if (turns.next({true, false, true}) == JobPriority::kLow) {
      worst = std::max(worst, since_low);
      since_low = 0;
    }
  }
  EXPECT_GT(worst, 0);
  EXPECT_LE(worst, 7);
}

TEST(PriorityTest, AClassThatReturnsGetsNoSavedUpBurst) {
  PriorityTurns turns;
  for (int i = 0; i < 50; ++i) EXPECT_EQ(turns.next({false, true, false}), JobPriority::kNormal);
  // High arrives behind a normal backlog: it goes next, then shares 2:1.
  EXPECT_EQ(turns.next({true, true, false}), JobPriority::kHigh);
  EXPECT_EQ(turns.next({false, false, false}), std::nullopt);
}

TEST(PriorityTest, MessageJsonCarriesOnlyANonNormalPriority) {
  JobMessage message = testing::make_message();
  EXPECT_EQ(to_json(message).find("priority"), std::string::npos);
  message.priority = JobPriority::kHigh;
  const std::string json = to_json(message);
  EXPECT_NE(json.find(R"("priority":"high")"), std::string::npos);
  auto parsed = parse_job_message(json);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->priority, JobPriority::kHigh);
  // A message from before priorities reads as normal.
  message.priority = JobPriority::kNormal;
  auto old = parse_job_message(to_json(message));
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(old->priority, JobPriority::kNormal);
  std::string bad = json;
  bad.replace(bad.find("\"high\""), 6, "\"urgent\"");
  auto refused = parse_job_message(bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("priority"), std::string::npos);
}

TEST(PriorityTest, StatusJsonAndMergeKeepThePriority) {
  JobStatus status{
      .job_id = "x", .updated_at = "2026-01-01T00:00:00Z", .priority = JobPriority::kLow};
  auto parsed = parse_job_status(to_json(status));
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->priority, JobPriority::kLow);
  JobStatus current{.job_id = "x", .state = JobState::kQueued};
  JobStatus running = status;
  running.state = JobState::kRunning;
  (void)merge_status(current, running);
  EXPECT_EQ(current.priority, JobPriority::kLow);
  running.priority = JobPriority::kNormal;
  (void)merge_status(current, running);
  EXPECT_EQ(current.priority, JobPriority::kLow);
}

}  // namespace
}  // namespace dtq
