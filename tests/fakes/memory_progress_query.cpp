#include "fakes/memory_progress_query.hpp"

namespace dtq::fakes {

StatusOr<JobStatus> MemoryProgressQuery::progress(std::string_view job_id) {
  std::lock_guard lock(mutex_);
  if (!failure_.ok()) return failure_;
  const auto it = statuses_.find(job_id);
  if (it == statuses_.end()) return not_found("no status for job " + std::string(job_id));
  return it->second;
}

void MemoryProgressQuery::record(const JobStatus& status) {
  std::lock_guard lock(mutex_);
  statuses_[status.job_id] = status;
}

void MemoryProgressQuery::fail_with(Status failure) {
  std::lock_guard lock(mutex_);
  failure_ = std::move(failure);
}

}  // namespace dtq::fakes
