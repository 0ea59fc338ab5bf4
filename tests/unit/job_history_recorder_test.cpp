// The job history's recording decorators (dtq/core/job_history_recorder.hpp)
// over the in-memory ports: which writes become which events, which do not
// (progress, repeated terminal updates), and the batching writer (few
// appends, list() sees what was recorded before it, nothing lost at
// destruction).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "dtq/core/ids.hpp"
#include "dtq/core/job_history_recorder.hpp"
#include "dtq/core/job_service.hpp"
#include "dtq/core/time.hpp"
#include "fakes/memory_idempotency_store.hpp"
#include "fakes/memory_job_history.hpp"
#include "fakes/memory_job_queue.hpp"
#include "fakes/memory_payload_validator.hpp"
#include "fakes/memory_progress_query.hpp"
#include "fakes/memory_result_store.hpp"
#include "fakes/memory_status_store.hpp"

namespace dtq {
namespace {

using ::testing::ElementsAre;

class RecorderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    validator_.own("echo", [](std::string_view payload) -> StatusOr<ValidationOutcome> {
      return ValidationOutcome{.normalized_payload = std::string(payload)};
    });
  }
  std::vector<JobEventKind> kinds(const std::string& job_id) {
    auto events = writer_.list(job_id, 1000);
    EXPECT_TRUE(events.ok()) << events.status().message();
    std::vector<JobEventKind> out;
    if (events.ok())
      for (const auto& event : *events) out.push_back(event.kind);
    return out;
  }
  JobEvent only(const std::string& job_id, JobEventKind kind) {
    auto events = writer_.list(job_id, 1000);
    EXPECT_TRUE(events.ok());
    for (const auto& event : *events)
      if (event.kind == kind) return event;
    ADD_FAILURE() << "no " << to_string(kind) << " event for " << job_id;
    return {};
  }
  // What the engine writes for one attempt (host/src/worker_pool.cpp).
  void start(const std::string& id, uint32_t attempt) {
    ASSERT_TRUE(statuses_
                    .update(JobStatus{.job_id = id,
                                      .state = JobState::kRunning,
                                      .updated_at = now_rfc3339(),
                                      .message = "starting",
                                      .job_type = "echo"})
                    .ok());
    ASSERT_TRUE(statuses_
                    .update_durable(JobStatus{.job_id = id,
                                              .state = JobState::kRunning,
                                              .updated_at = now_rfc3339(),
                                              .message = "starting",
                                              .job_type = "echo",
                                              .attempt = attempt})
                    .ok());
    ASSERT_TRUE(statuses_
                    .update(JobStatus{.job_id = id,
                                      .state = JobState::kRunning,
                                      .progress_percent = 50,
                                      .updated_at = now_rfc3339(),
                                      .message = "half way",
                                      .job_type = "echo",
                                      .attempt = attempt})
                    .ok());
  }
  void end(const std::string& id, JobState state, uint32_t attempt, std::string code = "") {
    ASSERT_TRUE(statuses_
                    .update(JobStatus{.job_id = id,
                                      .state = state,
                                      .updated_at = now_rfc3339(),
                                      .message = std::string(to_string(state)),
                                      .job_type = "echo",
                                      .error_code = std::move(code),
                                      .attempt = attempt})
                    .ok());
  }

  fakes::MemoryJobHistory store_;
  HistoryWriter writer_{store_, HistoryWriterSettings{.linger = std::chrono::milliseconds(5)}};
  fakes::MemoryStatusStore raw_statuses_;
  fakes::MemoryJobQueue raw_queue_;
  RecordingStatusStore statuses_{raw_statuses_, writer_, "host/1 (worker)"};
  RecordingJobQueue queue_{raw_queue_, writer_, "host/1 (worker)"};
  fakes::MemoryResultStore results_;
  fakes::MemoryPayloadValidator validator_;
  fakes::MemoryProgressQuery progress_;
  JobService jobs_{queue_, statuses_, results_, validator_, progress_};
};

