#include "fakes/memory_job_history.hpp"

namespace dtq::fakes {

Status MemoryJobHistory::append(std::span<const JobEvent> events) {
  MutexLock lock(mutex_);
  events_.insert(events_.end(), events.begin(), events.end());
  ++appends_;
  return {};
}

StatusOr<std::vector<JobEvent>> MemoryJobHistory::list(std::string_view job_id, size_t limit) {
  std::vector<JobEvent> found;
  {
    MutexLock lock(mutex_);
    for (const auto& event : events_) {
      if (event.job_id == job_id && found.size() < limit) found.push_back(event);
    }
  }
  sort_job_events(found);
  return found;
}

size_t MemoryJobHistory::appends() const {
  MutexLock lock(mutex_);
  return appends_;
}

}  // namespace dtq::fakes
