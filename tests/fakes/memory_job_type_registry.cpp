#include "fakes/memory_job_type_registry.hpp"

namespace dtq::fakes {

StatusOr<std::vector<JobTypeInfo>> MemoryJobTypeRegistry::list() {
  std::lock_guard lock(mutex_);
  if (!failure_.ok()) return failure_;
  std::vector<JobTypeInfo> types;
  types.reserve(types_.size());
  for (const auto& [job_type, type] : types_) {
    types.push_back(type);
    types.back().paused = paused_.contains(job_type);
  }
  return types;
}

Status MemoryJobTypeRegistry::set_paused(std::string_view job_type, bool paused) {
  std::lock_guard lock(mutex_);
  if (!failure_.ok()) return failure_;
  if (!types_.contains(job_type)) {
    return not_found("no pool hosts job type \"" + std::string(job_type) + "\"");
  }
  if (paused) {
    paused_.emplace(job_type);
  } else if (const auto it = paused_.find(job_type); it != paused_.end()) {
    paused_.erase(it);
  }
  return {};
}

void MemoryJobTypeRegistry::host(JobTypeInfo type) {
  std::lock_guard lock(mutex_);
  std::string job_type = type.job_type;
  types_.insert_or_assign(std::move(job_type), std::move(type));
}

void MemoryJobTypeRegistry::stop(std::string_view job_type) {
  std::lock_guard lock(mutex_);
  if (const auto it = types_.find(job_type); it != types_.end()) types_.erase(it);
}

void MemoryJobTypeRegistry::fail_with(Status failure) {
  std::lock_guard lock(mutex_);
  failure_ = std::move(failure);
}

}  // namespace dtq::fakes
