#include "dtq/rpc/grpc_server.hpp"

#include <algorithm>
#include <limits>

namespace dtq::rpc {

Status GrpcServer::start(const GrpcListen& listen, std::initializer_list<grpc::Service*> services) {
  if (server_) return {};
  const std::string& address = listen.address;
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    return invalid_argument("gRPC listen address \"" + address + "\" is not HOST:PORT");
  }
  grpc::ServerBuilder builder;
  int bound = 0;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &bound);
  builder.SetMaxReceiveMessageSize(static_cast<int>(
      std::min<size_t>(listen.max_message_bytes, std::numeric_limits<int>::max())));
  for (grpc::Service* service : services) builder.RegisterService(service);
  auto server = builder.BuildAndStart();
  if (!server || bound == 0) return unavailable("cannot listen for gRPC on " + address);
  server_ = std::move(server);
  port_.store(static_cast<uint16_t>(bound));
  return {};
}

void GrpcServer::stop(std::chrono::milliseconds grace) {
  if (!server_) return;
  server_->Shutdown(std::chrono::system_clock::now() + grace);
  server_->Wait();
  server_.reset();
  port_.store(0);
}

}  // namespace dtq::rpc
