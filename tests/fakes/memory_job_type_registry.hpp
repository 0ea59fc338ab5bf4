// MemoryJobTypeRegistry: the JobTypeRegistry port in memory, for tests that
// need the list of job types (GET /v1/job-types, the UI, dtq top) without
// an engine or Redis. A test says which types are hosted (host) and which
// no longer are (stop); list() answers them sorted by job type, as the
// port promises; it passes the JobTypeRegistry conformance suite.
// set_paused marks a hosted type paused (as a remote registry records it;
// nothing here takes jobs); the mark is kept while the type is hosted again.
//
// A test can also make it fail the way a remote registry does
// (fail_with).
//
// Thread-safety: every member function is thread-safe. Ownership: keeps
// copies of what it is given.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "dtq/core/ports/job_type_registry.hpp"

namespace dtq::fakes {

class MemoryJobTypeRegistry final : public JobTypeRegistry {
 public:
  StatusOr<std::vector<JobTypeInfo>> list() override;
  Status set_paused(std::string_view job_type, bool paused) override;

  // Lists `type` from now on, replacing what was listed for its job type.
  void host(JobTypeInfo type);
  // Lists `job_type` no more; nothing happens when it was not listed.
  void stop(std::string_view job_type);
  // Every list() answers `failure` while it is not OK (Status{} heals).
  void fail_with(Status failure);

 private:
  std::mutex mutex_;
  std::map<std::string, JobTypeInfo, std::less<>> types_;  // by job type: list()'s order
  std::set<std::string, std::less<>> paused_;
  Status failure_;
};

}  // namespace dtq::fakes
