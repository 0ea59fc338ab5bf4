#include "dtq/core/job_service.hpp"

#include "dtq/core/ids.hpp"
#include "dtq/core/time.hpp"

namespace dtq {
namespace {

Status check_id(std::string_view job_id) {
  if (!is_uuid(job_id)) return invalid_argument("malformed job id \"" + std::string(job_id) + "\"");
  return {};
}

// The status a stored result implies once the live status has expired.
JobStatus status_of(const JobResult& result) {
  JobStatus status{.job_id = result.job_id,
                   .state = result.final_state,
                   .progress_percent = result.final_state == JobState::kCompleted ? 100 : 0,
                   .updated_at = result.completed_at,
                   .message = std::string(to_string(result.final_state)),
                   .trace_id = result.trace_id,
                   .job_type = result.job_type,
                   .attempt = result.attempts};
  if (result.error) {
    status.error_code = result.error->code;
    status.error_message = result.error->message;
  }
  return status;
}

}  // namespace

SubmitResult JobService::submit(std::string_view job_type, std::string_view payload) {
  if (!is_valid_job_type(job_type)) {
    return not_found("unknown job type \"" + std::string(job_type) + "\"");
  }
  auto validation = validator_.check(job_type, payload);
  if (!validation.ok()) return validation.status();
  if (!validation->valid()) {
    return {invalid_argument("invalid payload for " + std::string(job_type)),
            std::move(validation->errors)};
  }
  JobMessage message;
  message.job_id = new_uuid4();
  message.job_type = std::string(job_type);
  message.submitted_at = now_rfc3339();
  message.trace_id = new_uuid4();
  message.payload = std::move(validation->normalized_payload);

  // Queued before enqueued: a worker may pick the job up the moment it is on
  // the queue, and its "running" must not be overtaken by our "queued".
  JobStatus queued{.job_id = message.job_id,
                   .state = JobState::kQueued,
                   .progress_percent = 0,
                   .updated_at = message.submitted_at,
                   .message = "queued",
                   .trace_id = message.trace_id,
                   .job_type = message.job_type};
  auto stored = statuses_.update(queued);
  if (!stored.ok()) return stored.status();
  if (Status enqueued = queue_.enqueue(message); !enqueued.ok()) {
    JobStatus lost = queued;
    lost.state = JobState::kFailed;
    lost.updated_at = now_rfc3339();
    lost.message = "could not be enqueued";
    lost.error_code = "enqueue_failed";
    lost.error_message = enqueued.message();
    // Best effort: the caller is told the enqueue failed either way, and a
    // status left "queued" would only outlive the job that never was.
    (void)statuses_.update(lost);
    return enqueued;
  }
  return SubmittedJob{.job_id = std::move(message.job_id),
                      .trace_id = std::move(message.trace_id),
                      .status = std::move(stored).value()};
}

StatusOr<JobStatus> JobService::status(std::string_view job_id) {
  if (Status valid = check_id(job_id); !valid.ok()) return valid;
  auto live = progress_.progress(job_id);
  if (live.ok() || live.status().code() != StatusCode::kNotFound) return live;
  auto stored = results_.get(job_id);
  if (!stored.ok()) return live;
  return status_of(*stored);
}

StatusOr<JobResult> JobService::result(std::string_view job_id) {
  if (Status valid = check_id(job_id); !valid.ok()) return valid;
  return results_.get(job_id);
}

StatusOr<JobStatus> JobService::cancel(std::string_view job_id) {
  if (Status valid = check_id(job_id); !valid.ok()) return valid;
  auto current = statuses_.get(job_id);
  if (!current.ok()) return current.status();
  if (is_terminal(current->state)) {
    return failed_precondition("job " + std::string(job_id) + " already " +
                               std::string(to_string(current->state)));
  }
  // The request first: a worker that takes the job between these two steps
  // must already see it.
  if (Status requested = statuses_.request_cancel(job_id); !requested.ok()) return requested;
  if (current->state == JobState::kQueued) {
    JobStatus cancelled = *current;
    cancelled.state = JobState::kCancelled;
    cancelled.updated_at = now_rfc3339();
    cancelled.message = "cancelled before it started";
    cancelled.error_code = "cancelled";
    cancelled.error_message = "cancelled by request";
    return statuses_.update(cancelled);
  }
  return statuses_.get(job_id);
}

StatusOr<std::vector<DeadLetter>> JobService::dead_letters(std::string_view job_type,
                                                           size_t limit) {
  return queue_.dead_letters(job_type, limit);
}

StatusOr<std::string> JobService::replay(std::string_view job_id) {
  if (Status valid = check_id(job_id); !valid.ok()) return valid;
  auto new_id = queue_.replay(job_id);
  if (!new_id.ok()) return new_id;
  (void)record_replay(statuses_, job_id, *new_id);
  return new_id;
}

StatusOr<JobStatus> record_replay(StatusStore& statuses, std::string_view original_id,
                                  const std::string& replay_id) {
  const auto original = statuses.get(original_id);
  return statuses.update(JobStatus{.job_id = replay_id,
                                   .state = JobState::kQueued,
                                   .updated_at = now_rfc3339(),
                                   .message = "queued (replay of " + std::string(original_id) + ")",
                                   .trace_id = original.ok() ? original->trace_id : "",
                                   .job_type = original.ok() ? original->job_type : ""});
}

}  // namespace dtq
