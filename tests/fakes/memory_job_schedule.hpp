// MemoryJobSchedule: the JobSchedule port in memory, for tests that need a
// schedule but not a database or Redis. Claims lease as the port says; it
// passes the JobSchedule conformance suite; nothing outlives it.
//
// Thread-safety: every member function is thread-safe. Ownership: owns
// copies of the messages.
#pragma once

#include <map>
#include <string>

#include "dtq/core/ports/job_schedule.hpp"
#include "dtq/core/thread_annotations.hpp"

namespace dtq::fakes {

class MemoryJobSchedule final : public JobSchedule {
 public:
  Status schedule(const JobMessage& message, Clock::time_point run_at) override;
  StatusOr<std::vector<ScheduledJob>> claim_due(Clock::time_point now,
                                                std::chrono::milliseconds lease,
                                                size_t limit) override;
  Status complete(std::string_view job_id) override;
  StatusOr<bool> cancel(std::string_view job_id) override;
  StatusOr<ScheduledJob> get(std::string_view job_id) override;
  StatusOr<SchedulePage> list(std::string_view job_type, std::string_view cursor,
                              size_t limit) override;

 private:
  struct Entry {
    ScheduledJob job;
    Clock::time_point due;  // run_at, or the end of a lease
  };

  Mutex mutex_;
  std::map<std::string, Entry, std::less<>> jobs_ DTQ_GUARDED_BY(mutex_);
};

}  // namespace dtq::fakes
