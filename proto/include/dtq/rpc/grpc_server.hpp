// How every dtq gRPC server starts and stops: the API's JobService
// (api::GrpcJobServer) and a worker's WorkerService (host::WorkerGrpcServer)
// listen the same way — plaintext HTTP/2 at HOST:PORT (port 0: a free one),
// with a limit on the size of a request message — and stop the same way:
// calls in flight get a grace period, then are cancelled.
//
// Part of dtq::grpc_server, which sits beside the generated contracts so
// that host and api share it without either including the other.
//
// Thread-safety: call from the owner's controlling thread. Ownership: the
// services must outlive the server they are registered on.
#pragma once

#include <grpcpp/grpcpp.h>

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

struct RunningGrpcServer {
  std::unique_ptr<grpc::Server> server;
  uint16_t port = 0;  // the bound one
};

// Starts serving `services`. InvalidArgument when the address is not
// HOST:PORT; Unavailable when it cannot be bound.
StatusOr<RunningGrpcServer> start_grpc_server(const GrpcListen& listen,
                                              std::initializer_list<grpc::Service*> services);

// Lets calls in flight finish within `grace`, cancels the rest, waits.
void stop_grpc_server(grpc::Server& server, std::chrono::milliseconds grace);

}  // namespace dtq::rpc
