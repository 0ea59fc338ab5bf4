#include "api_wiring.hpp"

#include <exception>

namespace dtq::cli {

bool parse_listen(const std::string& listen, api::ApiSettings& settings) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  int port = -1;
  try {
    size_t used = 0;
    port = std::stoi(listen.substr(colon + 1), &used);
    if (used != listen.size() - colon - 1) return false;
  } catch (const std::exception&) {
    return false;
  }
  if (port < 0 || port > 65535) return false;
  settings.bind_address = listen.substr(0, colon);
  settings.port = static_cast<uint16_t>(port);
  return true;
}

StatusOr<std::unique_ptr<api::GrpcJobServer>> start_grpc_job_server(const std::string& listen,
                                                                    const api::ApiSettings& rest,
                                                                    JobService& jobs,
                                                                    StatusStore& statuses,
                                                                    JobTypeRegistry& job_types) {
  auto server = std::make_unique<api::GrpcJobServer>(
      api::GrpcServerSettings{.listen_address = listen,
                              .token = rest.token,
                              .max_message_bytes = rest.body_limit,
                              .max_watch_streams = rest.max_sse_streams,
                              .submit_rate_per_second = rest.submit_rate_per_second},
      jobs, statuses, job_types);
  if (Status started = server->start(); !started.ok()) return started;
  return server;
}

}  // namespace dtq::cli
