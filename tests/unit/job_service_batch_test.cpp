// JobService::submit_batch over the in-memory fakes: each job is checked on
// its own and answered in the batch's order, the accepted ones share one
// enqueue with their queued statuses written first, a failed enqueue fails
// each of them (none reported accepted), keyed and delayed jobs take
// submit()'s path, and a batch holds 1 to kMaxBatchJobs jobs.
#include <gtest/gtest.h>

#include <span>
#include <string>
#include <utility>
#include <vector>

#include "dtq/core/job_service.hpp"
#include "fakes/memory_idempotency_store.hpp"
#include "fakes/memory_job_queue.hpp"
#include "fakes/memory_job_schedule.hpp"
#include "fakes/memory_payload_validator.hpp"
#include "fakes/memory_progress_query.hpp"
#include "fakes/memory_result_store.hpp"
#include "fakes/memory_status_store.hpp"

namespace dtq::testing {
namespace {

using namespace std::chrono_literals;

class JobServiceBatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // "echo" takes an object with a number "n"; anything else is refused
    // field by field.
    validator_.own("echo", [](std::string_view payload) -> StatusOr<ValidationOutcome> {
      if (payload.find("\"n\"") == std::string_view::npos) {
        return ValidationOutcome{.errors = {{.field = "/n", .message = "required"}}};
      }
      return ValidationOutcome{.normalized_payload = std::string(payload)};
    });
  }

  // Every job on the queue, taken, in queue order.
  std::vector<JobMessage> drain_queue() {
    std::vector<JobMessage> messages;
    for (;;) {
      auto taken = queue_.take("echo", 100, 0ms);
      EXPECT_TRUE(taken.ok()) << taken.status().message();
      if (!taken.ok() || taken->empty()) return messages;
      for (auto& delivery : *taken) messages.push_back(delivery.message);
    }
  }

  fakes::MemoryJobQueue queue_;
  fakes::MemoryStatusStore statuses_;
  fakes::MemoryResultStore results_;
  fakes::MemoryPayloadValidator validator_;
  fakes::MemoryProgressQuery progress_;
  fakes::MemoryIdempotencyStore keys_;
  fakes::MemoryJobSchedule schedule_;
  JobService jobs_{queue_, statuses_, results_, validator_, progress_, &keys_, &schedule_};
};

