// The job model to and from its dtq.v1 messages (proto/dtq/v1/jobs.proto).
// Private to dtq_api: only the gRPC sources include it.
#pragma once

#include <dtq/v1/jobs.pb.h>

#include <optional>
#include <string_view>

#include "dtq/core/model.hpp"

namespace dtq::api {

// The trailing metadata key of a failed call's dtq.v1.ErrorDetails.
inline constexpr std::string_view kErrorDetailsKey = "dtq-error-bin";

inline v1::JobState to_proto(JobState state) {
  switch (state) {
    case JobState::kQueued:
      return v1::JOB_STATE_QUEUED;
    case JobState::kRunning:
      return v1::JOB_STATE_RUNNING;
    case JobState::kCompleted:
      return v1::JOB_STATE_COMPLETED;
    case JobState::kFailed:
      return v1::JOB_STATE_FAILED;
    case JobState::kCancelled:
      return v1::JOB_STATE_CANCELLED;
    case JobState::kScheduled:
      return v1::JOB_STATE_SCHEDULED;
  }
  return v1::JOB_STATE_UNSPECIFIED;
}

// nullopt for UNSPECIFIED and for numbers this version does not know.
inline std::optional<JobState> from_proto(v1::JobState state) {
  switch (state) {
    case v1::JOB_STATE_QUEUED:
      return JobState::kQueued;
    case v1::JOB_STATE_RUNNING:
      return JobState::kRunning;
    case v1::JOB_STATE_COMPLETED:
      return JobState::kCompleted;
    case v1::JOB_STATE_FAILED:
      return JobState::kFailed;
    case v1::JOB_STATE_CANCELLED:
      return JobState::kCancelled;
    case v1::JOB_STATE_SCHEDULED:
      return JobState::kScheduled;
    default:
      return std::nullopt;
  }
}

inline v1::JobPriority to_proto(JobPriority priority) {
  switch (priority) {
    case JobPriority::kHigh:
      return v1::JOB_PRIORITY_HIGH;
    case JobPriority::kNormal:
      return v1::JOB_PRIORITY_NORMAL;
    case JobPriority::kLow:
      return v1::JOB_PRIORITY_LOW;
  }
  return v1::JOB_PRIORITY_NORMAL;
}

// UNSPECIFIED is normal; nullopt for numbers this version does not know.
inline std::optional<JobPriority> from_proto(v1::JobPriority priority) {
  switch (priority) {
    case v1::JOB_PRIORITY_UNSPECIFIED:
    case v1::JOB_PRIORITY_NORMAL:
      return JobPriority::kNormal;
    case v1::JOB_PRIORITY_HIGH:
      return JobPriority::kHigh;
    case v1::JOB_PRIORITY_LOW:
      return JobPriority::kLow;
    default:
      return std::nullopt;
  }
}

inline void to_proto(const JobStatus& status, v1::JobStatus& out) {
  out.set_job_id(status.job_id);
  out.set_state(to_proto(status.state));
  out.set_progress_percent(status.progress_percent);
  out.set_updated_at(status.updated_at);
  out.set_message(status.message);
  out.set_trace_id(status.trace_id);
  out.set_job_type(status.job_type);
  out.set_error_code(status.error_code);
  out.set_error_message(status.error_message);
  out.set_attempt(status.attempt);
  out.set_priority(to_proto(status.priority));
  out.set_run_at(status.run_at);
}

inline void to_proto(const JobResult& result, v1::JobResult& out) {
  out.set_schema_version(result.schema_version);
  out.set_job_id(result.job_id);
  out.set_job_type(result.job_type);
  out.set_input_json(result.input);
  out.set_output_json(result.output);
  out.set_final_state(to_proto(result.final_state));
  out.set_started_at(result.started_at);
  out.set_completed_at(result.completed_at);
  if (result.error) {
    out.mutable_error()->set_code(result.error->code);
    out.mutable_error()->set_message(result.error->message);
  }
  out.set_trace_id(result.trace_id);
  out.set_attempts(result.attempts);
}

}  // namespace dtq::api