TEST_F(RecorderTest, AJobThatFailsOnceThenCompletes) {
  auto submitted = jobs_.submit("echo", R"({"n":1})");
  ASSERT_TRUE(submitted.ok()) << submitted.status().message();
  const std::string id = submitted->job_id;
  start(id, 1);
  ASSERT_TRUE(statuses_
                  .update(JobStatus{.job_id = id,
                                    .state = JobState::kRunning,
                                    .updated_at = now_rfc3339(),
                                    .message = "attempt 1 failed (provider_unavailable: 503 from "
                                               "upstream); retrying in 0.2s",
                                    .job_type = "echo",
                                    .attempt = 1})
                  .ok());
  start(id, 2);
  end(id, JobState::kCompleted, 2);
  // A repeat, as a redelivery after the result was stored writes it.
  ASSERT_TRUE(statuses_
                  .update(JobStatus{.job_id = id,
                                    .state = JobState::kCompleted,
                                    .updated_at = now_rfc3339(),
                                    .message = "restored from the stored result",
                                    .job_type = "echo",
                                    .attempt = 2})
                  .ok());

  EXPECT_THAT(kinds(id),
              ElementsAre(JobEventKind::kSubmitted, JobEventKind::kStarted, JobEventKind::kRetry,
                          JobEventKind::kStarted, JobEventKind::kCompleted));
  const JobEvent retry = only(id, JobEventKind::kRetry);
  EXPECT_EQ(retry.attempt, 1u);
  EXPECT_EQ(retry.error_code, "provider_unavailable");
  EXPECT_THAT(retry.detail, ::testing::HasSubstr("503 from upstream"));
  EXPECT_EQ(retry.worker, "host/1 (worker)");
  const JobEvent done = only(id, JobEventKind::kCompleted);
  EXPECT_EQ(done.attempt, 2u);
  EXPECT_EQ(done.worker, "host/1 (worker)");
  EXPECT_EQ(done.job_type, "echo");
  EXPECT_TRUE(parse_rfc3339(done.at).has_value()) << done.at;
}

TEST_F(RecorderTest, AttemptsRecordedInABatchAreStartedEachOnItsJob) {
  // How an isolated plugin's pool records the attempts it launches together.
  const std::string first = new_uuid4();
  const std::string second = new_uuid4();
  std::vector<JobStatus> batch;
  for (const auto& [id, attempt] : {std::pair{first, 1u}, std::pair{second, 2u}}) {
    batch.push_back(JobStatus{.job_id = id,
                              .state = JobState::kRunning,
                              .updated_at = now_rfc3339(),
                              .message = "starting",
                              .job_type = "echo",
                              .attempt = attempt});
  }
  const auto stored = statuses_.update_durable_batch(batch);
  ASSERT_EQ(stored.size(), 2u);
  ASSERT_TRUE(stored[0].ok() && stored[1].ok());
  EXPECT_THAT(kinds(first), ElementsAre(JobEventKind::kStarted));
  EXPECT_THAT(kinds(second), ElementsAre(JobEventKind::kStarted));
  EXPECT_EQ(only(second, JobEventKind::kStarted).attempt, 2u);
}

TEST_F(RecorderTest, CancellingAQueuedJobRecordsTheRequestAndTheEnd) {
  auto submitted = jobs_.submit("echo", R"({"n":1})");
  ASSERT_TRUE(submitted.ok());
  ASSERT_TRUE(jobs_.cancel(submitted->job_id).ok());
  EXPECT_THAT(kinds(submitted->job_id),
              ElementsAre(JobEventKind::kSubmitted, JobEventKind::kCancelRequested,
                          JobEventKind::kCancelled));
}

TEST_F(RecorderTest, DeadLetterAndReplayAreRecordedOnBothJobs) {
  auto submitted = jobs_.submit("echo", R"({"n":1})");
  ASSERT_TRUE(submitted.ok());
  const std::string id = submitted->job_id;
  auto taken = queue_.take("echo", 1, std::chrono::milliseconds(100));
  ASSERT_TRUE(taken.ok() && taken->size() == 1);
  start(id, 1);
  end(id, JobState::kFailed, 1, "bad_input");
  ASSERT_TRUE(queue_.dead_letter(taken->front(), JobError{"bad_input", "no such city"}, 1).ok());
  auto replayed = jobs_.replay(id);
  ASSERT_TRUE(replayed.ok()) << replayed.status().message();

  EXPECT_THAT(kinds(id),
              ElementsAre(JobEventKind::kSubmitted, JobEventKind::kStarted, JobEventKind::kFailed,
                          JobEventKind::kDeadLettered, JobEventKind::kReplayed));
  EXPECT_EQ(only(id, JobEventKind::kReplayed).related_job_id, *replayed);
  EXPECT_EQ(only(id, JobEventKind::kDeadLettered).error_code, "bad_input");
  EXPECT_THAT(kinds(*replayed), ElementsAre(JobEventKind::kReplayOf));
  EXPECT_EQ(only(*replayed, JobEventKind::kReplayOf).related_job_id, id);
}

