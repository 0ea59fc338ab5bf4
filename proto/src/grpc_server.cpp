#include "dtq/rpc/grpc_server.hpp"

#include <algorithm>
#include <limits>

namespace dtq::rpc {

StatusOr<RunningGrpcServer> start_grpc_server(const GrpcListen& listen,
                                              std::initializer_list<grpc::Service*> services) {
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
  RunningGrpcServer running{builder.BuildAndStart(), 0};
  if (!running.server || bound == 0) return unavailable("cannot listen for gRPC on " + address);
  running.port = static_cast<uint16_t>(bound);
  return running;
}

void stop_grpc_server(grpc::Server& server, std::chrono::milliseconds grace) {
  server.Shutdown(std::chrono::system_clock::now() + grace);
  server.Wait();
}

}  // namespace dtq::rpc
