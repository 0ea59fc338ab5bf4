// RedisApiKeyStore: the API keys every `dtq api` replica reads, in Redis
// (core/include/dtq/core/api_keys.hpp): one hash, <key_prefix>api_keys,
// field = key id, value = the record's JSON (hashes only, never a key).
// Keys are never given a TTL: they live as long as Redis keeps its data,
// so the server must persist it (AOF or RDB; docs/security.md). A revoked
// key stays listed, marked revoked; every replica refuses it at its next
// request, since each lookup reads Redis.
//
// Thread-safety: every member function is thread-safe. Ownership: owns its
// connections.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dtq/core/api_keys.hpp"
#include "dtq/redis/redis_settings.hpp"

namespace dtq::redis {

class ConnectionPool;

class RedisApiKeyStore final : public ApiKeyStore {
 public:
  // Unavailable when Redis does not answer.
  static StatusOr<std::unique_ptr<RedisApiKeyStore>> connect(RedisSettings redis,
                                                             std::string key_prefix = "dtq:");
  ~RedisApiKeyStore() override;

  Status add(const ApiKeyRecord& record) override;
  StatusOr<std::vector<ApiKeyRecord>> list() override;
  StatusOr<ApiKeyRecord> find(std::string_view id) override;
  Status revoke(std::string_view id) override;

 private:
  RedisApiKeyStore(RedisSettings redis, std::string key_prefix);

  std::shared_ptr<ConnectionPool> pool_;
  const std::string hash_;  // <key_prefix>api_keys
};

}  // namespace dtq::redis
