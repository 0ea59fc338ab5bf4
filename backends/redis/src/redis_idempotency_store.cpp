#include "dtq/redis/redis_idempotency_store.hpp"

#include "connection.hpp"

namespace dtq::redis {
namespace {

constexpr size_t kMaxKeyBytes = 1024;

// KEYS[1] the key; ARGV[1] the value to claim it with, ARGV[2] its TTL in
// milliseconds. Returns the value held, or nil when the key was free and
// now holds ARGV[1]. Redis drops an expired key before GET sees it.
constexpr const char* kClaimScript = R"lua(
local held = redis.call('GET', KEYS[1])
if held then return held end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
)lua";

// KEYS[1] the key; ARGV[1] "<job_id> ". Deletes the key only while its
// value names that job; returns how many keys it deleted.
constexpr const char* kReleaseScript = R"lua(
local held = redis.call('GET', KEYS[1])
if held and string.sub(held, 1, string.len(ARGV[1])) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
)lua";

constexpr Script kClaim{"idempotency claim", kClaimScript};
constexpr Script kRelease{"idempotency release", kReleaseScript};

// "<job_id> <fingerprint>": a job id holds no space.
std::string encode(const IdempotencyRecord& record) {
  return record.job_id + " " + record.fingerprint;
}

StatusOr<IdempotencyRecord> decode(std::string_view key, std::string_view value) {
  const size_t space = value.find(' ');
  if (space == std::string_view::npos) {
    return internal_error("redis idempotency key " + std::string(key) + " holds " +
                          std::string(value) + R"(, not "<job_id> <fingerprint>")");
  }
  return IdempotencyRecord{.fingerprint = std::string(value.substr(space + 1)),
                           .job_id = std::string(value.substr(0, space))};
}

Status check_key(std::string_view key) {
  if (key.empty() || key.size() > kMaxKeyBytes) {
    return invalid_argument("an idempotency key has 1 to 1024 bytes here");
  }
  return {};
}

}  // namespace

StatusOr<std::unique_ptr<RedisIdempotencyStore>> RedisIdempotencyStore::connect(
    RedisSettings redis, std::string key_prefix) {
  if (Status valid = redis.validate(); !valid.ok()) return valid;
  std::unique_ptr<RedisIdempotencyStore> store(
      new RedisIdempotencyStore(std::move(redis), std::move(key_prefix)));
  auto answered = store->pool_->run({"PING"});
  if (!answered.ok()) return answered.status();
  return store;
}

RedisIdempotencyStore::RedisIdempotencyStore(RedisSettings redis, std::string key_prefix)
    : pool_(std::make_shared<ConnectionPool>(std::move(redis))),
      prefix_(std::move(key_prefix) + "idempotency:") {}

RedisIdempotencyStore::~RedisIdempotencyStore() = default;

StatusOr<IdempotencyClaim> RedisIdempotencyStore::claim(std::string_view key,
                                                        const IdempotencyRecord& record,
                                                        std::chrono::milliseconds ttl) {
  if (Status valid = check_key(key); !valid.ok()) return valid;
  const std::string redis_key = prefix_ + std::string(key);
  const std::string value = encode(record);
  const std::string ttl_ms = std::to_string(std::max<int64_t>(ttl.count(), 1));
  const std::string_view args[] = {value, ttl_ms};
  auto reply = pool_->eval(kClaim, {redis_key}, args);
  if (!reply.ok()) return reply.status();
  if (reply->is_error()) {
    return unavailable("redis at " + pool_->settings().describe() +
                       " refused the claim of an idempotency key: " + reply->text);
  }
  if (reply->is_nil()) return IdempotencyClaim{.claimed = true, .holder = record};
  auto held = decode(redis_key, reply->text);
  if (!held.ok()) return held.status();
  // The same record: our own claim, retried by the pool after a lost reply.
  const bool ours = *held == record;
  return IdempotencyClaim{.claimed = ours, .holder = std::move(held).value()};
}

Status RedisIdempotencyStore::release(std::string_view key, std::string_view job_id) {
  if (Status valid = check_key(key); !valid.ok()) return valid;
  const std::string redis_key = prefix_ + std::string(key);
  const std::string job = std::string(job_id) + " ";
  const std::string_view args[] = {job};
  auto reply = pool_->eval(kRelease, {redis_key}, args);
  if (!reply.ok()) return reply.status();
  if (reply->is_error()) {
    return unavailable("redis at " + pool_->settings().describe() +
                       " refused the release of an idempotency key: " + reply->text);
  }
  return {};
}

}  // namespace dtq::redis
