// JobService's dead letters and retries over the in-memory fakes: a delete
// and a replay of what is not there, replay_all's count (skipping what is
// replayed already and other types), a retry's new job (type, payload and
// trace of the failed one, its status saying what it retries) and every
// refusal of a job that is not failed, or whose payload is not kept.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dtq/core/ids.hpp"
#include "dtq/core/job_service.hpp"
#include "dtq/core/time.hpp"
#include "fakes/memory_job_queue.hpp"
#include "fakes/memory_payload_validator.hpp"
#include "fakes/memory_progress_query.hpp"
#include "fakes/memory_result_store.hpp"
#include "fakes/memory_status_store.hpp"

namespace dtq::testing {
namespace {

using namespace std::chrono_literals;

class JobServiceDeadLettersTest : public ::testing::Test {
 protected:
  // A job of `type` taken off the queue and dead-lettered, as a worker does.
  std::string dead_letter(const std::string& type, const std::string& payload = R"({"n":1})") {
    JobMessage message{.job_id = new_uuid4(),
                       .job_type = type,
                       .submitted_at = now_rfc3339(),
                       .trace_id = new_uuid4(),
                       .payload = payload};
    EXPECT_TRUE(queue_.enqueue(message).ok());
    auto taken = queue_.take(type, 1, 0ms);
    EXPECT_TRUE(taken.ok() && taken->size() == 1);
    EXPECT_TRUE(queue_.dead_letter(taken->front(), JobError{"boom", "it broke"}, 2).ok());
    return message.job_id;
  }

  // A job that ended in `state`, with its status and its result stored.
  std::string ended(JobState state, const std::string& payload = R"({"n":2})") {
    const std::string id = new_uuid4();
    const std::string trace = new_uuid4();
    EXPECT_TRUE(statuses_
                    .update(JobStatus{.job_id = id,
                                      .state = state,
                                      .updated_at = now_rfc3339(),
                                      .trace_id = trace,
                                      .job_type = "echo"})
                    .ok());
    JobResult result{.job_id = id,
                     .job_type = "echo",
                     .input = payload,
                     .final_state = state,
                     .completed_at = now_rfc3339(),
                     .trace_id = trace};
    if (state == JobState::kFailed) result.error = JobError{"boom", "it broke"};
    EXPECT_TRUE(results_.put(result).ok());
    return id;
  }

  std::vector<JobMessage> drain(const std::string& type) {
    std::vector<JobMessage> messages;
    auto taken = queue_.take(type, 100, 0ms);
    EXPECT_TRUE(taken.ok());
    for (auto& delivery : *taken) messages.push_back(delivery.message);
    return messages;
  }

