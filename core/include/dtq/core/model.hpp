// The job model: the message on the queue, the status watchers see, and the
// result stored once per job. Field names and meanings are the wire contract
// (job message on jobs.<type>.v1, status hash job:<id>:status, documents in
// dtq.job_results); JSON encoding lives in model_json.hpp.
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "dtq/core/priority.hpp"

namespace dtq {

inline constexpr std::string_view kSchemaVersion = "1.0";

// kCancelled and kScheduled are dtq's extension states (DESIGN §2): a job
// cancelled by request, and a delayed job waiting in the schedule until its
// run_at (it becomes queued then). kScheduled comes before kQueued in a
// job's life; it is last here only so that the older values keep theirs.
enum class JobState { kQueued, kRunning, kCompleted, kFailed, kCancelled, kScheduled };

std::string_view to_string(JobState state) noexcept;
std::optional<JobState> parse_job_state(std::string_view text) noexcept;
inline bool is_terminal(JobState state) noexcept {
  return state == JobState::kCompleted || state == JobState::kFailed ||
         state == JobState::kCancelled;
}

// What is enqueued: everything a worker needs to run the job.
struct JobMessage {
  std::string schema_version{kSchemaVersion};
  std::string job_id;  // UUID v4
  std::string job_type;
  std::string submitted_at;  // RFC 3339 UTC
  std::string trace_id;      // UUID v4
  std::string payload;       // JSON object text, normalized by the plugin
  // An extension of the message contract: `"priority": "high"|"low"` in
  // the JSON, absent for normal (so a normal message is exactly the
  // contract's, and a message without it reads as normal). On Kafka the
  // topic decides: jobs.{type}.v1 is normal, jobs.{type}.high.v1 high, ...
  JobPriority priority = JobPriority::kNormal;
};

// The current state of a job. progress_percent never goes down; once the
// state is terminal it never changes again.
struct JobStatus {
  std::string job_id;
  JobState state = JobState::kQueued;
  int progress_percent = 0;
  std::string updated_at;  // RFC 3339 UTC
  std::string message;
  std::string trace_id;
  std::string job_type;
  std::string error_code;  // empty unless failed/cancelled
  std::string error_message;
  uint32_t attempt = 0;  // the attempt running or last run; 0 before the first
  JobPriority priority = JobPriority::kNormal;  // as submitted; never changes
  // When a scheduled job is due (RFC 3339 UTC); empty for a job submitted to
  // run now. The status stores need not keep it: JobService reads it from
  // the schedule (JobSchedule) for a job that is still scheduled.
  std::string run_at;

  bool operator==(const JobStatus&) const = default;
};

// Folds `update` into `current` under the status rules: a terminal status
// never changes, progress never goes down, and a late non-terminal update
// never moves the state backwards (running never becomes queued again;
// scheduled comes before queued). A blank current status (one a store made
// for a job it had not seen: no updated_at) takes the update's state,
// scheduled included.
// Returns false when `update` changed nothing a watcher could see.
bool merge_status(JobStatus& current, const JobStatus& update);

struct JobError {
  std::string code;
  std::string message;
};

// The outcome of a job, written exactly once per job_id.
struct JobResult {
  std::string schema_version{kSchemaVersion};
  std::string job_id;
  std::string job_type;
  std::string input;   // the payload, JSON object text
  std::string output;  // JSON object text; empty unless completed
  JobState final_state = JobState::kCompleted;
  std::string started_at;  // RFC 3339 UTC; empty if it never started
  std::string completed_at;
  std::optional<JobError> error;
  std::string trace_id;
  uint32_t attempts = 0;
};

}  // namespace dtq
