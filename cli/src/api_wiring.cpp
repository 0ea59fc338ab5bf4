#include "api_wiring.hpp"

#include "dtq/core/host_port.hpp"

namespace dtq::cli {

StatusOr<ListenAddress> parse_listen(std::string_view listen) {
  auto address = parse_listen_address(listen);
  if (!address.ok()) return invalid_argument("\"" + std::string(listen) + "\" is not HOST:PORT");
  // Pistache reads an IPv6 host in its brackets.
  return ListenAddress{.host = address->url_host(), .port = address->port};
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
