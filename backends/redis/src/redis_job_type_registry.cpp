#include "dtq/redis/redis_job_type_registry.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <nlohmann/json.hpp>
#include <tuple>

#include "connection.hpp"
#include "dtq/core/ids.hpp"
#include "dtq/core/time.hpp"

namespace dtq::redis {
namespace {

using nlohmann::json;

// KEYS[1] the pool's key, KEYS[2] the index set; ARGV[1] the pool's JSON,
// ARGV[2] its TTL in milliseconds.
constexpr const char* kBeatScript = R"lua(
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SADD', KEYS[2], KEYS[1])
return 1
)lua";

// KEYS[1] the pool's key, KEYS[2] the index set.
constexpr const char* kLeaveScript = R"lua(
redis.call('SREM', KEYS[2], KEYS[1])
return redis.call('DEL', KEYS[1])
)lua";

// KEYS[1] the index set. Returns the JSON of every live pool; the keys of
// expired pools leave the index. The pool keys are read from the index, not
// passed in KEYS: fine on one server, not on Redis Cluster (where the index
// and the pools would need one hash tag).
constexpr const char* kListScript = R"lua(
local keys = redis.call('SMEMBERS', KEYS[1])
local live = {}
local batch = 500
for first = 1, #keys, batch do
  local last = math.min(first + batch - 1, #keys)
  local values = redis.call('MGET', unpack(keys, first, last))
  for i = first, last do
    local value = values[i - first + 1]
    if value then
      live[#live + 1] = value
    else
      redis.call('SREM', KEYS[1], keys[i])
    end
  end
end
return live
)lua";

constexpr Script kBeat{"registry heartbeat", kBeatScript};
constexpr Script kLeave{"registry deregister", kLeaveScript};
constexpr Script kList{"registry list", kListScript};

std::string host_name() {
  std::array<char, 256> name{};
  if (::gethostname(name.data(), name.size() - 1) != 0) return "unknown";
  return name.data();
}

// "1.10.0-rc1" → {1, 10, 0, 1}: the runs of digits, in order.
std::vector<uint64_t> version_numbers(std::string_view version) {
  std::vector<uint64_t> numbers;
  for (size_t i = 0; i < version.size();) {
    if (std::isdigit(static_cast<unsigned char>(version[i])) == 0) {
      ++i;
      continue;
    }
    uint64_t value = 0;
    for (; i < version.size() && std::isdigit(static_cast<unsigned char>(version[i])) != 0; ++i) {
      value = std::min<uint64_t>(value * 10 + static_cast<uint64_t>(version[i] - '0'), UINT32_MAX);
    }
    numbers.push_back(value);
  }
  return numbers;
}

// One live pool as read back from Redis.
struct LivePool {
  JobTypeInfo info;  // pools and worker_addresses unused
  std::string worker_address;
  std::string registered_at;
};

std::optional<LivePool> parse_pool(const std::string& text) {
  const json value = json::parse(text, nullptr, false);
  if (value.is_discarded() || !value.is_object()) return std::nullopt;
  const auto text_of = [&](const char* name) {
    const auto it = value.find(name);
    return it != value.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  const auto number_of = [&](const char* name) -> uint32_t {
    const auto it = value.find(name);
    return it != value.end() && it->is_number_unsigned()
               ? static_cast<uint32_t>(std::min<uint64_t>(it->get<uint64_t>(), UINT32_MAX))
               : 0U;
  };
  LivePool pool;
  pool.info.job_type = text_of("job_type");
  if (pool.info.job_type.empty()) return std::nullopt;
  pool.info.name = text_of("name");
  pool.info.version = text_of("version");
  pool.info.description = text_of("description");
  pool.info.payload_schema_json = text_of("payload_schema");
  pool.info.abi_version = text_of("abi_version");
  pool.info.concurrency = number_of("concurrency");
  pool.info.in_flight = number_of("in_flight");
  pool.info.isolation = text_of("isolation");
  pool.info.runner_crashes = number_of("runner_crashes");
  pool.info.crash_looping = value.value("crash_looping", false);
  pool.info.last_crash = text_of("last_crash");
  pool.worker_address = text_of("worker_address");
  pool.registered_at = text_of("registered_at");
  return pool;
}

// True when `a` is a newer registration than `b`: a higher version, or the
// same version registered later.
bool newer(const LivePool& a, const LivePool& b) {
  const auto key = [](const LivePool& pool) {
    return std::tuple(version_numbers(pool.info.version), pool.info.version, pool.registered_at);
  };
  return key(a) > key(b);
}

}  // namespace

Status JobTypeRegistrySettings::validate() const {
  if (key_prefix.empty()) return invalid_argument("job type registry: key_prefix is empty");
  if (heartbeat_interval.count() <= 0) {
    return invalid_argument("job type registry: heartbeat_interval must be positive");
  }
  if (ttl <= heartbeat_interval) {
    return invalid_argument("job type registry: ttl (" + std::to_string(ttl.count()) +
                            " ms) must exceed heartbeat_interval (" +
                            std::to_string(heartbeat_interval.count()) + " ms)");
  }
  return {};
}

StatusOr<std::unique_ptr<RedisJobTypeRegistry>> RedisJobTypeRegistry::connect(
    RedisSettings redis, JobTypeRegistrySettings settings) {
  if (Status valid = redis.validate(); !valid.ok()) return valid;
  if (Status valid = settings.validate(); !valid.ok()) return valid;
  std::unique_ptr<RedisJobTypeRegistry> registry(
      new RedisJobTypeRegistry(std::move(redis), std::move(settings)));
  if (Status answered = registry->ping(); !answered.ok()) return answered;
  return registry;
}

RedisJobTypeRegistry::RedisJobTypeRegistry(RedisSettings redis, JobTypeRegistrySettings settings)
    : settings_(std::move(settings)),
      pool_(std::make_shared<ConnectionPool>(std::move(redis))),
      host_(host_name()),
      pid_(static_cast<int64_t>(::getpid())) {}

RedisJobTypeRegistry::~RedisJobTypeRegistry() {
  {
    MutexLock lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (heartbeat_.joinable()) heartbeat_.join();
  (void)deregister_all();
}

std::string RedisJobTypeRegistry::pool_key(std::string_view job_type,
                                           std::string_view pool_id) const {
  return settings_.key_prefix + "pool:" + std::string(job_type) + ":" + std::string(pool_id);
}

std::string RedisJobTypeRegistry::index_key() const {
  return settings_.key_prefix + "pools";
}

std::string RedisJobTypeRegistry::paused_key() const {
  return settings_.key_prefix + "paused";
}

StatusOr<std::set<std::string, std::less<>>> RedisJobTypeRegistry::paused_types() {
  auto reply = pool_->run({"SMEMBERS", paused_key()});
  if (!reply.ok()) return reply.status();
  if (reply->is_error() || reply->type != Reply::Type::kArray) {
    return internal_error("redis at " + pool_->settings().describe() +
                          " refused to read the paused job types: " + reply->text);
  }
  std::set<std::string, std::less<>> types;
  for (const auto& element : reply->elements) types.insert(element.text);
  return types;
}

Status RedisJobTypeRegistry::set_paused(std::string_view job_type, bool paused) {
  // Only a hosted type: a typo must not pause a type that appears later.
  auto listed = list();
  if (!listed.ok()) return listed.status();
  if (std::none_of(listed->begin(), listed->end(),
                   [&](const JobTypeInfo& type) { return type.job_type == job_type; })) {
    return not_found("no pool hosts job type \"" + std::string(job_type) + "\"");
  }
  auto reply = pool_->run({paused ? "SADD" : "SREM", paused_key(), job_type});
  if (!reply.ok()) return reply.status();
  if (reply->is_error()) {
    return internal_error("redis at " + pool_->settings().describe() + " refused to " +
                          (paused ? "pause" : "resume") + " job type " + std::string(job_type) +
                          ": " + reply->text);
  }
  return {};
}

Status RedisJobTypeRegistry::ping() {
  auto reply = pool_->run({"PING"});
  if (!reply.ok()) return reply.status();
  if (reply->text != "PONG") {
    return internal_error("redis at " + pool_->settings().describe() +
                          " answered PING with: " + reply->text);
  }
  return {};
}

bool RedisJobTypeRegistry::healthy() const {
  return healthy_.load();
}

void RedisJobTypeRegistry::note(const Status& status) {
  const bool ok = status.ok() || (status.code() != StatusCode::kUnavailable &&
                                  status.code() != StatusCode::kDeadlineExceeded);
  healthy_.store(ok);
}

Status RedisJobTypeRegistry::write(const std::string& pool_id, const Registered& registered) {
  const PoolRegistration& pool = registered.pool;
  const PoolFigures figures = registered.figures ? registered.figures() : PoolFigures{};
  const json value = {
      {"job_type", pool.job_type},
      {"name", pool.name},
      {"version", pool.version},
      {"description", pool.description},
      {"payload_schema", pool.payload_schema_json},
      {"abi_version", pool.abi_version},
      {"concurrency", pool.concurrency},
      {"in_flight", figures.in_flight},
      {"isolation", pool.isolation},
      {"runner_crashes", figures.runner_crashes},
      {"crash_looping", figures.crash_looping},
      {"last_crash", figures.last_crash},
      {"worker_address", pool.worker_addresses.empty() ? "" : pool.worker_addresses.front()},
      {"host", host_},
      {"pid", pid_},
      {"pool_id", pool_id},
      {"registered_at", registered.registered_at},
      {"heartbeat_at", now_rfc3339()}};
  const std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  const std::string ttl = std::to_string(settings_.ttl.count());
  const std::string_view args[] = {text, ttl};
  auto reply = pool_->eval(kBeat, {pool_key(pool.job_type, pool_id), index_key()}, args);
  if (!reply.ok()) return reply.status();
  if (reply->is_error()) {
    return internal_error("redis at " + pool_->settings().describe() +
                          " refused the registration of pool " + pool.job_type + "/" + pool_id +
                          ": " + reply->text);
  }
  return {};
}

StatusOr<std::string> RedisJobTypeRegistry::register_pool(
    PoolRegistration pool, std::function<PoolFigures()> figures,
    std::function<void(bool paused)> on_paused) {
  if (pool.job_type.empty()) return invalid_argument("a pool registration needs a job type");
  if (pool.worker_addresses.size() > 1) {
    return invalid_argument("pool " + pool.job_type + " registers " +
                            std::to_string(pool.worker_addresses.size()) +
                            " worker addresses; a pool has at most one");
  }
  const std::string pool_id = new_uuid4();
  Registered registered{std::move(pool), std::move(figures), now_rfc3339(), std::move(on_paused)};
  {
    MutexLock writing(write_mutex_);
    Status written = write(pool_id, registered);
    note(written);
    if (!written.ok()) return written;
    if (registered.on_paused) {
      // A type paused before this pool came (or before a restart) stays so.
      auto paused = paused_types();
      if (!paused.ok()) return paused.status();
      if (paused->contains(registered.pool.job_type)) registered.on_paused(true);
    }
    MutexLock lock(mutex_);
    registered_.emplace(pool_id, std::move(registered));
    if (!heartbeat_.joinable() && !stopping_) {
      heartbeat_ = std::thread([this] { heartbeat_loop(); });
    }
  }
  return pool_id;
}

Status RedisJobTypeRegistry::deregister(std::string_view pool_id) {
  MutexLock writing(write_mutex_);
  std::string job_type;
  {
    MutexLock lock(mutex_);
    const auto it = registered_.find(std::string(pool_id));
    if (it == registered_.end()) {
      return not_found("no pool " + std::string(pool_id) + " is registered here");
    }
    job_type = it->second.pool.job_type;
    registered_.erase(it);
  }
  auto reply = pool_->eval(kLeave, {pool_key(job_type, pool_id), index_key()}, {});
  if (!reply.ok()) return reply.status();
  if (reply->is_error()) {
    return internal_error("redis at " + pool_->settings().describe() +
                          " refused to deregister pool " + job_type + "/" + std::string(pool_id) +
                          ": " + reply->text);
  }
  return {};
}

Status RedisJobTypeRegistry::deregister_all() {
  std::vector<std::string> ids;
  {
    MutexLock lock(mutex_);
    for (const auto& [id, registered] : registered_) ids.push_back(id);
  }
  Status first;
  for (const auto& id : ids) {
    Status gone = deregister(id);
    if (!gone.ok() && gone.code() != StatusCode::kNotFound && first.ok()) first = gone;
  }
  return first;
}

Status RedisJobTypeRegistry::heartbeat() {
  MutexLock writing(write_mutex_);
  std::vector<std::pair<std::string, Registered>> pools;
  {
    MutexLock lock(mutex_);
    pools.assign(registered_.begin(), registered_.end());
  }
  Status first;
  for (const auto& [id, registered] : pools) {
    Status written = write(id, registered);
    if (!written.ok() && first.ok()) first = written;
  }
  // The pools follow the paused set; while Redis is unreachable they stay
  // as they are.
  if (std::any_of(pools.begin(), pools.end(),
                  [](const auto& entry) { return static_cast<bool>(entry.second.on_paused); })) {
    auto paused = paused_types();
    if (paused.ok()) {
      for (const auto& entry : pools) {
        if (entry.second.on_paused)
          entry.second.on_paused(paused->contains(entry.second.pool.job_type));
      }
    } else if (first.ok()) {
      first = paused.status();
    }
  }
  note(first);
  return first;
}

void RedisJobTypeRegistry::heartbeat_loop() {
  MutexLock lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, settings_.heartbeat_interval,
                   [this]() DTQ_REQUIRES(mutex_) { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    if (Status beat = heartbeat(); !beat.ok()) {
      // The connection pool logs the outage once; a refusal is worth a line each.
      if (beat.code() != StatusCode::kUnavailable && beat.code() != StatusCode::kDeadlineExceeded) {
        spdlog::error("job type registry heartbeat: {}", beat.message());
      }
    }
    lock.lock();
  }
}

StatusOr<std::vector<JobTypeInfo>> RedisJobTypeRegistry::list() {
  auto reply = pool_->eval(kList, {index_key()}, {});
  {
    MutexLock lock(mutex_);
    if (registered_.empty()) note(reply.ok() ? Status() : reply.status());
  }
  if (!reply.ok()) return reply.status();
  if (reply->is_error() || reply->type != Reply::Type::kArray) {
    return internal_error("redis at " + pool_->settings().describe() +
                          " refused to list the job type registry: " + reply->text);
  }
  auto paused = paused_types();
  if (!paused.ok()) return paused.status();
  // Per job type: its live pools.
  std::map<std::string, std::vector<LivePool>> by_type;
  for (const auto& element : reply->elements) {
    auto pool = parse_pool(element.text);
    if (!pool) {
      spdlog::warn("job type registry: ignoring an unreadable pool entry in redis at {}",
                   pool_->settings().describe());
      continue;
    }
    by_type[pool->info.job_type].push_back(std::move(*pool));
  }
  std::vector<JobTypeInfo> types;  // std::map: already sorted by job type
  for (auto& [job_type, pools] : by_type) {
    std::sort(pools.begin(), pools.end(),
              [](const LivePool& a, const LivePool& b) { return newer(a, b); });
    JobTypeInfo info = pools.front().info;
    info.pools = static_cast<uint32_t>(pools.size());
    info.in_flight = 0;
    info.runner_crashes = 0;
    info.crash_looping = false;
    info.last_crash.clear();
    info.paused = paused->contains(job_type);
    for (const auto& pool : pools) {
      info.in_flight += pool.info.in_flight;
      info.runner_crashes += pool.info.runner_crashes;
      if (pool.info.crash_looping && !info.crash_looping) {
        info.crash_looping = true;
        info.last_crash = pool.info.last_crash;
      }
      if (!pool.worker_address.empty() &&
          std::find(info.worker_addresses.begin(), info.worker_addresses.end(),
                    pool.worker_address) == info.worker_addresses.end()) {
        info.worker_addresses.push_back(pool.worker_address);
      }
    }
    types.push_back(std::move(info));
  }
  return types;
}

}  // namespace dtq::redis
