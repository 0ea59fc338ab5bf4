#include "dtq/core/model.hpp"

#include <algorithm>

namespace dtq {
namespace {

int rank(JobState state) {
  switch (state) {
    case JobState::kScheduled:
      return -1;
    case JobState::kQueued:
      return 0;
    case JobState::kRunning:
      return 1;
    case JobState::kCompleted:
    case JobState::kFailed:
    case JobState::kCancelled:
      return 2;
  }
  return 2;
}

}  // namespace

std::string_view to_string(JobState state) noexcept {
  switch (state) {
    case JobState::kQueued:
      return "queued";
    case JobState::kRunning:
      return "running";
    case JobState::kCompleted:
      return "completed";
    case JobState::kFailed:
      return "failed";
    case JobState::kCancelled:
      return "cancelled";
    case JobState::kScheduled:
      return "scheduled";
  }
  return "unknown";
}

std::optional<JobState> parse_job_state(std::string_view text) noexcept {
  for (const JobState state : {JobState::kQueued, JobState::kRunning, JobState::kCompleted,
                               JobState::kFailed, JobState::kCancelled, JobState::kScheduled}) {
    if (to_string(state) == text) return state;
  }
  return std::nullopt;
}

bool merge_status(JobStatus& current, const JobStatus& update) {
  if (is_terminal(current.state)) return false;
  const int progress =
      std::clamp(std::max(current.progress_percent, update.progress_percent), 0, 100);
  bool visible = progress != current.progress_percent;
  current.progress_percent = progress;
  current.attempt = std::max(current.attempt, update.attempt);
  if (current.trace_id.empty()) current.trace_id = update.trace_id;
  if (current.job_type.empty()) current.job_type = update.job_type;
  // Fixed at submit: whichever side knows it (not the default) wins.
  if (current.priority == JobPriority::kNormal) current.priority = update.priority;
  if (current.run_at.empty()) current.run_at = update.run_at;
  // A job the store has not seen yet (a blank status) may start scheduled.
  if (current.updated_at.empty() && update.state == JobState::kScheduled)
    current.state = update.state;
  // A stale update (a late "queued" after "running") may only add progress.
  if (rank(update.state) < rank(current.state)) return visible;
  visible = visible || update.state != current.state || update.message != current.message;
  current.state = update.state;
  current.message = update.message;
  current.updated_at = update.updated_at;
  if (is_terminal(update.state)) {
    current.error_code = update.error_code;
    current.error_message = update.error_message;
    if (update.state == JobState::kCompleted) current.progress_percent = 100;
  }
  return visible;
}

}  // namespace dtq
