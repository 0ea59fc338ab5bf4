// What `dtq serve` and `dtq api` share when they put the API up: reading a
// HOST:PORT flag, the access flags and API keys (docs/security.md), and the
// gRPC JobService configured like the REST face.
//
// Thread-safety: call from the command's main thread during start-up.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "dtq/api/api_server.hpp"
#include "dtq/api/grpc_job_server.hpp"
#include "dtq/core/api_keys.hpp"
#include "dtq/core/job_service.hpp"
#include "dtq/embedded/file_api_key_store.hpp"

namespace dtq::cli {

// Where a server listens: a host (name or address) and a port (0: any free one).
struct ListenAddress {
  std::string host;
  uint16_t port = 0;
};

// HOST:PORT; InvalidArgument when malformed.
StatusOr<ListenAddress> parse_listen(std::string_view listen);

// Who may call the API, as flags of `dtq serve` and `dtq api`.
struct AccessOptions {
  bool open_reads = false;                 // --open-reads
  bool metrics_key = false;                // --metrics-key
  std::vector<std::string> allowed_hosts;  // --allowed-hosts: exactly these
  std::vector<std::string> public_hosts;   // --public-host: added to the defaults
};

// The API's flags, the same for `dtq serve` and `dtq api`.
struct ApiFaceOptions {
  std::string listen = "127.0.0.1:8080";
  std::string grpc_listen;  // empty: no gRPC server
  std::string ui_dir;
  std::vector<std::string> cors_origins;
  size_t body_limit = 1 << 20;
  size_t batch_body_limit = 4 << 20;  // POST /v1/jobs:batch, gRPC SubmitJobs
  double submit_rate = 100;
  size_t max_streams = 1024;
  size_t handler_threads = 0;
  std::string rest = "on";  // --rest: off drops the /v1 job routes (graphql)
  AccessOptions access;
};
void add_api_face_flags(CLI::App& command, ApiFaceOptions& options);

// What the flags make: the REST settings (keys not set yet) and the host
// the gRPC server listens on (empty without one).
struct ApiFace {
  api::ApiSettings settings;
  std::string grpc_host;
};
// InvalidArgument naming the flag whose address is malformed. Allowed
// hosts: --allowed-hosts as given, else the loopback names, the listen
// host (unless a wildcard) and every --public-host.
StatusOr<ApiFace> api_face(const ApiFaceOptions& options);

// $DTQ_API_TOKEN: an operator key with admin scope, given by the
// environment and stored nowhere; empty when unset.
std::string operator_key_from_env();

// The cluster's shared secret, which every call to a worker's
// WorkerService carries: `flag`, else $DTQ_CLUSTER_SECRET; empty when neither.
std::string cluster_secret_from(const std::string& flag);

// The API keys of `dtq serve`: the data folder's key file and the operator
// key. On first start — no key stored, no operator key — an admin key is
// made and stored: `first_key` holds it, to be shown once.
struct LocalApiKeys {
  std::unique_ptr<embedded::FileApiKeyStore> store;
  std::unique_ptr<ApiKeys> keys;
  std::string first_key;
};
std::filesystem::path api_keys_file(const std::filesystem::path& data_dir);
StatusOr<LocalApiKeys> open_local_api_keys(const std::filesystem::path& data_dir);

// The gRPC JobService at `listen`, started, with the REST settings' keys,
// open reads and limits (body limit, open streams, submit rate) so that the two faces
// of one API refuse the same things. Unavailable when it cannot bind.
StatusOr<std::unique_ptr<api::GrpcJobServer>> start_grpc_job_server(const std::string& listen,
                                                                    const api::ApiSettings& rest,
                                                                    JobService& jobs,
                                                                    StatusStore& statuses,
                                                                    JobTypeRegistry& job_types);

}  // namespace dtq::cli
