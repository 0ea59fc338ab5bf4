// AdminServer: the operator's port of a process that serves no API — a
// `dtq worker` — for probes and Prometheus:
//   GET /healthz  200 while the process runs;
//   GET /readyz   200 {"status":"ready"}; 200 {"status":"degraded",...}
//                 naming the job types whose plugin runners keep crashing
//                 (the other pools still work); 503 {"status":"not_ready"}
//                 with the reason while a backend is unreachable or the
//                 worker drains;
//   GET /metrics  its pools by job type: dtq_pool_in_flight,
//                 dtq_pool_concurrency, dtq_plugin_runner_crashes_total,
//                 dtq_plugin_crash_looping, dtq_worker_ready; and, when
//                 set_pool_metrics() gave the figures, what each pool
//                 counted (dtq_worker_*: attempts, outcomes, dead letters,
//                 the attempt-duration histogram, backend errors, the
//                 consumer lag).
//                 docs/deploy.md lists every series.
// Nothing else, and no authentication: bind it to an address only
// operators and probes reach.
//
// Thread-safety: start() and stop() from one thread; the callbacks are
// called on the server's threads and must be thread-safe. Ownership: the
// callbacks' captures must outlive stop().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dtq/core/ports/job_type_registry.hpp"
#include "dtq/core/status.hpp"

namespace dtq::api {

struct AdminSettings {
  std::string bind_address = "127.0.0.1";
  uint16_t port = 0;  // 0: a free one; port() says which
};

struct AdminReadiness {
  bool ready = false;
  std::string reason;  // why not, when not ready
};

// What one pool counted since it started (the worker copies its
// host::PoolStats here: the API layer does not depend on the host).
struct PoolMetrics {
  std::string job_type;
  uint64_t attempts_started = 0;
  uint64_t attempts_retried = 0;    // failed attempts followed by another
  uint64_t attempts_abandoned = 0;  // the plugin ignored its timeout or a cancel
  uint64_t jobs_completed = 0;
  uint64_t jobs_failed = 0;
  uint64_t jobs_cancelled = 0;
  uint64_t jobs_dead_lettered = 0;
  uint64_t jobs_released = 0;  // handed back to the queue for redelivery
  // Failed calls to the backends behind each port.
  uint64_t queue_errors = 0;
  uint64_t status_errors = 0;
  uint64_t result_errors = 0;
  // The queue's consumer lag of the type on this worker, when the queue
  // has one (Kafka) and the broker answered.
  std::optional<int64_t> consumer_lag;
  // The attempt-duration histogram: upper bounds in seconds, and a count per
  // bucket (not cumulative; one more than the bounds: the rest), their sum.
  std::vector<double> duration_bounds;
  std::vector<uint64_t> duration_counts;
  double duration_sum_seconds = 0;
};

class AdminServer {
 public:
  AdminServer(AdminSettings settings, std::function<AdminReadiness()> readiness,
              std::function<std::vector<JobTypeInfo>()> pools);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // The pools' own counters for /metrics; call before start(). Called on
  // the server's thread at each scrape, so it must be thread-safe.
  void set_pool_metrics(std::function<std::vector<PoolMetrics>()> pool_metrics);

  Status start();
  uint16_t port() const noexcept;
  void stop();

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace dtq::api
