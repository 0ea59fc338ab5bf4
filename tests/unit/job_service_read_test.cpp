// JobService's reads over the in-memory fakes: a job read together with its
// result never shows the result beside a running status (a worker stores
// the result before it writes the terminal status), and a job whose live
// status has expired stays readable from its result.
#include <gtest/gtest.h>

#include <string>

#include "dtq/core/ids.hpp"
#include "dtq/core/job_service.hpp"
#include "fakes/memory_job_queue.hpp"
#include "fakes/memory_payload_validator.hpp"
#include "fakes/memory_progress_query.hpp"
#include "fakes/memory_result_store.hpp"
#include "fakes/memory_status_store.hpp"

namespace dtq::testing {
namespace {

class JobServiceReadTest : public ::testing::Test {
 protected:
  JobStatus running(int progress) const {
    return JobStatus{.job_id = id_,
                     .state = JobState::kRunning,
                     .progress_percent = progress,
                     .updated_at = "2026-12-06T10:00:01Z",
                     .message = "working",
                     .trace_id = "trace-1",
                     .job_type = "echo",
                     .attempt = 2};
  }

  JobResult failed_result() const {
    return JobResult{.job_id = id_,
                     .job_type = "echo",
                     .input = "{}",
                     .final_state = JobState::kFailed,
                     .started_at = "2026-12-06T10:00:00Z",
                     .completed_at = "2026-12-06T10:00:02Z",
                     .error = JobError{.code = "provider_error", .message = "the provider said no"},
                     .trace_id = "trace-1",
                     .attempts = 2};
  }

  const std::string id_ = new_uuid4();
  fakes::MemoryJobQueue queue_;
  fakes::MemoryStatusStore statuses_;
  fakes::MemoryResultStore results_;
  fakes::MemoryPayloadValidator validator_;
  fakes::MemoryProgressQuery progress_;
  JobService jobs_{queue_, statuses_, results_, validator_, progress_};
};

TEST_F(JobServiceReadTest, RunningJobHasNoResult) {
  progress_.record(running(40));
  const auto view = jobs_.job(id_);
  ASSERT_TRUE(view.ok()) << view.status().message();
  EXPECT_EQ(view->status.state, JobState::kRunning);
  EXPECT_EQ(view->status.progress_percent, 40);
  EXPECT_FALSE(view->result.has_value());
}

TEST_F(JobServiceReadTest, StoredResultOutranksARunningStatus) {
  // The worker stored the result; its terminal status is not written yet.
  progress_.record(running(40));
  ASSERT_TRUE(results_.put(failed_result()).ok());
  const auto view = jobs_.job(id_);
  ASSERT_TRUE(view.ok()) << view.status().message();
  ASSERT_TRUE(view->result.has_value());
  EXPECT_EQ(view->result->final_state, JobState::kFailed);
  EXPECT_EQ(view->status.state, JobState::kFailed);
  EXPECT_EQ(view->status.error_code, "provider_error");
  EXPECT_EQ(view->status.error_message, "the provider said no");
  EXPECT_EQ(view->status.updated_at, "2026-12-06T10:00:02Z");
  EXPECT_EQ(view->status.attempt, 2u);
  EXPECT_EQ(view->status.trace_id, "trace-1");
}

TEST_F(JobServiceReadTest, CompletedResultCompletesTheStatus) {
  progress_.record(running(40));
  JobResult completed = failed_result();
  completed.final_state = JobState::kCompleted;
  completed.error.reset();
  completed.output = R"({"ok":true})";
  ASSERT_TRUE(results_.put(completed).ok());
  const auto view = jobs_.job(id_);
  ASSERT_TRUE(view.ok()) << view.status().message();
  EXPECT_EQ(view->status.state, JobState::kCompleted);
  EXPECT_EQ(view->status.progress_percent, 100);
  EXPECT_TRUE(view->status.error_code.empty());
  EXPECT_EQ(view->result->output, R"({"ok":true})");
}

TEST_F(JobServiceReadTest, TerminalStatusIsKeptAsWritten) {
  JobStatus cancelled = running(40);
  cancelled.state = JobState::kCancelled;
  cancelled.message = "cancelled by request";
  progress_.record(cancelled);
  JobResult result = failed_result();
  result.final_state = JobState::kCancelled;
  ASSERT_TRUE(results_.put(result).ok());
  const auto view = jobs_.job(id_);
  ASSERT_TRUE(view.ok()) << view.status().message();
  EXPECT_EQ(view->status.state, JobState::kCancelled);
  EXPECT_EQ(view->status.message, "cancelled by request");
  EXPECT_TRUE(view->result.has_value());
}

TEST_F(JobServiceReadTest, ExpiredStatusIsReadFromTheResult) {
  ASSERT_TRUE(results_.put(failed_result()).ok());
  const auto view = jobs_.job(id_);
  ASSERT_TRUE(view.ok()) << view.status().message();
  EXPECT_EQ(view->status.state, JobState::kFailed);
  EXPECT_TRUE(view->result.has_value());
}

TEST_F(JobServiceReadTest, UnknownAndMalformedIds) {
  EXPECT_EQ(jobs_.job(new_uuid4()).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(jobs_.job("not-a-uuid").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace dtq::testing
