// ProgressQuery port: "how far is job X?", asked by the API on behalf of a
// client. Embedded: answered from the status store in this process.
// Distributed: a request-reply over RabbitMQ (progress.check.request.v1) that
// any worker answers from the status store, so the API never needs to reach
// the store's network itself.
//
// Thread-safety: every member function is thread-safe.
#pragma once

#include <string_view>

#include "dtq/core/model.hpp"
#include "dtq/core/status.hpp"

namespace dtq {

class ProgressQuery {
 public:
  virtual ~ProgressQuery() = default;
  // NotFound for an unknown job; Unavailable (or DeadlineExceeded) when no
  // answer came in time.
  virtual StatusOr<JobStatus> progress(std::string_view job_id) = 0;
};

}  // namespace dtq
