// SqliteJobSchedule: the embedded JobSchedule on the `job_schedule` table,
// one row per waiting job: its message (JSON), run_at and due_at (unix
// milliseconds, wall clock: the processes on one data folder share it)
// and how many claims took it. A claim is one write of the
// group-committing writer (BEGIN IMMEDIATE across processes), so claims
// are serialised: it reads the rows due (due_at <= now, by the due_at
// index) and moves their due_at to the end of the lease in the same
// transaction. Rows leave by complete() or cancel(), so the table holds
// only the jobs that wait.
//
// Thread-safety: every member function is thread-safe.
#pragma once

#include <memory>

#include "database.hpp"
#include "dtq/core/ports/job_schedule.hpp"

namespace dtq::embedded {

class SqliteJobSchedule final : public JobSchedule {
 public:
  explicit SqliteJobSchedule(std::shared_ptr<Database> db) : db_(std::move(db)) {}

  Status schedule(const JobMessage& message, Clock::time_point run_at) override;
  StatusOr<std::vector<ScheduledJob>> claim_due(Clock::time_point now,
                                                std::chrono::milliseconds lease,
                                                size_t limit) override;
  Status complete(std::string_view job_id) override;
  StatusOr<bool> cancel(std::string_view job_id) override;
  StatusOr<ScheduledJob> get(std::string_view job_id) override;
  StatusOr<SchedulePage> list(std::string_view job_type, std::string_view cursor,
                              size_t limit) override;

 private:
  const std::shared_ptr<Database> db_;
};

}  // namespace dtq::embedded
