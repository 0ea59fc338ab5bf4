// SqliteJobHistory: the embedded JobHistory on the append-only `job_events`
// table (one row per event, a rowid table so appends land at its tail, one
// index on job_id). A batch is one closure of the database's writer: one
// transaction of the group commit, never one per event. The retention
// trimmer deletes a job's events with its status and result.
//
// Thread-safety: every member function is thread-safe.
#pragma once

#include <memory>

#include "database.hpp"
#include "dtq/core/ports/job_history.hpp"

namespace dtq::embedded {

class SqliteJobHistory final : public JobHistory {
 public:
  explicit SqliteJobHistory(std::shared_ptr<Database> db) : db_(std::move(db)) {}

  // Returns once the batch committed.
  Status append(std::span<const JobEvent> events) override;
  StatusOr<std::vector<JobEvent>> list(std::string_view job_id, size_t limit) override;

 private:
  const std::shared_ptr<Database> db_;
};

}  // namespace dtq::embedded
