#include "fakes/memory_result_store.hpp"

namespace dtq::fakes {

StatusOr<bool> MemoryResultStore::put(const JobResult& result) {
  auto stored = put_batch({&result, 1});
  if (!stored.ok()) return stored.status();
  return static_cast<bool>(stored->front());
}

StatusOr<std::vector<bool>> MemoryResultStore::put_batch(std::span<const JobResult> results) {
  for (const auto& result : results) {
    if (result.job_id.empty()) return invalid_argument("result without a job id");
  }
  std::vector<bool> stored;
  stored.reserve(results.size());
  std::lock_guard lock(mutex_);
  for (const auto& result : results)
    stored.push_back(results_.emplace(result.job_id, result).second);
  return stored;
}

StatusOr<JobResult> MemoryResultStore::get(std::string_view job_id) {
  std::lock_guard lock(mutex_);
  const auto it = results_.find(job_id);
  if (it == results_.end()) return not_found("no result for job " + std::string(job_id));
  return it->second;
}

}  // namespace dtq::fakes
