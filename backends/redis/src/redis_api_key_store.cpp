#include "dtq/redis/redis_api_key_store.hpp"

#include <algorithm>
#include <tuple>

#include "connection.hpp"

namespace dtq::redis {
namespace {

Status refused(const ConnectionPool& pool, const Reply& reply) {
  return unavailable("redis at " + pool.settings().describe() + " refused: " + reply.text);
}

}  // namespace

StatusOr<std::unique_ptr<RedisApiKeyStore>> RedisApiKeyStore::connect(RedisSettings redis,
                                                                      std::string key_prefix) {
  if (Status valid = redis.validate(); !valid.ok()) return valid;
  std::unique_ptr<RedisApiKeyStore> store(
      new RedisApiKeyStore(std::move(redis), std::move(key_prefix)));
  auto answered = store->pool_->run({"PING"});
  if (!answered.ok()) return answered.status();
  return store;
}

RedisApiKeyStore::RedisApiKeyStore(RedisSettings redis, std::string key_prefix)
    : pool_(std::make_shared<ConnectionPool>(std::move(redis))),
      hash_(std::move(key_prefix) + "api_keys") {}

RedisApiKeyStore::~RedisApiKeyStore() = default;

Status RedisApiKeyStore::add(const ApiKeyRecord& record) {
  const std::string json = to_json(record);
  auto reply = pool_->run({"HSETNX", hash_, record.id, json});
  if (!reply.ok()) return reply.status();
  if (reply->is_error()) return refused(*pool_, *reply);
  if (reply_integer(*reply).value_or(0) == 0) {
    return already_exists("key id " + record.id + " is taken");
  }
  return {};
}

StatusOr<std::vector<ApiKeyRecord>> RedisApiKeyStore::list() {
  auto reply = pool_->run({"HVALS", hash_});
  if (!reply.ok()) return reply.status();
  if (reply->is_error()) return refused(*pool_, *reply);
  std::vector<ApiKeyRecord> records;
  for (const auto& element : reply->elements) {
    auto record = parse_api_key_record(element.text);
    if (!record.ok()) return record.status();
    records.push_back(std::move(record).value());
  }
  std::sort(records.begin(), records.end(), [](const auto& a, const auto& b) {
    return std::tie(a.created_at, a.id) < std::tie(b.created_at, b.id);
  });
  return records;
}

StatusOr<ApiKeyRecord> RedisApiKeyStore::find(std::string_view id) {
  auto reply = pool_->run({"HGET", hash_, id});
  if (!reply.ok()) return reply.status();
  if (reply->is_error()) return refused(*pool_, *reply);
  if (reply->is_nil()) return not_found("no API key " + std::string(id));
  return parse_api_key_record(reply->text);
}

Status RedisApiKeyStore::revoke(std::string_view id) {
  auto record = find(id);
  if (!record.ok()) return record.status();
  record->revoked = true;
  // Read, then write: two revocations of one key race harmlessly, and
  // nothing else rewrites a record.
  auto reply = pool_->run({"HSET", hash_, id, to_json(*record)});
  if (!reply.ok()) return reply.status();
  if (reply->is_error()) return refused(*pool_, *reply);
  return {};
}

}  // namespace dtq::redis
