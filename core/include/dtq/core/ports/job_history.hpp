// JobHistory port: the audit trail of every job, an append-only log of
// events (issue 13 point 4). Implementations: embedded (SQLite table
// job_events) and MongoDB (collection dtq.job_events, beside job_results);
// both index job_id. The events are written by the recording decorators of
// dtq/core/job_history_recorder.hpp, which wrap the StatusStore and the
// JobQueue where the wiring builds them, so the engine and the API never
// call this port to write.
//
// Contract:
//  - append() stores a batch of events, in order. It may be called from a
//    batching writer thread only (never per job on a hot path); it returns
//    once the batch is stored as durably as the store's other writes of
//    the same kind (embedded: queued behind the group commit).
//  - list() answers one job's events oldest first: by `at`; in one
//    millisecond, the event that queued the job first (kind_rank: the API
//    and a worker may both write then), then in the order appended. An
//    unknown job has no events (an empty list, not NotFound: the caller
//    knows whether the job exists).
//  - Events are never changed. They go with their job when retention trims
//    it (embedded: the retention trimmer; MongoDB: not trimmed by dtq).
//
// Thread-safety: every member function is thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dtq/core/status.hpp"

namespace dtq {

// What happened. The text of each (to_string) is the wire name in REST,
// gRPC, GraphQL and the stores; a new kind is appended, never renumbered,
// and readers show a kind they do not know by its name.
enum class JobEventKind {
  kSubmitted,        // queued by a submit; detail: the queued status's message
  kReplayOf,         // queued as the replay of dead letter related_job_id
  kRetryOf,          // queued as the retry of failed job related_job_id
  kStarted,          // attempt `attempt` began on `worker`
  kRetry,            // attempt `attempt` failed (error_code) and will run again; detail: the reason
  kReleased,         // the worker gave the job back for redelivery; detail: why
  kCancelRequested,  // a client asked to cancel it
  kCompleted,        // terminal; ends attempt `attempt` when it ran (worker set)
  kFailed,           // terminal; error_code; ends attempt `attempt` when it ran
  kCancelled,        // terminal; error_code "cancelled"
  kDeadLettered,     // moved to the dead letters after failing; error_code, attempts
  kReplayed,         // its dead letter was replayed as job related_job_id
  kRetried,          // it was retried (after failing) as job related_job_id
  kScheduled,        // reserved for delayed jobs: waiting until a run_at (detail)
};

std::string_view to_string(JobEventKind kind) noexcept;
std::optional<JobEventKind> parse_job_event_kind(std::string_view text) noexcept;
// 0 for the events that queue a job (submitted, replay_of, retry_of,
// scheduled), 1 for the rest: whatever the writers, a job is queued before
// anything else happens to it.
int kind_rank(JobEventKind kind) noexcept;

struct JobEvent {
  std::string job_id;
  std::string job_type;
  std::string at;  // RFC 3339 UTC, milliseconds
  JobEventKind kind = JobEventKind::kSubmitted;
  uint32_t attempt = 0;        // the attempt it concerns; 0 when none
  std::string worker;          // who ran it: host/pid and pool (attempt events); empty otherwise
  std::string error_code;      // failed, cancelled, retry, dead_lettered
  std::string related_job_id;  // replay_of, retry_of, replayed, retried
  std::string detail;          // human text: the status message, a reason

  bool operator==(const JobEvent&) const = default;
};

// Sorts one job's events as list() promises: by `at`, then by kind_rank;
// stable, so the order appended stays otherwise.
void sort_job_events(std::vector<JobEvent>& events);

class JobHistory {
 public:
  virtual ~JobHistory() = default;

  // Stores `events` (any jobs, in order).
  virtual Status append(std::span<const JobEvent> events) = 0;
  // The events of `job_id`, oldest first; at most `limit`.
  virtual StatusOr<std::vector<JobEvent>> list(std::string_view job_id, size_t limit) = 0;
};

}  // namespace dtq
