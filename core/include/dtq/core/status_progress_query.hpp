// StatusProgressQuery: the embedded ProgressQuery, answered straight from a
// status store in this process (there is nobody to ask over the network).
//
// Thread-safety: thread-safe. Ownership: borrows the store, which must
// outlive it.
#pragma once

#include "dtq/core/ports/progress_query.hpp"
#include "dtq/core/ports/status_store.hpp"

namespace dtq {

class StatusProgressQuery final : public ProgressQuery {
 public:
  explicit StatusProgressQuery(StatusStore& statuses) : statuses_(statuses) {}
  StatusOr<JobStatus> progress(std::string_view job_id) override { return statuses_.get(job_id); }

 private:
  StatusStore& statuses_;
};

}  // namespace dtq
