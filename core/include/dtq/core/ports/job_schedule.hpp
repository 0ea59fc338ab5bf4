// JobSchedule port: the durable schedule of delayed jobs, the ones submitted
// with a run_at (or delay_seconds) in the future. A job waits here, its
// status `scheduled`, until it is due; then a JobScheduler
// (dtq/core/job_scheduler.hpp) moves it to the JobQueue. Implementations:
// embedded (SQLite table job_schedule, beside the queue), Redis for
// `dtq api` (a sorted set by due time + the messages, claims in Lua), and
// the fake in tests/fakes/.
//
// Moving a job is claim, enqueue, complete. A claim leases the due jobs it
// returns for `lease`: no other claim (another thread, process or `dtq api`
// replica) returns them before the lease ends, so two schedulers never both
// move one job. complete() then removes it. A scheduler that dies between
// its enqueue and complete() leaves the job to be claimed again once the
// lease ends, so a job is never lost; the copy enqueued twice is harmless
// (JobScheduler's header says why).
//
// A job's entry lives until it is completed or cancelled: a long delay
// keeps the job's message and when it is due here however long the status
// store keeps the status (Redis: 24 h), so a status read of a scheduled job
// finds it here (JobService::status).
//
// Thread-safety: every member function is thread-safe, and atomic against
// every other user of the same schedule (threads, processes, replicas).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "dtq/core/model.hpp"
#include "dtq/core/status.hpp"
#include "dtq/core/time.hpp"

namespace dtq {

// A job waiting in the schedule.
struct ScheduledJob {
  JobMessage message;
  Clock::time_point run_at;  // when it is due (millisecond precision)
  // Times a claim took it: above 1 means an earlier claim's scheduler
  // stopped before it completed the move (the job may be enqueued already).
  uint32_t claims = 0;
};

class JobSchedule {
 public:
  virtual ~JobSchedule() = default;

  // Durably stores `message` (checked by check_job_message) to be enqueued
  // at `run_at`. The same message again (the same job_id, trace_id and
  // submitted_at: a call retried after a lost reply) changes nothing and
  // succeeds; AlreadyExists when its job_id holds another message.
  virtual Status schedule(const JobMessage& message, Clock::time_point run_at) = 0;

  // Atomically leases, until now + `lease`, up to `limit` jobs due at `now`
  // (run_at <= now, and no unexpired lease), earliest due first, and
  // answers them. A job a claim answered is not answered by another claim
  // before its lease ends.
  virtual StatusOr<std::vector<ScheduledJob>> claim_due(Clock::time_point now,
                                                        std::chrono::milliseconds lease,
                                                        size_t limit) = 0;

  // Removes a claimed job once it is on the queue. Succeeds when the job is
  // not in the schedule any more (cancelled, or completed by another claim).
  virtual Status complete(std::string_view job_id) = 0;

  // Removes a job that waits, leased or not: true when it was there (it
  // will never be claimed again), false when it was not (unknown, or moved
  // already).
  virtual StatusOr<bool> cancel(std::string_view job_id) = 0;

  // The waiting job; NotFound when the schedule does not hold it.
  virtual StatusOr<ScheduledJob> get(std::string_view job_id) = 0;
};

}  // namespace dtq
