// The job model's rules and its JSON contract.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "dtq/core/model.hpp"
#include "dtq/core/model_json.hpp"

namespace dtq {
namespace {

using ::testing::HasSubstr;

JobStatus status(JobState state, int progress, std::string message = "") {
  return JobStatus{
      .job_id = "j", .state = state, .progress_percent = progress, .message = std::move(message)};
}

TEST(MergeStatus, ProgressNeverGoesDown) {
  JobStatus current = status(JobState::kRunning, 50);
  EXPECT_FALSE(merge_status(current, status(JobState::kRunning, 20)));
  EXPECT_EQ(current.progress_percent, 50);
  EXPECT_TRUE(merge_status(current, status(JobState::kRunning, 80)));
  EXPECT_EQ(current.progress_percent, 80);
}

TEST(MergeStatus, ATerminalStatusIsFinal) {
  JobStatus current = status(JobState::kCancelled, 30, "cancelled by user");
  EXPECT_FALSE(merge_status(current, status(JobState::kRunning, 90, "late")));
  EXPECT_FALSE(merge_status(current, status(JobState::kCompleted, 100)));
  EXPECT_EQ(current.state, JobState::kCancelled);
  EXPECT_EQ(current.progress_percent, 30);
}

TEST(MergeStatus, AStaleStateOnlyAddsProgress) {
  JobStatus current = status(JobState::kRunning, 20, "fetching");
  EXPECT_TRUE(merge_status(current, status(JobState::kQueued, 40, "queued")));
  EXPECT_EQ(current.state, JobState::kRunning);
  EXPECT_EQ(current.message, "fetching");
  EXPECT_EQ(current.progress_percent, 40);
}

TEST(MergeStatus, CompletionMeansFullProgressAndFailureKeepsItsError) {
  JobStatus completed = status(JobState::kRunning, 80);
  EXPECT_TRUE(merge_status(completed, status(JobState::kCompleted, 0)));
  EXPECT_EQ(completed.progress_percent, 100);

  JobStatus failed = status(JobState::kRunning, 20);
  JobStatus failure = status(JobState::kFailed, 0, "failed");
  failure.error_code = "user_not_found";
  failure.error_message = "user not found: nobody";
  EXPECT_TRUE(merge_status(failed, failure));
  EXPECT_EQ(failed.progress_percent, 20);
  EXPECT_EQ(failed.error_code, "user_not_found");
}

TEST(JobMessageJson, RoundTripsTheContract) {
  const JobMessage message{.job_id = "6f1c1b1e-0000-4000-8000-000000000001",
                           .job_type = "weather",
                           .submitted_at = "2026-11-23T09:15:28.123Z",
                           .trace_id = "6f1c1b1e-0000-4000-8000-000000000002",
                           .payload = R"({"city":"Austin"})"};
  const std::string json = to_json(message);
  EXPECT_EQ(json,
            R"({"schema_version":"1.0","job_id":"6f1c1b1e-0000-4000-8000-000000000001",)"
            R"("job_type":"weather","submitted_at":"2026-11-23T09:15:28.123Z",)"
            R"("trace_id":"6f1c1b1e-0000-4000-8000-000000000002","payload":{"city":"Austin"}})");
  auto parsed = parse_job_message(json);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->job_id, message.job_id);
  EXPECT_EQ(parsed->payload, message.payload);
  EXPECT_EQ(parsed->schema_version, "1.0");
}

TEST(JobMessageJson, RefusesBadMessagesNamingTheField) {
  const auto refusal = [](std::string_view json) {
    auto parsed = parse_job_message(json);
    EXPECT_FALSE(parsed.ok()) << json;
    return parsed.ok() ? "" : parsed.status().message();
  };
  const std::string ids =
      R"("job_id":"6f1c1b1e-0000-4000-8000-000000000001","trace_id":"6f1c1b1e-0000-4000-8000-000000000002")";
  EXPECT_THAT(refusal("{"), HasSubstr("malformed JSON"));
  EXPECT_THAT(
      refusal(R"({"job_type":"weather","submitted_at":"2026-11-23T09:15:28Z","payload":{}})"),
      HasSubstr("missing required field \"job_id\""));
  EXPECT_THAT(
      refusal("{" + ids + R"(,"job_type":"weather","submitted_at":"2026-11-23T09:15:28Z"})"),
      HasSubstr("missing required field \"payload\""));
  EXPECT_THAT(
      refusal("{" + ids +
              R"(,"job_type":"weather","submitted_at":"2026-11-23T09:15:28Z","payload":[]})"),
      HasSubstr("field \"payload\" must be an object"));
  EXPECT_THAT(
      refusal("{" + ids +
              R"(,"job_type":"Weather!","submitted_at":"2026-11-23T09:15:28Z","payload":{}})"),
      HasSubstr("is not a valid job type"));
  EXPECT_THAT(
      refusal("{" + ids + R"(,"job_type":"weather","submitted_at":"yesterday","payload":{}})"),
      HasSubstr("submitted_at is not an RFC 3339"));
  EXPECT_THAT(
      refusal(R"({"schema_version":"2.0",)" + ids +
              R"(,"job_type":"weather","submitted_at":"2026-11-23T09:15:28Z","payload":{}})"),
      HasSubstr("unsupported schema_version \"2.0\""));
  EXPECT_THAT(
      refusal(R"({"job_id":"x","trace_id":"6f1c1b1e-0000-4000-8000-000000000002","job_type":"w",)"
              R"("submitted_at":"2026-11-23T09:15:28Z","payload":{}})"),
      HasSubstr("job_id is not a UUID"));
}

TEST(JobStatusJson, HasTheContractFieldsAndOmitsEmptyOptionalOnes) {
  JobStatus s = status(JobState::kRunning, 50, "forecast received");
  s.updated_at = "2026-11-23T09:15:28.123Z";
  EXPECT_EQ(to_json(s),
            R"({"job_id":"j","state":"running","progress_percent":50,)"
            R"("updated_at":"2026-11-23T09:15:28.123Z","message":"forecast received"})");
  s.error_code = "x";
  auto parsed = parse_job_status(to_json(s));
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->state, JobState::kRunning);
  EXPECT_EQ(parsed->progress_percent, 50);
  EXPECT_EQ(parsed->error_code, "x");
  EXPECT_FALSE(
      parse_job_status(R"({"job_id":"j","state":"done","progress_percent":1,"updated_at":""})")
          .ok());
  EXPECT_FALSE(
      parse_job_status(R"({"job_id":"j","state":"queued","progress_percent":101,"updated_at":""})")
          .ok());
}

