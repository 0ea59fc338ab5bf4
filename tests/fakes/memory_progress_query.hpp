// MemoryProgressQuery: the ProgressQuery port in memory, for tests of what
// asks "how far is job X" (the API) without a status store or RabbitMQ
// behind it. The test says what each job's progress is (record) or that
// nobody can answer (fail_with). It passes the ProgressQuery conformance
// suite.
//
// Thread-safety: every member function is thread-safe. Ownership: owns
// copies of the statuses.
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "dtq/core/ports/progress_query.hpp"

namespace dtq::fakes {

class MemoryProgressQuery final : public ProgressQuery {
 public:
  StatusOr<JobStatus> progress(std::string_view job_id) override;

  // What progress() answers for status.job_id from now on.
  void record(const JobStatus& status);
  // Every progress() answers `failure` while it is not OK (Status{} heals).
  void fail_with(Status failure);

 private:
  std::mutex mutex_;
  std::map<std::string, JobStatus, std::less<>> statuses_;
  Status failure_;
};

}  // namespace dtq::fakes
