// SqlitePausedJobTypes: PausedJobTypes on the `paused_job_types` table, one
// row per paused job type. Writes go through the writer thread and return
// once committed; list() reads on a pooled connection.
//
// Thread-safety: every member function is thread-safe.
#pragma once

#include <memory>

#include "database.hpp"
#include "dtq/embedded/paused_job_types.hpp"

namespace dtq::embedded {

class SqlitePausedJobTypes final : public PausedJobTypes {
 public:
  explicit SqlitePausedJobTypes(std::shared_ptr<Database> db) : db_(std::move(db)) {}

  StatusOr<std::vector<std::string>> list() override;
  Status set(std::string_view job_type, bool paused) override;

 private:
  const std::shared_ptr<Database> db_;
};

}  // namespace dtq::embedded
