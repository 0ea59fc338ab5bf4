// GrpcJobServer: the typed face of dtq — the gRPC service dtq.v1.JobService
// (proto/dtq/v1/jobs.proto): submit, get, list, watch one job or every job
// (server streams), cancel, list job types. REST (ApiServer) is its JSON
// face; both run over the same JobService, StatusStore and JobTypeRegistry and keep the same
// rules: every rule about jobs is JobService's; with `keys` set, every
// call needs the metadata `authorization: Bearer KEY` — a `read` key for
// GetJob, ListJobs, ListJobTypes and WatchJob (unless open_reads), a
// `submit` key for SubmitJob and CancelJob (UNAUTHENTICATED without a
// known key, PERMISSION_DENIED for a scope too small), an `admin` key for the
// dead-letter calls, RetryJob, PauseJobType and ResumeJobType; a failed call carries the gRPC
// status code and, in the trailing metadata `dtq-error-bin`, a serialized dtq.v1.ErrorDetails (the
// REST error code and the field errors) — see jobs.proto.
//
// WatchJob follows StatusStore::subscribe (no polling): a snapshot first,
// then every visible change, and it ends after the terminal state or when
// the client cancels. WatchJobs follows every job (filtered by state and
// job type) until cancelled, ending a client that falls too far behind. A
// watch holds no thread while it waits; both count against
// max_watch_streams.
//
// Transport: plaintext HTTP/2, like the REST face; put TLS in front (a
// proxy or the mesh) before leaving loopback. Docs: docs/operators.md.
//
// Thread-safety: start() and stop() from one controlling thread; calls are
// served on gRPC's threads. Ownership: borrows the JobService, StatusStore
// and JobTypeRegistry, which must outlive the server; stop() (or the
// destructor) ends every call and drops every subscription. gRPC stays
// private to the library: this header does not include it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "dtq/core/api_keys.hpp"
#include "dtq/core/job_service.hpp"
#include "dtq/core/ports/job_history.hpp"
#include "dtq/core/ports/job_type_registry.hpp"
#include "dtq/core/ports/status_store.hpp"
#include "dtq/core/status.hpp"

namespace dtq::api {

struct GrpcServerSettings {
  std::string listen_address = "127.0.0.1:0";  // HOST:PORT; port 0: an ephemeral one, see port()
  const ApiKeys* keys = nullptr;               // who may call; none: every call is open (--no-auth)
  bool open_reads = false;                     // reads need no key
  size_t max_message_bytes =
      1 << 20;  // largest request message; past it gRPC answers RESOURCE_EXHAUSTED
  size_t max_watch_streams = 1024;  // open WatchJob calls; past it RESOURCE_EXHAUSTED
  double submit_rate_per_second =
      100;  // SubmitJob across all clients; past it RESOURCE_EXHAUSTED; 0: no limit
  // stop(): how long calls in flight may finish before they are cancelled.
  // Watches are cancelled at once.
  std::chrono::milliseconds shutdown_grace{1000};
  JobHistory* history = nullptr;  // GetJobHistory reads it; none: UNAVAILABLE
};

class GrpcJobServer {
 public:
  GrpcJobServer(GrpcServerSettings settings, JobService& jobs, StatusStore& statuses,
                JobTypeRegistry& job_types);
  ~GrpcJobServer();
  GrpcJobServer(const GrpcJobServer&) = delete;
  GrpcJobServer& operator=(const GrpcJobServer&) = delete;

  // Binds and starts serving in the background. Unavailable when the
  // address cannot be bound; InvalidArgument when it is not HOST:PORT.
  Status start();
  // The bound port (the real one when settings asked for 0); 0 before start().
  uint16_t port() const noexcept;
  // Ends every watch, lets other calls finish within the grace, joins. Idempotent.
  void stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dtq::api
