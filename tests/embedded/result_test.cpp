// The embedded ResultStore: written once per job id, durable, and shared
// between the owner and clients.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "dtq/core/ports/result_store.hpp"
#include "embedded_test_util.hpp"

namespace dtq::embedded::testing {
namespace {

class ResultTest : public EmbeddedTest {};

JobResult result_of(const std::string& job_id, std::string output) {
  return JobResult{.job_id = job_id,
                   .job_type = "echo",
                   .input = R"({"message":"hi"})",
                   .output = std::move(output),
                   .final_state = JobState::kCompleted,
                   .started_at = now_rfc3339(),
                   .completed_at = now_rfc3339(),
                   .trace_id = new_uuid4(),
                   .attempts = 1};
}

TEST_F(ResultTest, FirstPutWins) {
  auto backends = open();
  const std::string id = new_uuid4();
  auto first = backends.results->put(result_of(id, R"({"n":1})"));
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_TRUE(*first);
  auto second = backends.results->put(result_of(id, R"({"n":2})"));
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(*second);
  auto got = backends.results->get(id);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->output, R"({"n":1})");
}

TEST_F(ResultTest, ABatchReportsWhichResultsItStored) {
  auto backends = open();
  const std::string already = new_uuid4();
  ASSERT_TRUE(backends.results->put(result_of(already, R"({"n":1})")).ok());
  const std::vector<JobResult> batch = {result_of(new_uuid4(), "{}"), result_of(already, R"({"n":2})"),
                                        result_of(new_uuid4(), "{}")};
  auto stored = backends.results->put_batch(batch);
  ASSERT_TRUE(stored.ok()) << stored.status().message();
  EXPECT_THAT(*stored, ::testing::ElementsAre(true, false, true));
  EXPECT_EQ(backends.results->get(already)->output, R"({"n":1})");
  EXPECT_TRUE(backends.results->get(batch[2].job_id).ok());
}

TEST_F(ResultTest, ABatchWithAnInvalidResultStoresNone) {
  auto backends = open();
  const std::vector<JobResult> batch = {result_of(new_uuid4(), "{}"), result_of("", "{}")};
  EXPECT_FALSE(backends.results->put_batch(batch).ok());
  EXPECT_EQ(backends.results->get(batch[0].job_id).status().code(), StatusCode::kNotFound);
}

TEST_F(ResultTest, UnknownJobIsNotFound) {
  auto backends = open();
  const auto got = backends.results->get(new_uuid4());
  EXPECT_EQ(got.status().code(), StatusCode::kNotFound);
}

TEST_F(ResultTest, FailedResultSurvivesReopenAndIsSeenByClients) {
  const std::string id = new_uuid4();
  JobResult failed = result_of(id, "");
  failed.final_state = JobState::kFailed;
  failed.error = JobError{"user_not_found", "no such user"};
  failed.attempts = 3;
  {
    auto backends = open();
    ASSERT_TRUE(backends.results->put(failed).ok());
  }
  for (const Role role : {Role::kClient, Role::kOwner}) {
    auto backends = open(role);
    auto got = backends.results->get(id);
    ASSERT_TRUE(got.ok()) << got.status().message();
    EXPECT_EQ(got->final_state, JobState::kFailed);
    ASSERT_TRUE(got->error.has_value());
    EXPECT_EQ(got->error->code, "user_not_found");
    EXPECT_EQ(got->attempts, 3u);
    EXPECT_EQ(got->input, failed.input);
    EXPECT_EQ(got->trace_id, failed.trace_id);
    EXPECT_EQ(got->completed_at, failed.completed_at);
  }
}

TEST_F(ResultTest, ConcurrentPutsOfOneJobStoreExactlyOne) {
  auto backends = open();
  const std::string id = new_uuid4();
  std::atomic<int> stored{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      auto put = backends.results->put(result_of(id, R"({"thread":)" + std::to_string(t) + "}"));
      if (!put.ok()) {
        ++errors;
      } else if (*put) {
        ++stored;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(stored.load(), 1);
}

TEST_F(ResultTest, OwnerAndClientPutsOfOneJobStoreExactlyOne) {
  auto owner = open(Role::kOwner);
  auto client = open(Role::kClient);
  const std::string id = new_uuid4();
  auto from_client = client.results->put(result_of(id, R"({"from":"client"})"));
  auto from_owner = owner.results->put(result_of(id, R"({"from":"owner"})"));
  ASSERT_TRUE(from_client.ok() && from_owner.ok());
  EXPECT_TRUE(*from_client);
  EXPECT_FALSE(*from_owner);
  auto got = owner.results->get(id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->output, R"({"from":"client"})");
}

}  // namespace
}  // namespace dtq::embedded::testing
