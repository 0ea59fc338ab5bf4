// GrpcServer: how every dtq gRPC server starts and stops. The API's
// JobService (api::GrpcJobServer) and a worker's WorkerService
// (host::WorkerGrpcServer) listen the same way — plaintext HTTP/2 at
// HOST:PORT (port 0: a free one), with a limit on the size of a request
// message — and stop the same way: calls in flight get a grace period,
// then are cancelled.
//
// Part of dtq::grpc_server, which sits beside the generated contracts so
// that host and api share it without either including the other.
//
// Thread-safety: start() and stop() from the owner's controlling thread;
// port() from any. Ownership: owns the grpc::Server; the services must
// outlive it (stop() or the destructor ends it).
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

#include "dtq/core/status.hpp"

namespace dtq::rpc {

// The metadata that carries the cluster's shared secret on every call to a
// worker's WorkerService (host::WorkerGrpcServer checks it;
// api::GrpcPayloadValidator sends it).
inline constexpr std::string_view kClusterSecretKey = "dtq-cluster-secret";

struct GrpcListen {
  std::string address;       // HOST:PORT
  size_t max_message_bytes;  // a larger request is refused with RESOURCE_EXHAUSTED
};

class GrpcServer {
 public:
  GrpcServer() = default;
  ~GrpcServer() { stop(std::chrono::milliseconds(0)); }
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  // Starts serving `services`; nothing when already serving.
  // InvalidArgument when the address is not HOST:PORT; Unavailable when it
  // cannot be bound.
  Status start(const GrpcListen& listen, std::initializer_list<grpc::Service*> services);
  // Lets calls in flight finish within `grace`, cancels the rest, waits.
  // Nothing when not serving.
  void stop(std::chrono::milliseconds grace);
  bool serving() const noexcept { return server_ != nullptr; }
  // The bound port; 0 when not serving.
  uint16_t port() const noexcept { return port_.load(); }

 private:
  std::unique_ptr<grpc::Server> server_;
  std::atomic<uint16_t> port_{0};
};

}  // namespace dtq::rpc
