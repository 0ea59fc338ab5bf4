// PausedJobTypes: the job types paused in one data folder, so that a pause
// (POST /v1/job-types/{t}:pause, `dtq pause`, in `dtq serve`) outlives the
// process: the owner reads them at start-up and pauses those pools before
// they take a job (docs/operators.md).
//
// Thread-safety: every member function is thread-safe. Ownership: shares the
// data folder's database with the other embedded ports.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "dtq/core/status.hpp"

namespace dtq::embedded {

class PausedJobTypes {
 public:
  virtual ~PausedJobTypes() = default;
  // The paused job types, sorted.
  virtual StatusOr<std::vector<std::string>> list() = 0;
  // Records `job_type` as paused (true) or not (false); returns once that is
  // durable. Idempotent.
  virtual Status set(std::string_view job_type, bool paused) = 0;
};

}  // namespace dtq::embedded
