// ApiServer: the REST /v1 face of dtq over HTTP (Pistache) — submit, look
// up, list and cancel jobs, list job types, follow a job or every job live
// with Server-Sent Events, and the operator endpoints /healthz, /readyz and
// /metrics (Prometheus text). Every rule about jobs is JobService's; this
// class only maps HTTP onto it and its errors onto one JSON shape,
// {"error":{"code","message","details"}}. Routes and limits:
// docs/operators.md; who may call what: docs/security.md.
//
// Access: with `keys` set, every route but the probes (/healthz, /readyz),
// the UI's files and /metrics needs an API key in `Authorization: Bearer
// KEY` (401 without one or with an unknown or revoked one, 403 when its
// scope is too small): `read` for reads and event streams (unless
// open_reads), `submit` for submit and cancel; /metrics too with
// metrics_need_key. Cookies are never read. With `allowed_hosts` set, a
// request whose Host names none of them is refused 403 (DNS rebinding);
// the probes are exempt.
//
// Thread-safety: start() and stop() from one controlling thread; requests
// are read and routed on Pistache's reactor threads, the handlers that
// wait on backends run on handler_threads of their own, and one thread
// feeds every SSE stream. Ownership: borrows the JobService and the StatusStore (for SSE
// and listing), which must outlive the server; stop() (or the destructor)
// closes every stream and joins its threads.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dtq/core/api_keys.hpp"
#include "dtq/core/job_service.hpp"
#include "dtq/core/ports/job_history.hpp"
#include "dtq/core/ports/job_type_registry.hpp"
#include "dtq/core/ports/status_store.hpp"
#include "dtq/core/status.hpp"

namespace dtq::api {

struct ApiSettings {
  std::string bind_address = "127.0.0.1";
  uint16_t port = 0;                       // 0: an ephemeral port; see ApiServer::port()
  const ApiKeys* keys = nullptr;           // who may call; none: every route is open (--no-auth)
  bool open_reads = false;                 // reads need no key
  bool metrics_need_key = false;           // /metrics needs a `read` key
  std::vector<std::string> allowed_hosts;  // Host names served (lower case); empty: any
  size_t body_limit = 1 << 20;             // bytes of request body; more is 413
  // POST /v1/jobs:batch's body limit instead: room for 1,000 ordinary jobs.
  size_t batch_body_limit = 4 << 20;
  size_t max_header_bytes = 16 << 10;     // request line and headers; more is 431
  double submit_rate_per_second = 100;    // POST /v1/jobs across all clients; past it 429
  size_t max_sse_streams = 1024;          // open /events streams; past it 429
  bool job_routes = true;                 // false: --rest=off (no /v1 routes)
  std::vector<std::string> cors_origins;  // allowed Origin values; empty: no CORS headers
  std::string static_dir;                 // served at / when set (the UI build)
  std::chrono::seconds sse_heartbeat{15};
  int threads = 4;  // Pistache reactor threads
  // Threads that run the handlers waiting on backends (submit, lookups,
  // lists, cancel); 0 runs them on the reactor threads. Past
  // max_queued_requests waiting for one, a request is answered 503. Off by
  // default: each answer then costs a Pistache timer (docs/operators.md).
  size_t handler_threads = 0;
  size_t max_queued_requests = 4096;
  // GET /v1/jobs/{id}/history and gRPC GetJobHistory read it; none: they
  // answer 503 / UNAVAILABLE.
  JobHistory* history = nullptr;
};

class ApiServer {
 public:
  ApiServer(ApiSettings settings, JobService& jobs, StatusStore& statuses,
            JobTypeRegistry& job_types);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Binds and starts serving in the background. Unavailable when the
  // address cannot be bound.
  Status start();
  // The bound port (the real one when settings asked for 0); 0 before start().
  uint16_t port() const noexcept;
  // /readyz answers 503 until set_ready(true): serve flips it once the
  // engine runs, and back when it drains.
  void set_ready(bool ready) noexcept;
  // The same, saying why when not ready (the 503's message; by default "the
  // worker engine is not running"): `dtq api` reports its backends' health.
  void set_ready(bool ready, std::string not_ready_reason);
  // Stops accepting, ends every SSE stream, joins the threads. Idempotent.
  void stop();
  // Every route it serves, "METHOD /pattern" ("GET /v1/jobs/{id}"), in
  // the order matched: tests/openapi/ checks them against api/openapi.yaml.
  [[nodiscard]] std::vector<std::string> routes() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dtq::api
