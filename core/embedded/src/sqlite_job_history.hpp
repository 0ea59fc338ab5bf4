// SqliteJobHistory: the embedded JobHistory on the append-only `job_events`
// table of <data_dir>/history.db (one row per event, a rowid table so
// appends land at its tail, one index on job_id). The file is its own, with
// its own writer thread (Database::open_history), so that the history's
// rows and index entries never queue behind the jobs' writes in dtq.db nor
// hold them up. A batch is one asynchronous closure of that writer, never
// one transaction per event. The retention trimmer deletes a job's events
// once it has deleted its status and result.
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

  // Queues the batch behind the writer's other writes (one transaction of
  // the group commit); list() flushes first, so it sees it.
  Status append(std::span<const JobEvent> events) override;
  StatusOr<std::vector<JobEvent>> list(std::string_view job_id, size_t limit) override;

 private:
  const std::shared_ptr<Database> db_;
};

}  // namespace dtq::embedded
