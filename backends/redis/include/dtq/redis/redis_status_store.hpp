// RedisStatusStore: the distributed StatusStore (core/include/dtq/core/ports/
// status_store.hpp) on Redis, through hiredis.
//
// What it stores (DESIGN §2; docs/distributed.md has the details):
//  - job:<id>:status  hash with exactly the contract's fields: state,
//    progress_percent, updated_at, message, job_id, and when set trace_id,
//    error_code, error_message. TTL settings.status_ttl (24 h), renewed by
//    every update.
//  - job:<id>:meta    hash with dtq's own job_type and attempt (not part of
//    the contract, so kept out of it); same TTL.
//  - job:<id>:cancel  string (the request's RFC 3339 time) once a cancel was
//    requested; same TTL. Every worker sees it.
//  - dtq:jobs:by_submitted  sorted set, the index list() walks: member the
//    job id, score the time its status was created (the job's submission,
//    "queued") in microseconds of the Redis clock, raised when needed above
//    every earlier score, so scores are unique and follow submission order.
//    Written by the same script as the status, so the two never disagree.
// update() merges with merge_status()'s rules inside one Lua script
// (EVALSHA), atomically against concurrent writers on any machine, and the
// same script publishes the merged status as JSON on the channel
// job:<id>:status when something visible changed. subscribe() listens on
// that channel (one job) or on the pattern job:*:status (every job).
//
// Failures: every call returns a Status (Unavailable while Redis cannot be
// reached, DeadlineExceeded past settings.command_timeout); nothing throws.
// A lost connection is re-opened on next use, with backoff between failed
// attempts; live events re-subscribe by themselves.
//
// list(): newest submitted first, walking the index from the cursor (the
// score of the last entry the previous page covered; scores are unique, so
// jobs submitted meanwhile never shift a page) and reading the candidates'
// hashes in one script per chunk, which also drops entries whose status has
// expired. Filters are applied to what was read, so one call reads at most
// 4096 index entries: a rare state or job type may give a short (even empty)
// page with a next_cursor to go on from. The cost: per new job, a ZADD, a
// ZREVRANGE and a ZREMRANGEBYSCORE inside the merge script (O(log N) each,
// plus the entries trimmed); roughly 100-150 bytes of Redis memory per job
// indexed; per page, two round trips per chunk of up to 512 entries. The
// index holds the jobs submitted within status_ttl, trimmed as new jobs
// arrive: a job whose status is kept alive by updates for longer than that
// after its submission leaves the listing, though get() still answers.
//
// Thread-safety: every member function is thread-safe; calls run in
// parallel on a pool of settings.pool_size connections. Subscriber
// callbacks run on the store's event thread, one at a time per
// subscription, and must be quick.
//
// Ownership: the store owns its connections and its event thread; a
// subscription may outlive the store (it then never fires).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>

#include "dtq/core/ports/status_store.hpp"
#include "dtq/core/thread_annotations.hpp"
#include "dtq/redis/redis_settings.hpp"

namespace dtq::redis {

class ConnectionPool;
class StatusEvents;

class RedisStatusStore final : public StatusStore {
 public:
  // Checks the settings and that the server answers (PING): InvalidArgument
  // or Unavailable otherwise, so that a misconfigured process stops at
  // start-up. Once connected, outages are recovered from.
  static StatusOr<std::unique_ptr<RedisStatusStore>> connect(RedisSettings settings);
  ~RedisStatusStore() override;
  RedisStatusStore(const RedisStatusStore&) = delete;
  RedisStatusStore& operator=(const RedisStatusStore&) = delete;

  StatusOr<JobStatus> update(const JobStatus& update) override;
  // update() itself: it returns once Redis has applied it, which is as
  // durable as the server's persistence (appendonly) makes it.
  StatusOr<JobStatus> update_durable(const JobStatus& update) override {
    return this->update(update);
  }
  // Every update's merge script pipelined on one connection: one round trip
  // for the batch (a worker records a batch of attempts this way).
  std::vector<StatusOr<JobStatus>> update_durable_batch(
      std::span<const JobStatus> updates) override;
  // The same pipeline: update() is as durable as update_durable() here.
  std::vector<StatusOr<JobStatus>> update_batch(std::span<const JobStatus> updates) override {
    return update_durable_batch(updates);
  }
  StatusOr<JobStatus> get(std::string_view job_id) override;
  // Every read script pipelined on one connection: one round trip.
  std::vector<StatusOr<JobStatus>> get_batch(std::span<const std::string> job_ids) override;
  std::unique_ptr<StatusSubscription> subscribe(
      std::string job_id, std::function<void(const JobStatus&)> on_change) override;
  Status request_cancel(std::string_view job_id) override;
  // A round trip per call until the answer is yes; yes is remembered. False
  // when Redis cannot be reached: the pools ask every tick, so an outage is
  // logged once when it starts and once when reads work again.
  bool cancel_requested(std::string_view job_id) override;
  StatusOr<StatusPage> list(const StatusListQuery& query) override;

  // One round trip, for readiness checks.
  Status ping();
  const RedisSettings& settings() const;

  // The keys of one job, and the index of every job, as documented above.
  static std::string index_key();
  static std::string status_key(std::string_view job_id);
  static std::string meta_key(std::string_view job_id);
  static std::string cancel_key(std::string_view job_id);

 private:
  explicit RedisStatusStore(RedisSettings settings);

  std::shared_ptr<ConnectionPool> pool_;
  std::shared_ptr<StatusEvents> events_;
  Mutex cancels_mutex_;
  std::unordered_set<std::string> cancels_ DTQ_GUARDED_BY(cancels_mutex_);  // known cancelled
  std::atomic<bool> cancel_reads_failing_{false};
};

}  // namespace dtq::redis
