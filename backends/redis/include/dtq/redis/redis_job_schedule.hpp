// RedisJobSchedule: the schedule of delayed jobs for every `dtq api`
// replica, in Redis (core/include/dtq/core/ports/job_schedule.hpp). Two
// keys hold every waiting job:
//
//   <key_prefix>schedule:due   sorted set: member job_id, score the unix
//                              millisecond it may next be claimed (its
//                              run_at, or the end of a claim's lease)
//   <key_prefix>schedule:jobs  hash: job_id -> "<run_at ms> <claims>
//                              <the JobMessage as JSON>"
//
// Neither expires: a job waits as long as its delay (up to 365 days),
// however long the status store keeps its status (24 h). Each operation is
// one Lua script, so replicas are serialised by Redis: a claim takes the
// due members (ZRANGEBYSCORE) and moves their score to the end of the lease
// in the same step, so two replicas never both take one job. The schedule
// is as durable as the Redis it is in: run Redis with persistence (RDB
// snapshots on shutdown, as scripts/servers/redis.sh does, or AOF) so that
// a restart keeps it.
//
// Thread-safety: every member function is thread-safe. Ownership: owns its
// connections.
#pragma once

#include <memory>
#include <string>

#include "dtq/core/ports/job_schedule.hpp"
#include "dtq/redis/redis_settings.hpp"

namespace dtq::redis {

class ConnectionPool;

class RedisJobSchedule final : public JobSchedule {
 public:
  // Unavailable when Redis does not answer.
  static StatusOr<std::unique_ptr<RedisJobSchedule>> connect(RedisSettings redis,
                                                             std::string key_prefix = "dtq:");
  ~RedisJobSchedule() override;

  Status schedule(const JobMessage& message, Clock::time_point run_at) override;
  StatusOr<std::vector<ScheduledJob>> claim_due(Clock::time_point now,
                                                std::chrono::milliseconds lease,
                                                size_t limit) override;
  Status complete(std::string_view job_id) override;
  StatusOr<bool> cancel(std::string_view job_id) override;
  StatusOr<ScheduledJob> get(std::string_view job_id) override;
  StatusOr<SchedulePage> list(std::string_view job_type, std::string_view cursor,
                              size_t limit) override;

  const std::string& due_key() const { return due_key_; }
  const std::string& jobs_key() const { return jobs_key_; }

 private:
  RedisJobSchedule(RedisSettings redis, std::string key_prefix);
  Status refused(std::string_view what, const std::string& reply) const;

  std::shared_ptr<ConnectionPool> pool_;
  const std::string due_key_;
  const std::string jobs_key_;
};

}  // namespace dtq::redis
