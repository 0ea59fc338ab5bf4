// IdempotencyStore port: the idempotency keys of submissions. A client that
// sends a submission with a key and sends it again (a timeout, a retry)
// must get the job the first one made, not a second job. The store keeps,
// per key, what was asked (a fingerprint) and the job it made, for a TTL
// (24 h, kIdempotencyTtl), and lets exactly one of any number of
// concurrent submissions with one key claim it. Implementations: embedded
// (SQLite, table idempotency_keys, expired rows trimmed as claims come in)
// for `dtq serve`, Redis (one key per idempotency key, SET-with-expiry in a
// Lua script) for `dtq api`, and the fake in tests/fakes/.
//
// The keys given here are opaque: the caller (JobService) has already
// scoped them (per API key) and checked their shape; an adapter may refuse
// one over 1024 bytes with InvalidArgument.
//
// Thread-safety: every member function is thread-safe, and atomic against
// every other store on the same data (other threads, processes, replicas).
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "dtq/core/status.hpp"

namespace dtq {

// How long a key holds its job once claimed (DESIGN §2's 24 h, like a
// job's live status).
inline constexpr std::chrono::milliseconds kIdempotencyTtl = std::chrono::hours(24);

// What a key holds.
struct IdempotencyRecord {
  std::string fingerprint;  // of the request (submit_fingerprint(): hex SHA-256)
  std::string job_id;       // the job the request made
  friend bool operator==(const IdempotencyRecord&, const IdempotencyRecord&) = default;
};

// claim()'s answer: whether this call holds the key now, and the record
// the key holds (the caller's when claimed, else the one that was there).
struct IdempotencyClaim {
  bool claimed = false;
  IdempotencyRecord holder;
};

class IdempotencyStore {
 public:
  virtual ~IdempotencyStore() = default;

  // Atomically: when `key` holds no record (or only an expired one), stores
  // `record` under it for `ttl` and answers claimed; otherwise changes
  // nothing (not the expiry either) and answers the record held. A key that
  // already holds this very record (same fingerprint and job id: the claim
  // retried after a lost reply) answers claimed. Of many concurrent claims
  // of one key, exactly one is answered claimed. Unavailable when the
  // backend does not answer: then the caller must not assume either way.
  virtual StatusOr<IdempotencyClaim> claim(std::string_view key, const IdempotencyRecord& record,
                                           std::chrono::milliseconds ttl) = 0;

  // Frees `key` when it still holds a record for `job_id` (the submission
  // that claimed it failed, so that its retry may succeed); otherwise
  // leaves it as it is and succeeds. Never frees another submission's claim.
  virtual Status release(std::string_view key, std::string_view job_id) = 0;
};

}  // namespace dtq