TEST_F(RecorderTest, ARetryOfAFailedJobIsRecordedOnBothJobs) {
  // JobService::retry writes this queued status for the new job.
  const std::string original = new_uuid4();
  const std::string again = new_uuid4();
  ASSERT_TRUE(statuses_
                  .update(JobStatus{.job_id = again,
                                    .state = JobState::kQueued,
                                    .updated_at = now_rfc3339(),
                                    .message = "queued (retry of " + original + ")",
                                    .job_type = "echo"})
                  .ok());
  EXPECT_THAT(kinds(again), ElementsAre(JobEventKind::kRetryOf));
  EXPECT_EQ(only(again, JobEventKind::kRetryOf).related_job_id, original);
  EXPECT_THAT(kinds(original), ElementsAre(JobEventKind::kRetried));
  EXPECT_EQ(only(original, JobEventKind::kRetried).related_job_id, again);
}

TEST_F(RecorderTest, ProgressAndReleasesAreTold) {
  const std::string id = new_uuid4();
  start(id, 1);  // its progress report is not an event
  ASSERT_TRUE(statuses_
                  .update(JobStatus{.job_id = id,
                                    .state = JobState::kRunning,
                                    .updated_at = now_rfc3339(),
                                    .message = "waiting for redelivery: worker shutting down",
                                    .job_type = "echo"})
                  .ok());
  EXPECT_THAT(kinds(id), ElementsAre(JobEventKind::kStarted, JobEventKind::kReleased));
}

TEST(HistoryWriterTest, BatchesAndLosesNothingAtDestruction) {
  fakes::MemoryJobHistory store;
  const std::string id = new_uuid4();
  {
    HistoryWriter writer(
        store, HistoryWriterSettings{.linger = std::chrono::seconds(5), .max_batch = 100});
    for (int i = 0; i < 250; ++i)
      writer.record(JobEvent{
          .job_id = id, .kind = JobEventKind::kStarted, .attempt = static_cast<uint32_t>(i + 1)});
  }
  auto events = store.list(id, 1000);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 250u);
  EXPECT_EQ(events->front().attempt, 1u);
  EXPECT_EQ(events->back().attempt, 250u);
  // A full batch wakes the writer, which takes what is pending by then (at
  // least 100, perhaps a few more, stored as two appends); at most two such
  // wakes, then the rest at destruction: never one append per event.
  EXPECT_LE(store.appends(), 5u);
}

TEST(HistoryWriterTest, DropsBeyondItsBoundInsteadOfGrowing) {
  fakes::MemoryJobHistory store;
  HistoryWriter writer(
      store, HistoryWriterSettings{
                 .linger = std::chrono::seconds(5), .max_batch = 1000, .max_pending = 10});
  for (int i = 0; i < 15; ++i) writer.record(JobEvent{.job_id = "x"});
  EXPECT_EQ(writer.dropped(), 5u);
  ASSERT_TRUE(writer.flush().ok());
  EXPECT_EQ(store.list("x", 100)->size(), 10u);
}

TEST(JobEventKindTest, NamesRoundTripAndOrderTheLifecycle) {
  for (auto kind : {JobEventKind::kSubmitted, JobEventKind::kReplayOf, JobEventKind::kRetryOf,
                    JobEventKind::kStarted, JobEventKind::kRetry, JobEventKind::kReleased,
                    JobEventKind::kCancelRequested, JobEventKind::kCompleted, JobEventKind::kFailed,
                    JobEventKind::kCancelled, JobEventKind::kDeadLettered, JobEventKind::kReplayed,
                    JobEventKind::kRetried, JobEventKind::kScheduled}) {
    EXPECT_EQ(parse_job_event_kind(to_string(kind)), kind) << to_string(kind);
  }
  EXPECT_FALSE(parse_job_event_kind("teleported"));
  // The API's submitted and a worker's started in one millisecond, written
  // in the other order; a retry and the next start keep their order.
  std::vector<JobEvent> events = {
      {.at = "2026-01-01T00:00:00.001Z", .kind = JobEventKind::kCompleted},
      {.at = "2026-01-01T00:00:00.000Z", .kind = JobEventKind::kStarted, .attempt = 1},
      {.at = "2026-01-01T00:00:00.000Z", .kind = JobEventKind::kSubmitted},
      {.at = "2026-01-01T00:00:00.000Z", .kind = JobEventKind::kRetry},
      {.at = "2026-01-01T00:00:00.000Z", .kind = JobEventKind::kStarted, .attempt = 2}};
  sort_job_events(events);
  EXPECT_EQ(events[0].kind, JobEventKind::kSubmitted);
  EXPECT_EQ(events[1].attempt, 1u);
  EXPECT_EQ(events[2].kind, JobEventKind::kRetry);
  EXPECT_EQ(events[3].attempt, 2u);
  EXPECT_EQ(events[4].kind, JobEventKind::kCompleted);
}

}  // namespace
}  // namespace dtq
