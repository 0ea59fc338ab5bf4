// What `dtq serve` and `dtq api` share when they put the API up: reading a
// HOST:PORT flag, and the gRPC JobService configured like the REST face.
//
// Thread-safety: call from the command's main thread during start-up.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "dtq/api/api_server.hpp"
#include "dtq/api/grpc_job_server.hpp"
#include "dtq/core/job_service.hpp"

namespace dtq::cli {

// Where a server listens: a host (name or address) and a port (0: any free one).
struct ListenAddress {
  std::string host;
  uint16_t port = 0;
};

// HOST:PORT; InvalidArgument when malformed.
StatusOr<ListenAddress> parse_listen(std::string_view listen);

// The gRPC JobService at `listen`, started, with the REST settings' token
// and limits (body limit, open streams, submit rate) so that the two faces
// of one API refuse the same things. Unavailable when it cannot bind.
StatusOr<std::unique_ptr<api::GrpcJobServer>> start_grpc_job_server(const std::string& listen,
                                                                    const api::ApiSettings& rest,
                                                                    JobService& jobs,
                                                                    StatusStore& statuses,
                                                                    JobTypeRegistry& job_types);

}  // namespace dtq::cli
