// WorkerGrpcServer: the gRPC service dtq.v1.WorkerService
// (proto/dtq/v1/worker.proto) of a worker host. The API calls
// ValidatePayload before it enqueues a job (api::GrpcPayloadValidator), and
// this server answers with the hosted plugin's validate(): valid with the
// normalized payload, or the plugin's field errors; NOT_FOUND when no
// hosted plugin owns the job type.
//
// Transport: plaintext HTTP/2 inside the cluster (keep it off public
// networks, or put the mesh's TLS around it). Every call must carry the
// cluster's shared secret in the metadata `dtq-cluster-secret` (compared
// in constant time; UNAUTHENTICATED otherwise): validate() has no side
// effects, but it runs plugin code, and only the cluster's API may ask.
//
// Thread-safety: start() and stop() from one controlling thread; calls are
// served on gRPC's threads (validate() may run on many at once, as the
// plugin ABI allows). Ownership: borrows the PluginRegistry, which must
// outlive the server. gRPC stays private: this header does not include it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "dtq/core/status.hpp"
#include "dtq/host/plugin_registry.hpp"

namespace dtq::host {

struct WorkerGrpcSettings {
  std::string listen_address = "0.0.0.0:0";  // HOST:PORT; port 0: an ephemeral one, see port()
  size_t max_message_bytes = 4 << 20;        // largest request; past it RESOURCE_EXHAUSTED
  std::string cluster_secret;  // required of every call; start() refuses to run without one
  std::chrono::milliseconds shutdown_grace{1000};  // stop(): calls in flight may finish
};

class WorkerGrpcServer {
 public:
  WorkerGrpcServer(WorkerGrpcSettings settings, const PluginRegistry& plugins);
  ~WorkerGrpcServer();
  WorkerGrpcServer(const WorkerGrpcServer&) = delete;
  WorkerGrpcServer& operator=(const WorkerGrpcServer&) = delete;

  // Binds and starts serving in the background. Unavailable when the
  // address cannot be bound; InvalidArgument when it is not HOST:PORT or
  // there is no cluster secret.
  Status start();
  // The bound port (the real one when settings asked for 0); 0 before start().
  uint16_t port() const noexcept;
  // Lets calls in flight finish within the grace, then joins. Idempotent.
  void stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dtq::host
