// The Redis JobSchedule against the JobSchedule conformance suite on the
// shared redis-server (each test its own key prefix; its peer, another
// `dtq api` replica, its own connections), and what only Redis does: the
// two keys, no expiry, and a Redis restart (a private server) that keeps
// the schedule.
#include "conformance/job_schedule_conformance.hpp"
#include "dtq/redis/redis_job_schedule.hpp"
#include "redis_test_util.hpp"
#include "support/expect_ok.hpp"

namespace dtq::redis::testing {
namespace {

using dtq::testing::opened_or_null;

[[maybe_unused]] auto* const kSharedRedis = ::testing::AddGlobalTestEnvironment(new SharedRedis);

struct RedisScheduleHarness {
  std::shared_ptr<JobSchedule> open() {
    if (!schedule) schedule = open_peer();
    return schedule;
  }
  [[nodiscard]] std::shared_ptr<JobSchedule> open_peer() const {
    return opened_or_null(RedisJobSchedule::connect(settings_for(SharedRedis::port()), prefix));
  }
  // A new client on the same keys; the Redis restart is RestartKeepsIt's.
  std::shared_ptr<JobSchedule> reopen() {
    schedule.reset();
    return open();
  }
  static constexpr bool kDurable = true;
  std::string prefix = "test-" + new_uuid4() + ":";
  std::shared_ptr<JobSchedule> schedule;
};

JobMessage message_of() {
  return JobMessage{.job_id = new_uuid4(),
                    .job_type = "echo",
                    .submitted_at = now_rfc3339(),
                    .trace_id = new_uuid4(),
                    .payload = R"({"n":1})"};
}

TEST(RedisJobScheduleTest, ASortedSetByDueTimeAndAHashOfMessagesThatNeverExpire) {
  const std::string prefix = "test-" + new_uuid4() + ":";
  auto schedule = RedisJobSchedule::connect(settings_for(SharedRedis::port()), prefix);
  ASSERT_TRUE(schedule.ok()) << schedule.status().message();
  const JobMessage message = message_of();
  const auto run_at = from_unix_ms(to_unix_ms(Clock::now() + std::chrono::hours(72)));
  ASSERT_TRUE((*schedule)->schedule(message, run_at).ok());
  RawRedis raw(SharedRedis::port());
  EXPECT_EQ(raw.text({"ZSCORE", prefix + "schedule:due", message.job_id}),
            std::to_string(to_unix_ms(run_at)));
  EXPECT_EQ(raw.text({"HGET", prefix + "schedule:jobs", message.job_id})
                .rfind(std::to_string(to_unix_ms(run_at)) + " 0 {", 0),
            0U);
  // A delay longer than the statuses' 24 h must not be lost to a TTL.
  EXPECT_EQ(raw.integer({"TTL", prefix + "schedule:due"}), -1);
  EXPECT_EQ(raw.integer({"TTL", prefix + "schedule:jobs"}), -1);
}

TEST(RedisJobScheduleTest, ARedisRestartKeepsTheSchedule) {
  RedisServer server;
  ASSERT_TRUE(server.start());
  const JobMessage message = message_of();
  const auto run_at = from_unix_ms(to_unix_ms(Clock::now() + std::chrono::hours(30)));
  {
    auto schedule = RedisJobSchedule::connect(settings_for(server.port()));
    ASSERT_TRUE(schedule.ok()) << schedule.status().message();
    ASSERT_TRUE((*schedule)->schedule(message, run_at).ok());
  }
  ASSERT_TRUE(server.stop());
  ASSERT_TRUE(server.start());
  auto schedule = RedisJobSchedule::connect(settings_for(server.port()));
  ASSERT_TRUE(schedule.ok()) << schedule.status().message();
  auto kept = (*schedule)->get(message.job_id);
  ASSERT_TRUE(kept.ok()) << kept.status().message();
  EXPECT_EQ(kept->run_at, run_at);
  EXPECT_EQ(kept->message.trace_id, message.trace_id);
  auto due = (*schedule)->claim_due(run_at, std::chrono::seconds(30), 10);
  ASSERT_TRUE(due.ok()) << due.status().message();
  ASSERT_EQ(due->size(), 1U);
  EXPECT_EQ(due->front().message.job_id, message.job_id);
}

}  // namespace
}  // namespace dtq::redis::testing

namespace dtq::testing {
INSTANTIATE_TYPED_TEST_SUITE_P(RedisJobSchedule, JobScheduleConformance,
                               redis::testing::RedisScheduleHarness);
}  // namespace dtq::testing