TEST(JobResultJson, EmbedsInputAndOutputAsJsonAndRoundTrips) {
  JobResult result{.job_id = "j",
                   .job_type = "weather",
                   .input = R"({"city":"Austin"})",
                   .output = R"({"temperature":22.4})",
                   .final_state = JobState::kCompleted,
                   .started_at = "2026-11-23T09:15:28.000Z",
                   .completed_at = "2026-11-23T09:15:29.000Z",
                   .trace_id = "t",
                   .attempts = 1};
  const std::string json = to_json(result);
  EXPECT_THAT(json, HasSubstr(R"("input":{"city":"Austin"},"output":{"temperature":22.4})"));
  EXPECT_THAT(json, HasSubstr(R"("error":null)"));
  auto parsed = parse_job_result(json);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->output, result.output);
  EXPECT_FALSE(parsed->error.has_value());

  result.final_state = JobState::kFailed;
  result.output.clear();
  result.error = JobError{"city_not_found", "no city named \"X\""};
  auto failed = parse_job_result(to_json(result));
  ASSERT_TRUE(failed.ok()) << failed.status().message();
  EXPECT_EQ(failed->final_state, JobState::kFailed);
  EXPECT_TRUE(failed->output.empty());
  ASSERT_TRUE(failed->error.has_value());
  EXPECT_EQ(failed->error->message, "no city named \"X\"");
}

}  // namespace
}  // namespace dtq