TEST_F(JobServiceBatchTest, EachJobIsAnsweredOnItsOwnInOrder) {
  const std::vector<BatchSubmission> batch{
      {.job_type = "echo", .payload = R"({"n":1})"},
      {.job_type = "nope", .payload = R"({"n":2})"},
      {.job_type = "echo", .payload = R"({"m":3})"},
      {.job_type = "echo", .payload = R"({"n":4})", .options = {.priority = JobPriority::kHigh}},
      {.job_type = "echo", .payload = R"({"n":5})", .options = {.idempotency_key = "bad\x01key"}},
  };
  auto answered = jobs_.submit_batch(batch);
  ASSERT_TRUE(answered.ok()) << answered.status().message();
  const std::vector<SubmitResult>& results = *answered;
  ASSERT_EQ(results.size(), batch.size());

  ASSERT_TRUE(results[0].ok()) << results[0].status().message();
  EXPECT_EQ(results[0]->status.state, JobState::kQueued);
  EXPECT_EQ(results[1].status().code(), StatusCode::kNotFound);
  EXPECT_EQ(results[2].status().code(), StatusCode::kInvalidArgument);
  ASSERT_EQ(results[2].field_errors().size(), 1U);
  EXPECT_EQ(results[2].field_errors()[0].field, "/n");
  ASSERT_TRUE(results[3].ok()) << results[3].status().message();
  EXPECT_EQ(results[3]->status.priority, JobPriority::kHigh);
  EXPECT_EQ(results[4].status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(results[4].field_errors().empty());

  // Only the accepted ones are on the queue, each with its payload; their
  // statuses are stored.
  const auto queued = drain_queue();
  ASSERT_EQ(queued.size(), 2U);
  EXPECT_EQ(queued[0].job_id, results[0]->job_id);
  EXPECT_EQ(queued[0].payload, R"({"n":1})");
  EXPECT_EQ(queued[1].job_id, results[3]->job_id);
  EXPECT_EQ(queued[1].priority, JobPriority::kHigh);
  for (const size_t i : {0U, 3U}) {
    auto stored = statuses_.get(results[i]->job_id);
    ASSERT_TRUE(stored.ok()) << stored.status().message();
    EXPECT_EQ(stored->state, JobState::kQueued);
    EXPECT_EQ(stored->trace_id, results[i]->trace_id);
  }
}

TEST_F(JobServiceBatchTest, ResultsFollowTheBatchsOrder) {
  std::vector<std::string> payloads(50);
  std::vector<BatchSubmission> batch(payloads.size());
  for (size_t n = 0; n < payloads.size(); ++n) {
    payloads[n] = R"({"n":)" + std::to_string(n) + "}";
    batch[n] = {.job_type = "echo", .payload = payloads[n]};
  }
  auto answered = jobs_.submit_batch(batch);
  ASSERT_TRUE(answered.ok()) << answered.status().message();
  const auto queued = drain_queue();
  ASSERT_EQ(queued.size(), payloads.size());
  for (size_t i = 0; i < payloads.size(); ++i) {
    ASSERT_TRUE((*answered)[i].ok());
    EXPECT_EQ(queued[i].job_id, (*answered)[i]->job_id) << i;
    EXPECT_EQ(queued[i].payload, payloads[i]) << i;
  }
}

TEST_F(JobServiceBatchTest, AFailedEnqueueFailsEachJobItHeld) {
  queue_.fail_enqueue_with(unavailable("broker down"));
  const std::vector<BatchSubmission> batch{
      {.job_type = "echo", .payload = R"({"n":1})"},
      {.job_type = "echo", .payload = R"({"m":2})"},
      {.job_type = "echo", .payload = R"({"n":3})"},
  };
  auto answered = jobs_.submit_batch(batch);
  ASSERT_TRUE(answered.ok()) << answered.status().message();
  const auto& results = *answered;
  EXPECT_EQ(results[0].status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(results[0].status().message(), "broker down");
  // The refused payload keeps its own answer.
  EXPECT_EQ(results[1].status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(results[2].status().code(), StatusCode::kUnavailable);
  // Nothing was enqueued, and no status says a job waits.
  queue_.fail_enqueue_with(Status{});
  EXPECT_TRUE(drain_queue().empty());
  auto listed = statuses_.list(StatusListQuery{.limit = 100});
  ASSERT_TRUE(listed.ok()) << listed.status().message();
  ASSERT_EQ(listed->statuses.size(), 2U);
  for (const auto& status : listed->statuses) {
    EXPECT_EQ(status.state, JobState::kFailed);
    EXPECT_EQ(status.error_code, "enqueue_failed");
  }
}

TEST_F(JobServiceBatchTest, KeyedAndDelayedJobsTakeTheSingleSubmitPath) {
  auto first = jobs_.submit("echo", R"({"n":1})", {.idempotency_key = "order-1"});
  ASSERT_TRUE(first.ok()) << first.status().message();
  const std::vector<BatchSubmission> batch{
      {.job_type = "echo", .payload = R"({"n":1})", .options = {.idempotency_key = "order-1"}},
      {.job_type = "echo",
       .payload = R"({"n":2})",
       .options = {.run_at = Clock::now() + std::chrono::hours(1)}},
      {.job_type = "echo", .payload = R"({"n":3})"},
  };
  auto answered = jobs_.submit_batch(batch);
  ASSERT_TRUE(answered.ok()) << answered.status().message();
  const auto& results = *answered;
  ASSERT_TRUE(results[0].ok()) << results[0].status().message();
  EXPECT_TRUE(results[0]->replayed);
  EXPECT_EQ(results[0]->job_id, first->job_id);
  ASSERT_TRUE(results[1].ok()) << results[1].status().message();
  EXPECT_EQ(results[1]->status.state, JobState::kScheduled);
  EXPECT_TRUE(schedule_.get(results[1]->job_id).ok());
  ASSERT_TRUE(results[2].ok()) << results[2].status().message();
  const auto queued = drain_queue();
  ASSERT_EQ(queued.size(), 2U);  // the keyed job's first submission, and n=3
  EXPECT_EQ(queued[0].job_id, first->job_id);
  EXPECT_EQ(queued[1].job_id, results[2]->job_id);
}

TEST_F(JobServiceBatchTest, ABatchHoldsOneToTheMostJobs) {
  EXPECT_EQ(jobs_.submit_batch({}).status().code(), StatusCode::kInvalidArgument);
  std::vector<BatchSubmission> batch(kMaxBatchJobs + 1,
                                     {.job_type = "echo", .payload = R"({"n":1})"});
  EXPECT_EQ(jobs_.submit_batch(batch).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(drain_queue().empty());
  batch.pop_back();
  auto answered = jobs_.submit_batch(batch);
  ASSERT_TRUE(answered.ok()) << answered.status().message();
  EXPECT_EQ(answered->size(), kMaxBatchJobs);
  EXPECT_EQ(drain_queue().size(), kMaxBatchJobs);
}

// The fake validator, recording what a batch asks of it.
class RecordingValidator final : public PayloadValidator {
 public:
  explicit RecordingValidator(PayloadValidator& inner) : inner_(inner) {}
  std::optional<ValidationOutcome> validate(std::string_view job_type,
                                            std::string_view payload) override {
    return inner_.validate(job_type, payload);
  }
  StatusOr<ValidationOutcome> check(std::string_view job_type, std::string_view payload) override {
    singles.emplace_back(job_type);
    return inner_.check(job_type, payload);
  }
  std::vector<StatusOr<ValidationOutcome>> check_batch(
      std::string_view job_type, std::span<const std::string_view> payloads) override {
    batches.emplace_back(std::string(job_type), payloads.size());
    return inner_.check_batch(job_type, payloads);
  }
  std::vector<std::string> singles;
  std::vector<std::pair<std::string, size_t>> batches;

 private:
  PayloadValidator& inner_;
};

TEST_F(JobServiceBatchTest, EachJobTypesPayloadsAreValidatedInOneCall) {
  validator_.own("other", [](std::string_view payload) -> StatusOr<ValidationOutcome> {
    return ValidationOutcome{.normalized_payload = std::string(payload)};
  });
  RecordingValidator recording(validator_);
  JobService jobs{queue_, statuses_, results_, recording, progress_, &keys_, &schedule_};
  const std::vector<BatchSubmission> batch{
      {.job_type = "echo", .payload = R"({"n":1})"},
      {.job_type = "other", .payload = R"({"a":1})"},
      {.job_type = "echo", .payload = R"({"m":2})"},
      {.job_type = "echo", .payload = R"({"n":3})", .options = {.idempotency_key = "k-1"}},
      {.job_type = "other", .payload = R"({"a":2})"},
      {.job_type = "echo", .payload = R"({"n":4})"},
      {.job_type = "Not A Type!", .payload = "{}"},
  };
  auto answered = jobs.submit_batch(batch);
  ASSERT_TRUE(answered.ok()) << answered.status().message();
  const std::vector<std::pair<std::string, size_t>> per_type{{"echo", 3}, {"other", 2}};
  EXPECT_EQ(recording.batches, per_type);
  // The keyed job takes submit()'s path, with its own check.
  EXPECT_EQ(recording.singles, std::vector<std::string>{"echo"});
  const std::vector<bool> accepted{true, true, false, true, true, true, false};
  ASSERT_EQ(answered->size(), accepted.size());
  for (size_t i = 0; i < accepted.size(); ++i) EXPECT_EQ((*answered)[i].ok(), accepted[i]) << i;
  EXPECT_EQ((*answered)[2].field_errors().size(), 1U);
  EXPECT_EQ((*answered)[6].status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace dtq::testing
