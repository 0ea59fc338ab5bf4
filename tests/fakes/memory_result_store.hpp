// MemoryResultStore: the ResultStore port in memory, for tests that need a
// result store but not a database or MongoDB. Each job id's first result
// wins; a batch with a result that cannot be stored stores none. It passes
// the ResultStore conformance suite; nothing outlives it.
//
// Thread-safety: every member function is thread-safe. Ownership: owns
// copies of the results.
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "dtq/core/ports/result_store.hpp"

namespace dtq::fakes {

class MemoryResultStore final : public ResultStore {
 public:
  StatusOr<bool> put(const JobResult& result) override;
  StatusOr<std::vector<bool>> put_batch(std::span<const JobResult> results) override;
  StatusOr<JobResult> get(std::string_view job_id) override;

 private:
  std::mutex mutex_;
  std::map<std::string, JobResult, std::less<>> results_;
};

}  // namespace dtq::fakes
