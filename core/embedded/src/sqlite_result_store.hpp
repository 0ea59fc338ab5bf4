// SqliteResultStore: the embedded ResultStore on the `job_results` table,
// one row per job id; the first put wins.
//
// Thread-safety: every member function is thread-safe.
#pragma once

#include <memory>

#include "database.hpp"
#include "dtq/core/ports/result_store.hpp"

namespace dtq::embedded {

class SqliteResultStore final : public ResultStore {
 public:
  explicit SqliteResultStore(std::shared_ptr<Database> db) : db_(std::move(db)) {}

  StatusOr<bool> put(const JobResult& result) override;
  StatusOr<JobResult> get(std::string_view job_id) override;
  // One transaction for the whole batch.
  StatusOr<std::vector<bool>> put_batch(std::span<const JobResult> results) override;

 private:
  const std::shared_ptr<Database> db_;
};

}  // namespace dtq::embedded
