// JobService's delayed jobs over the in-memory fakes: run_at and
// delay_seconds read and bounded (resolve_run_at), a future run_at makes a
// `scheduled` job in the schedule and nothing on the queue, a past one runs
// now, a scheduled job is cancelled out of the schedule, its status is read
// from the schedule once the live status is gone, it is listed from the
// schedule whether or not its status is kept, and the JobScheduler
// moves it to the queue when due, never one with a cancel request.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dtq/core/ids.hpp"
#include "dtq/core/job_scheduler.hpp"
#include "dtq/core/job_service.hpp"
#include "fakes/memory_job_queue.hpp"
#include "fakes/memory_job_schedule.hpp"
#include "fakes/memory_payload_validator.hpp"
#include "fakes/memory_progress_query.hpp"
#include "fakes/memory_result_store.hpp"
#include "fakes/memory_status_store.hpp"

namespace dtq::testing {
namespace {

using namespace std::chrono_literals;

TEST(ResolveRunAtTest, ReadsEitherFieldWithinBounds) {
  const auto now = from_unix_ms(1'800'000'000'000);
  auto none = resolve_run_at("", std::nullopt, now);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  auto delayed = resolve_run_at("", 60, now);
  ASSERT_TRUE(delayed.ok());
  EXPECT_EQ(**delayed, now + 60s);
  auto at = resolve_run_at("2027-01-15T08:00:00Z", std::nullopt, now);
  ASSERT_TRUE(at.ok()) << at.status().message();
  EXPECT_EQ(**at, *parse_rfc3339("2027-01-15T08:00:00Z"));
  auto past = resolve_run_at("2020-01-01T00:00:00Z", std::nullopt, now);
  ASSERT_TRUE(past.ok()) << "a run_at that has passed runs the job now";
  EXPECT_LT(**past, now);
  auto most = resolve_run_at("", 365 * 24 * 3600, now);
  EXPECT_TRUE(most.ok());
}

TEST(ResolveRunAtTest, RefusesBothMalformedNegativeAndTooFar) {
  const auto now = Clock::now();
  for (const auto& refused :
       {resolve_run_at("2027-01-15T08:00:00Z", 5, now),
        resolve_run_at("tomorrow", std::nullopt, now), resolve_run_at("", -1, now),
        resolve_run_at("", 365 * 24 * 3600 + 1, now),
        resolve_run_at(to_rfc3339(now + std::chrono::hours(24 * 366)), std::nullopt, now)}) {
    EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
    EXPECT_FALSE(refused.status().message().empty());
  }
}

class JobServiceScheduleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    validator_.own("echo", [](std::string_view payload) -> StatusOr<ValidationOutcome> {
      return ValidationOutcome{.normalized_payload = std::string(payload)};
    });
  }

  std::vector<std::string> drain_queue() {
    std::vector<std::string> ids;
    auto taken = queue_.take("echo", 100, 0ms);
    EXPECT_TRUE(taken.ok());
    if (taken.ok()) {
      for (const auto& delivery : *taken) ids.push_back(delivery.message.job_id);
    }
    return ids;
  }

  SubmitResult submit_at(Clock::time_point run_at) {
    return jobs_.submit("echo", R"({"n":1})", {.run_at = run_at});
  }

  fakes::MemoryJobQueue queue_;
  fakes::MemoryStatusStore statuses_;
  fakes::MemoryResultStore results_;
  fakes::MemoryPayloadValidator validator_;
  fakes::MemoryProgressQuery progress_;
  fakes::MemoryJobSchedule schedule_;
  JobService jobs_{queue_, statuses_, results_, validator_, progress_, nullptr, &schedule_};
  JobScheduler scheduler_{schedule_, queue_, statuses_};
};

TEST_F(JobServiceScheduleTest, AFutureRunAtWaitsScheduledOffTheQueue) {
  const auto run_at = from_unix_ms(to_unix_ms(Clock::now() + 1h));
  const auto submitted = submit_at(run_at);
  ASSERT_TRUE(submitted.ok()) << submitted.status().message();
  EXPECT_EQ(submitted->status.state, JobState::kScheduled);
  EXPECT_EQ(submitted->status.run_at, to_rfc3339(run_at));
  EXPECT_TRUE(drain_queue().empty()) << "a scheduled job went on the queue before it was due";
  auto stored = statuses_.get(submitted->job_id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->state, JobState::kScheduled);
  auto waiting = schedule_.get(submitted->job_id);
  ASSERT_TRUE(waiting.ok());
  EXPECT_EQ(waiting->run_at, run_at);
  // Not due: the scheduler leaves it.
  auto moved = scheduler_.run_once(Clock::now());
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(*moved, 0U);
}