  fakes::MemoryJobQueue queue_;
  fakes::MemoryStatusStore statuses_;
  fakes::MemoryResultStore results_;
  fakes::MemoryPayloadValidator validator_;
  fakes::MemoryProgressQuery progress_;
  JobService jobs_{queue_, statuses_, results_, validator_, progress_};
};

TEST_F(JobServiceDeadLettersTest, DeleteForgetsADeadLetterOnceAndRefusesABadId) {
  const std::string id = dead_letter("echo");
  ASSERT_TRUE(jobs_.delete_dead_letter(id).ok());
  EXPECT_EQ(jobs_.delete_dead_letter(id).code(), StatusCode::kNotFound);
  EXPECT_EQ(jobs_.replay(id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(jobs_.delete_dead_letter("nope").code(), StatusCode::kInvalidArgument);
  auto letters = jobs_.dead_letters("", 10);
  ASSERT_TRUE(letters.ok());
  EXPECT_TRUE(letters->empty());
}

TEST_F(JobServiceDeadLettersTest, ReplayAllReplaysEachOfTheTypeNotReplayedYet) {
  const std::string replayed_before = dead_letter("echo");
  ASSERT_TRUE(jobs_.replay(replayed_before).ok());
  const std::vector<std::string> waiting = {dead_letter("echo"), dead_letter("echo")};
  const std::string other_type = dead_letter("weather");
  drain("echo");

  auto replayed = jobs_.replay_all("echo");
  ASSERT_TRUE(replayed.ok()) << replayed.status().message();
  EXPECT_EQ(*replayed, 2U);
  const auto rerun = drain("echo");
  ASSERT_EQ(rerun.size(), 2U);
  for (const auto& message : rerun) {
    // Each replay is recorded as a queued job that says what it replays.
    auto status = statuses_.get(message.job_id);
    ASSERT_TRUE(status.ok());
    EXPECT_EQ(status->state, JobState::kQueued);
    EXPECT_NE(status->message.find("replay of"), std::string::npos) << status->message;
  }
  auto letters = jobs_.dead_letters("", 10);
  ASSERT_TRUE(letters.ok());
  for (const auto& letter : *letters) {
    EXPECT_EQ(letter.replayed_as.empty(), letter.message.job_id == other_type)
        << letter.message.job_id;
  }
  auto again = jobs_.replay_all("echo");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0U);
  EXPECT_EQ(jobs_.replay_all("Not A Type").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(jobs_.replay_all("").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(JobServiceDeadLettersTest, RetryRunsAFailedJobAgainAsANewJob) {
  const std::string failed = ended(JobState::kFailed, R"({"n":7})");
  auto retried = jobs_.retry(failed);
  ASSERT_TRUE(retried.ok()) << retried.status().message();
  EXPECT_NE(*retried, failed);
  const auto queued = drain("echo");
  ASSERT_EQ(queued.size(), 1U);
  EXPECT_EQ(queued[0].job_id, *retried);
  EXPECT_EQ(queued[0].payload, R"({"n":7})");
  auto status = statuses_.get(*retried);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->state, JobState::kQueued);
  EXPECT_EQ(status->message, "queued (retry of " + failed + ")");
  EXPECT_EQ(status->trace_id, statuses_.get(failed)->trace_id);
  EXPECT_EQ(queued[0].trace_id, status->trace_id);
  // A failed job may be retried again: each retry is a job of its own.
  auto twice = jobs_.retry(failed);
  ASSERT_TRUE(twice.ok());
  EXPECT_NE(*twice, *retried);
}

TEST_F(JobServiceDeadLettersTest, RetryRefusesWhatIsNotAFailedJobWithItsPayload) {
  EXPECT_EQ(jobs_.retry("nope").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(jobs_.retry(new_uuid4()).status().code(), StatusCode::kNotFound);
  for (const JobState state : {JobState::kCompleted, JobState::kCancelled}) {
    const auto refused = jobs_.retry(ended(state));
    EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition) << to_string(state);
    EXPECT_NE(refused.status().message().find(std::string(to_string(state))), std::string::npos)
        << refused.status().message();
  }
  // Still running: no result yet.
  const std::string running = new_uuid4();
  ASSERT_TRUE(statuses_
                  .update(JobStatus{.job_id = running,
                                    .state = JobState::kRunning,
                                    .updated_at = now_rfc3339(),
                                    .job_type = "echo"})
                  .ok());
  EXPECT_EQ(jobs_.retry(running).status().code(), StatusCode::kFailedPrecondition);
  // Failed before it ran (its enqueue failed): no payload kept.
  const std::string lost = new_uuid4();
  ASSERT_TRUE(statuses_
                  .update(JobStatus{.job_id = lost,
                                    .state = JobState::kFailed,
                                    .updated_at = now_rfc3339(),
                                    .job_type = "echo",
                                    .error_code = "enqueue_failed"})
                  .ok());
  const auto no_payload = jobs_.retry(lost);
  EXPECT_EQ(no_payload.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(no_payload.status().message().find("payload is not kept"), std::string::npos);
  EXPECT_TRUE(drain("echo").empty());
}

}  // namespace
}  // namespace dtq::testing
