// MemoryJobHistory: the in-memory JobHistory (ports/job_history.hpp), for
// tests that need the port but not SQLite or MongoDB.
//
// Thread-safety: every member function is thread-safe.
#pragma once

#include <vector>

#include "dtq/core/ports/job_history.hpp"
#include "dtq/core/thread_annotations.hpp"

namespace dtq::fakes {

class MemoryJobHistory final : public JobHistory {
 public:
  Status append(std::span<const JobEvent> events) override;
  StatusOr<std::vector<JobEvent>> list(std::string_view job_id, size_t limit) override;
  // How many append() calls there were: a batching writer makes few.
  size_t appends() const;

 private:
  mutable Mutex mutex_;
  std::vector<JobEvent> events_ DTQ_GUARDED_BY(mutex_);
  size_t appends_ DTQ_GUARDED_BY(mutex_) = 0;
};

}  // namespace dtq::fakes
