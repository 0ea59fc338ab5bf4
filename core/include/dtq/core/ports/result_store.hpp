// ResultStore port: the durable outcome of each job, written exactly once per
// job id. Implementations: embedded (SQLite) and MongoDB (dtq.job_results,
// unique index on job_id).
//
// Thread-safety: every member function is thread-safe.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dtq/core/model.hpp"
#include "dtq/core/status.hpp"

namespace dtq {

class ResultStore {
 public:
  virtual ~ResultStore() = default;

  // Durable when it returns. True when this call stored the result; false
  // when a result for the job id already existed (it is left unchanged).
  virtual StatusOr<bool> put(const JobResult& result) = 0;
  virtual StatusOr<JobResult> get(std::string_view job_id) = 0;  // NotFound if none

  // put() for many results at once, durable together when it returns; the
  // i-th flag says whether results[i] was stored. Backends override it to
  // make one round trip (one commit, one insert_many) instead of many.
  virtual StatusOr<std::vector<bool>> put_batch(std::span<const JobResult> results) {
    std::vector<bool> stored;
    stored.reserve(results.size());
    for (const auto& result : results) {
      auto one = put(result);
      if (!one.ok()) return one.status();
      stored.push_back(*one);
    }
    return stored;
  }
};

}  // namespace dtq
