// AdminServer: the operator's port of a process that serves no API — a
// `dtq worker` — for probes and Prometheus:
//   GET /healthz  200 while the process runs;
//   GET /readyz   200 {"status":"ready"}; 200 {"status":"degraded",...}
//                 naming the job types whose plugin runners keep crashing
//                 (the other pools still work); 503 {"status":"not_ready"}
//                 with the reason while a backend is unreachable or the
//                 worker drains;
//   GET /metrics  its pools by job type: dtq_pool_in_flight,
//                 dtq_pool_concurrency, dtq_plugin_runner_crashes,
//                 dtq_plugin_crash_looping.
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

class AdminServer {
 public:
  AdminServer(AdminSettings settings, std::function<AdminReadiness()> readiness,
              std::function<std::vector<JobTypeInfo>()> pools);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  Status start();
  uint16_t port() const noexcept;
  void stop();

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace dtq::api