TEST_F(JobServiceScheduleTest, WhenDueTheSchedulerQueuesIt) {
  const auto run_at = Clock::now() + 1h;
  const auto submitted = submit_at(run_at);
  ASSERT_TRUE(submitted.ok());
  auto moved = scheduler_.run_once(run_at + 1ms);
  ASSERT_TRUE(moved.ok()) << moved.status().message();
  EXPECT_EQ(*moved, 1U);
  EXPECT_EQ(drain_queue(), std::vector{submitted->job_id});
  auto status = statuses_.get(submitted->job_id);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->state, JobState::kQueued);
  EXPECT_EQ(schedule_.get(submitted->job_id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(*scheduler_.run_once(run_at + 1h), 0U) << "a moved job moved again";
}

TEST_F(JobServiceScheduleTest, APastRunAtRunsNow) {
  const auto submitted = submit_at(Clock::now() - 1h);
  ASSERT_TRUE(submitted.ok());
  EXPECT_EQ(submitted->status.state, JobState::kQueued);
  EXPECT_EQ(drain_queue(), std::vector{submitted->job_id});
}

TEST_F(JobServiceScheduleTest, CancelTakesItOutOfTheScheduleForGood) {
  const auto run_at = Clock::now() + 1h;
  const auto submitted = submit_at(run_at);
  ASSERT_TRUE(submitted.ok());
  auto cancelled = jobs_.cancel(submitted->job_id);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status().message();
  EXPECT_EQ(cancelled->state, JobState::kCancelled);
  EXPECT_EQ(schedule_.get(submitted->job_id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(*scheduler_.run_once(run_at + 1h), 0U);
  EXPECT_TRUE(drain_queue().empty()) << "a cancelled scheduled job ran";
  EXPECT_EQ(jobs_.cancel(submitted->job_id).status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(JobServiceScheduleTest, ACancelRequestDuringTheMoveStopsIt) {
  // Cancelled between a claim and its enqueue: the request is seen first.
  const auto run_at = Clock::now() + 1h;
  const auto submitted = submit_at(run_at);
  ASSERT_TRUE(submitted.ok());
  ASSERT_TRUE(statuses_.request_cancel(submitted->job_id).ok());
  EXPECT_EQ(*scheduler_.run_once(run_at), 0U);
  EXPECT_TRUE(drain_queue().empty());
  EXPECT_EQ(statuses_.get(submitted->job_id)->state, JobState::kCancelled);
  EXPECT_EQ(schedule_.get(submitted->job_id).status().code(), StatusCode::kNotFound);
}

TEST_F(JobServiceScheduleTest, AStatusGoneFromTheStoreIsReadFromTheSchedule) {
  // Redis keeps a status 24 h; a job may wait a year. progress_ (the
  // workers' answer) and results_ know nothing of it.
  const auto run_at = from_unix_ms(to_unix_ms(Clock::now() + std::chrono::hours(24 * 30)));
  JobMessage message{.job_id = new_uuid4(),
                     .job_type = "echo",
                     .submitted_at = now_rfc3339(),
                     .trace_id = new_uuid4(),
                     .payload = "{}"};
  ASSERT_TRUE(schedule_.schedule(message, run_at).ok());
  auto status = jobs_.status(message.job_id);
  ASSERT_TRUE(status.ok()) << status.status().message();
  EXPECT_EQ(status->state, JobState::kScheduled);
  EXPECT_EQ(status->run_at, to_rfc3339(run_at));
  EXPECT_EQ(status->trace_id, message.trace_id);
  auto cancelled = jobs_.cancel(message.job_id);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status().message();
  EXPECT_EQ(cancelled->state, JobState::kCancelled);
  EXPECT_EQ(schedule_.get(message.job_id).status().code(), StatusCode::kNotFound);
}

TEST_F(JobServiceScheduleTest, AScheduledListingComesFromTheSchedule) {
  // One job submitted as the API does (a status and a schedule entry), one
  // whose status is gone (Redis keeps it 24 h, the delay is 30 days).
  const auto soon = from_unix_ms(to_unix_ms(Clock::now() + 1h));
  const auto submitted = submit_at(soon);
  ASSERT_TRUE(submitted.ok()) << submitted.status().message();
  const auto later = from_unix_ms(to_unix_ms(Clock::now() + std::chrono::hours(24 * 30)));
  JobMessage old{.job_id = new_uuid4(),
                 .job_type = "echo",
                 .submitted_at = now_rfc3339(),
                 .trace_id = new_uuid4(),
                 .payload = "{}"};
  ASSERT_TRUE(schedule_.schedule(old, later).ok());

  auto page = jobs_.list({.state = JobState::kScheduled, .limit = 1});
  ASSERT_TRUE(page.ok()) << page.status().message();
  ASSERT_EQ(page->statuses.size(), 1u);
  EXPECT_EQ(page->statuses[0].job_id, submitted->job_id) << "earliest due first";
  EXPECT_EQ(page->statuses[0].state, JobState::kScheduled);
  EXPECT_EQ(page->statuses[0].run_at, to_rfc3339(soon));
  ASSERT_FALSE(page->next_cursor.empty());
  page = jobs_.list({.state = JobState::kScheduled, .limit = 1, .cursor = page->next_cursor});
  ASSERT_TRUE(page.ok()) << page.status().message();
  ASSERT_EQ(page->statuses.size(), 1u);
  EXPECT_EQ(page->statuses[0].job_id, old.job_id) << "a job whose status is gone is listed";
  EXPECT_EQ(page->statuses[0].run_at, to_rfc3339(later));
  EXPECT_TRUE(page->next_cursor.empty());

  EXPECT_EQ(jobs_.list({.state = JobState::kScheduled, .cursor = "not-a-cursor"}).status().code(),
            StatusCode::kInvalidArgument);
  // Other listings are the status store's, each scheduled job with its run_at.
  auto all = jobs_.list({});
  ASSERT_TRUE(all.ok()) << all.status().message();
  ASSERT_EQ(all->statuses.size(), 1u);
  EXPECT_EQ(all->statuses[0].job_id, submitted->job_id);
  EXPECT_EQ(all->statuses[0].run_at, to_rfc3339(soon));
}

TEST_F(JobServiceScheduleTest, AMoveInterruptedAfterItsStatusIsNotEnqueuedAgain) {
  // A scheduler that stopped after the status write, before complete():
  // the next claim (claims 2) sees "queued" and only completes it.
  const auto run_at = Clock::now() + 1h;
  const auto submitted = submit_at(run_at);
  ASSERT_TRUE(submitted.ok());
  auto claimed = schedule_.claim_due(run_at, 10ms, 10);
  ASSERT_TRUE(claimed.ok());
  ASSERT_EQ(claimed->size(), 1U);
  ASSERT_TRUE(queue_.enqueue(claimed->front().message).ok());
  JobStatus queued = *statuses_.get(submitted->job_id);
  queued.state = JobState::kQueued;
  queued.updated_at = now_rfc3339();
  ASSERT_TRUE(statuses_.update(queued).ok());
  EXPECT_EQ(*scheduler_.run_once(run_at + 1s), 0U);
  EXPECT_EQ(drain_queue(), std::vector{submitted->job_id}) << "enqueued twice";
  EXPECT_EQ(schedule_.get(submitted->job_id).status().code(), StatusCode::kNotFound);
}

TEST_F(JobServiceScheduleTest, WithoutAScheduleADelayIsRefused) {
  JobService no_schedule{queue_, statuses_, results_, validator_, progress_};
  const auto refused = no_schedule.submit("echo", "{}", {.run_at = Clock::now() + 1h});
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(drain_queue().empty());
}

TEST(MergeStatusTest, ScheduledComesBeforeQueued) {
  JobStatus blank{.job_id = "j"};
  merge_status(blank, JobStatus{.job_id = "j",
                                .state = JobState::kScheduled,
                                .updated_at = "2026-01-01T00:00:00.000Z",
                                .message = "scheduled"});
  EXPECT_EQ(blank.state, JobState::kScheduled) << "a new job may start scheduled";
  merge_status(blank, JobStatus{.job_id = "j",
                                .state = JobState::kQueued,
                                .updated_at = "2026-01-01T00:01:00.000Z",
                                .message = "queued"});
  EXPECT_EQ(blank.state, JobState::kQueued);
  merge_status(blank, JobStatus{.job_id = "j",
                                .state = JobState::kScheduled,
                                .updated_at = "2026-01-01T00:02:00.000Z",
                                .message = "late"});
  EXPECT_EQ(blank.state, JobState::kQueued) << "a late scheduled moved a queued job back";
  EXPECT_EQ(parse_job_state("scheduled"), JobState::kScheduled);
  EXPECT_EQ(to_string(JobState::kScheduled), "scheduled");
}

}  // namespace
}  // namespace dtq::testing
