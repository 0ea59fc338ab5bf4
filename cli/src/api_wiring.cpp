#include "api_wiring.hpp"

#include <charconv>
#include <system_error>

namespace dtq::cli {

StatusOr<ListenAddress> parse_listen(std::string_view listen) {
  const auto malformed = [&] {
    return invalid_argument("\"" + std::string(listen) + "\" is not HOST:PORT");
  };
  const size_t colon = listen.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return malformed();
  const std::string_view digits = listen.substr(colon + 1);
  unsigned port = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (digits.empty() || error != std::errc() || end != digits.data() + digits.size() ||
      port > 65535) {
    return malformed();
  }
  return ListenAddress{.host = std::string(listen.substr(0, colon)),
                       .port = static_cast<uint16_t>(port)};
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
