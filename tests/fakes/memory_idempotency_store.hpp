// MemoryIdempotencyStore: the IdempotencyStore port in memory, for tests
// that need idempotency keys but not a database or Redis. Expiry follows
// the steady clock; expired keys are dropped as claims come in. It passes
// the IdempotencyStore conformance suite; nothing outlives it. It can be
// told to fail its next claims (fail_with), so that tests see what a
// caller does when the store does not answer.
//
// Thread-safety: every member function is thread-safe. Ownership: owns
// copies of the records.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "dtq/core/ports/idempotency_store.hpp"
#include "dtq/core/thread_annotations.hpp"

namespace dtq::fakes {

class MemoryIdempotencyStore final : public IdempotencyStore {
 public:
  StatusOr<IdempotencyClaim> claim(std::string_view key, const IdempotencyRecord& record,
                                   std::chrono::milliseconds ttl) override;
  Status release(std::string_view key, std::string_view job_id) override;

  // Every claim and release answers `failure` until called with an ok Status.
  void fail_with(Status failure);
  // Keys held now, expired ones not counted.
  size_t size();

 private:
  struct Held {
    IdempotencyRecord record;
    std::chrono::steady_clock::time_point expires;
  };

  Mutex mutex_;
  std::map<std::string, Held, std::less<>> keys_ DTQ_GUARDED_BY(mutex_);
  Status failure_ DTQ_GUARDED_BY(mutex_);
};

}  // namespace dtq::fakes
