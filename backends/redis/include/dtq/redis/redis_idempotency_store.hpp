// RedisIdempotencyStore: the idempotency keys of submissions for every
// `dtq api` replica, in Redis (core/include/dtq/core/ports/
// idempotency_store.hpp). One string per key:
//
//   <key_prefix>idempotency:<key>   "<job_id> <fingerprint>", PX = the TTL
//
// (<key> is JobService's scoped key, "<API key id>:<client's key>"). A
// claim is one Lua script, so replicas claiming one key at once are
// serialised by Redis: it answers the value held, or sets ours with its
// expiry when none is. Redis expires the keys itself, so nothing grows.
// A release deletes the key only while it still names the releasing job
// (another script). Like the job statuses, the keys live in memory: a
// Redis that loses its data forgets them, and a repeat then makes a new
// job.
//
// Thread-safety: every member function is thread-safe. Ownership: owns its
// connections.
#pragma once

#include <memory>
#include <string>

#include "dtq/core/ports/idempotency_store.hpp"
#include "dtq/redis/redis_settings.hpp"

namespace dtq::redis {

class ConnectionPool;

class RedisIdempotencyStore final : public IdempotencyStore {
 public:
  // Unavailable when Redis does not answer.
  static StatusOr<std::unique_ptr<RedisIdempotencyStore>> connect(RedisSettings redis,
                                                                  std::string key_prefix = "dtq:");
  ~RedisIdempotencyStore() override;

  StatusOr<IdempotencyClaim> claim(std::string_view key, const IdempotencyRecord& record,
                                   std::chrono::milliseconds ttl) override;
  Status release(std::string_view key, std::string_view job_id) override;

 private:
  RedisIdempotencyStore(RedisSettings redis, std::string key_prefix);

  std::shared_ptr<ConnectionPool> pool_;
  const std::string prefix_;  // <key_prefix>idempotency:
};

}  // namespace dtq::redis
