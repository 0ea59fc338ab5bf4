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

#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
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

// Where a listing of the schedule goes on: after the job `job_id` due at
// `due_ms` (unix milliseconds). Its text, `<due_ms>:<job_id>`, is the
// opaque next_cursor a client hands back.
struct ScheduleCursor {
  int64_t due_ms = 0;
  std::string job_id;

  [[nodiscard]] std::string text() const { return std::to_string(due_ms) + ":" + job_id; }
  // Nothing for a text that text() did not make.
  [[nodiscard]] static std::optional<ScheduleCursor> parse(std::string_view text) {
    const size_t colon = text.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) return {};
    ScheduleCursor cursor;
    const auto [end, error] = std::from_chars(text.data(), text.data() + colon, cursor.due_ms);
    if (error != std::errc{} || end != text.data() + colon) return {};
    cursor.job_id = std::string(text.substr(colon + 1));
    return cursor;
  }
};

// One page of the schedule.
struct SchedulePage {
  std::vector<ScheduledJob> jobs;
  std::string next_cursor;  // empty on the last page
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
  // The waiting jobs of `job_type` (empty: of every type), earliest due
  // first (a claimed job at its lease's end), then by job id: up to `limit`
  // (at least 1) after `cursor` (empty: from the first; otherwise a
  // next_cursor this schedule answered). However long ago a job was
  // submitted, it is listed while it waits. A job claimed meanwhile may
  // move in the order, so a paging client may see it twice or miss it as
  // it leaves. A page may hold fewer jobs than `limit` while next_cursor
  // is set (an adapter bounds the work of one call). InvalidArgument for a
  // malformed cursor.
  virtual StatusOr<SchedulePage> list(std::string_view job_type, std::string_view cursor,
                                      size_t limit) = 0;
};

}  // namespace dtq
