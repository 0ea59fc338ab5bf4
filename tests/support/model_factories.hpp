// Test values of the job model: a valid job message, a status and a result
// of a given job, with fresh ids, as every adapter test and conformance
// suite needs them.
//
// Thread-safety: plain functions returning values.
#pragma once

#include <string>
#include <utility>

#include "dtq/core/ids.hpp"
#include "dtq/core/model.hpp"
#include "dtq/core/time.hpp"

namespace dtq::testing {

inline constexpr const char* kTraceId = "7b0a7a52-5a4e-4f43-9d4c-0e1b2c3d4e5f";

inline JobMessage make_message(std::string job_type = "echo", std::string payload = R"({"n":1})") {
  return JobMessage{.job_id = new_uuid4(),
                    .job_type = std::move(job_type),
                    .submitted_at = now_rfc3339(),
                    .trace_id = new_uuid4(),
                    .payload = std::move(payload)};
}

inline JobStatus status_of(const std::string& job_id, JobState state, int progress,
                           std::string message = "", std::string job_type = "echo") {
  return JobStatus{.job_id = job_id,
                   .state = state,
                   .progress_percent = progress,
                   .updated_at = now_rfc3339(),
                   .message = std::move(message),
                   .trace_id = kTraceId,
                   .job_type = std::move(job_type)};
}

// A completed result of `job_id` with `output`.
inline JobResult result_of(const std::string& job_id, std::string output) {
  return JobResult{.job_id = job_id,
                   .job_type = "echo",
                   .input = R"({"message":"hi"})",
                   .output = std::move(output),
                   .final_state = JobState::kCompleted,
                   .started_at = now_rfc3339(),
                   .completed_at = now_rfc3339(),
                   .trace_id = kTraceId,
                   .attempts = 1};
}

// A failed result of `job_id`, for a job that never ran.
inline JobResult failed_result(const std::string& job_id) {
  JobResult failed = result_of(job_id, "");
  failed.final_state = JobState::kFailed;
  failed.error = JobError{"user_not_found", "no such user"};
  failed.started_at.clear();
  failed.attempts = 3;
  return failed;
}

}  // namespace dtq::testing
