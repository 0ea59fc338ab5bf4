// RedisJobTypeRegistry: the distributed JobTypeRegistry (core/include/dtq/
// core/ports/job_type_registry.hpp) on Redis. Worker processes register
// each pool they run, with a heartbeat; the API lists the job types from it,
// and a pool that stops beating drops out of the list by itself.
//
// What it stores (docs/distributed.md has the details):
//  - <key_prefix>pool:<job_type>:<pool_id>  string, one per live pool: JSON
//    {"job_type","name","version","description","payload_schema",
//    "abi_version","concurrency","in_flight","isolation","runner_crashes",
//    "crash_looping","last_crash","worker_address","host","pid",
//    "pool_id","registered_at","heartbeat_at"}, with a TTL of settings.ttl,
//    renewed by every heartbeat. `pool_id` is a fresh UUID per
//    registration, so a restarted process is a new pool (its predecessor's
//    key expires).
//  - <key_prefix>pools  set of those keys: the index list() reads, so it
//    never scans the keyspace. A key whose pool has expired is removed from
//    the set by the next list().
//  - <key_prefix>paused  set of the paused job types, without a TTL: written
//    by set_paused (dtq api), read by every list() and by each worker's
//    heartbeat, which pauses or resumes its own pools to match (callback
//    given to register_pool). It survives restarts of the API and of the
//    workers; a worker registering a pool of a paused type pauses it at once.
// Both writes (SET … PX, SADD) and the read (SMEMBERS, MGET, SREM of the
// expired) are one Lua script each, atomic on the server.
//
// list() aggregates per job type over the live pools: `pools` is how many,
// `in_flight` and `runner_crashes` their sums, `crash_looping` whether any
// pool's runners keep crashing (with that pool's `last_crash`), and the
// metadata (name, version, description,
// schema, ABI version, concurrency) is that of the newest plugin version
// among them (versions compare by their numeric dot-separated parts, then
// as text; among pools of the same version, the latest registered wins).
// `worker_addresses` holds every live pool's address, those of the newest
// version first. Sorted by job type.
//
// Heartbeat: register_pool() writes the pool at once (its failure is the
// caller's start-up failure) and starts, on first use, one thread that
// rewrites every registered pool each settings.heartbeat_interval, with its
// live figures from the callback. While Redis is unreachable the
// heartbeats fail (healthy() turns false, the connection pool logs one
// warning per outage and reconnects with backoff); the next heartbeat after
// it is back writes the pools again, re-creating keys that expired
// meanwhile. deregister() and the destructor delete the keys at once, so a
// clean shutdown leaves the list immediately.
//
// Thread-safety: every member function is thread-safe. Ownership: owns its
// connections and the heartbeat thread; the figures callbacks must stay
// callable until their pool is deregistered (or the registry destroyed).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "dtq/core/ports/job_type_registry.hpp"
#include "dtq/core/thread_annotations.hpp"
#include "dtq/redis/redis_settings.hpp"

namespace dtq::redis {

class ConnectionPool;

struct JobTypeRegistrySettings {
  // Every key of the registry starts with this (several deployments may share
  // one Redis under different prefixes).
  std::string key_prefix = "dtq:registry:";
  // How often each registered pool is written again.
  std::chrono::milliseconds heartbeat_interval{2000};
  // How long a pool stays listed after its last heartbeat: a few intervals,
  // so that one slow or lost heartbeat does not drop a live pool.
  std::chrono::milliseconds ttl{6000};

  // InvalidArgument naming the first field out of range (ttl must exceed
  // heartbeat_interval).
  Status validate() const;
};

// One pool as a worker registers it: JobTypeInfo's metadata, its
// concurrency, and its WorkerService address (worker_addresses: at most one,
// or none). `pools`, `in_flight` and the crash figures are ignored (they come from the
// callback given to register_pool).
using PoolRegistration = JobTypeInfo;

// What a pool reports at each heartbeat.
struct PoolFigures {
  uint32_t in_flight = 0;
  uint64_t runner_crashes = 0;
  bool crash_looping = false;
  std::string last_crash;
};

class RedisJobTypeRegistry final : public JobTypeRegistry {
 public:
  // Checks the settings and that the server answers (PING): InvalidArgument
  // or Unavailable otherwise. Once connected, outages are recovered from.
  static StatusOr<std::unique_ptr<RedisJobTypeRegistry>> connect(
      RedisSettings redis, JobTypeRegistrySettings settings = {});
  // Stops the heartbeat and deregisters every pool of this registry.
  ~RedisJobTypeRegistry() override;
  RedisJobTypeRegistry(const RedisJobTypeRegistry&) = delete;
  RedisJobTypeRegistry& operator=(const RedisJobTypeRegistry&) = delete;

  StatusOr<std::vector<JobTypeInfo>> list() override;
  // Adds `job_type` to (or removes it from) the paused set. NotFound when no
  // live pool hosts it; Unavailable when Redis cannot be reached.
  Status set_paused(std::string_view job_type, bool paused) override;

  // Registers a pool of this process and writes it now; returns its pool id.
  // `figures` (may be empty: all zero) is asked at every heartbeat.
  // `on_paused` (may be empty) is told at registration when the type is
  // paused, and at every heartbeat whether it is: the pool follows it.
  // InvalidArgument for a pool without a job type or with more than one
  // address; Unavailable (or DeadlineExceeded) when Redis could not be
  // written.
  StatusOr<std::string> register_pool(PoolRegistration pool,
                                      std::function<PoolFigures()> figures = {},
                                      std::function<void(bool paused)> on_paused = {});
  // Removes the pool from the registry at once. NotFound for a pool id this
  // registry did not register; an error from Redis otherwise (the pool is
  // still forgotten locally, and its key expires after the TTL).
  Status deregister(std::string_view pool_id);
  // deregister() for every pool registered here; the first error, if any.
  Status deregister_all();

  // Writes every registered pool now (what the heartbeat thread does).
  Status heartbeat();
  // True unless the last heartbeat (or the last list() when nothing is
  // registered) failed to reach Redis.
  bool healthy() const;
  // One round trip, for readiness checks.
  Status ping();

  const JobTypeRegistrySettings& settings() const { return settings_; }
  // The key of one pool, and of the index set.
  std::string pool_key(std::string_view job_type, std::string_view pool_id) const;
  std::string index_key() const;
  std::string paused_key() const;

 private:
  RedisJobTypeRegistry(RedisSettings redis, JobTypeRegistrySettings settings);

  struct Registered {
    PoolRegistration pool;
    std::function<PoolFigures()> figures;
    std::string registered_at;  // RFC 3339
    std::function<void(bool)> on_paused;
  };
  // The paused job types (SMEMBERS of paused_key()).
  StatusOr<std::set<std::string, std::less<>>> paused_types();
  Status write(const std::string& pool_id, const Registered& registered);
  void heartbeat_loop();
  void note(const Status& status);

  const JobTypeRegistrySettings settings_;
  std::shared_ptr<ConnectionPool> pool_;
  const std::string host_;
  const int64_t pid_;

  mutable Mutex mutex_;
  CondVar wake_;
  std::map<std::string, Registered> registered_ DTQ_GUARDED_BY(mutex_);  // by pool id
  bool stopping_ DTQ_GUARDED_BY(mutex_) = false;
  std::thread heartbeat_;
  Mutex write_mutex_;  // one heartbeat at a time: writes stay in order
  std::atomic<bool> healthy_{true};
};

}  // namespace dtq::redis
