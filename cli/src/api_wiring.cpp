#include "api_wiring.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "dtq/core/host_port.hpp"

namespace dtq::cli {

StatusOr<ListenAddress> parse_listen(std::string_view listen) {
  auto address = parse_listen_address(listen);
  if (!address.ok()) return invalid_argument("\"" + std::string(listen) + "\" is not HOST:PORT");
  // Pistache reads an IPv6 host in its brackets.
  return ListenAddress{.host = address->url_host(), .port = address->port};
}

namespace {

void add_access_flags(CLI::App& command, AccessOptions& options) {
  command.add_flag("--open-reads", options.open_reads,
                   "Serve reads (listing, lookups, event streams) without an API key");
  command.add_flag("--metrics-key", options.metrics_key, "/metrics needs a read key too");
  command
      .add_option("--allowed-hosts", options.allowed_hosts,
                  "Host names this server answers to, exactly (default: localhost, the "
                  "loopback addresses, the --listen host and each --public-host)")
      ->delimiter(',');
  command.add_option("--public-host", options.public_hosts,
                     "A name clients reach this server by (repeatable)");
}

std::vector<std::string> allowed_hosts(const AccessOptions& options, const std::string& listen) {
  std::vector<std::string> hosts = options.allowed_hosts;
  if (hosts.empty()) {
    hosts = {"localhost", "127.0.0.1", "[::1]", "::1"};
    if (listen != "0.0.0.0" && listen != "::" && listen != "[::]") hosts.push_back(listen);
    hosts.insert(hosts.end(), options.public_hosts.begin(), options.public_hosts.end());
  }
  for (auto& host : hosts) {
    std::transform(host.begin(), host.end(), host.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  }
  return hosts;
}

}  // namespace

void add_api_face_flags(CLI::App& command, ApiFaceOptions& options) {
  command.add_option("--listen", options.listen, "HOST:PORT to listen on (port 0: any free one)")
      ->capture_default_str();
  command.add_option("--grpc-listen", options.grpc_listen,
                     "HOST:PORT for the gRPC JobService (dtq.v1) too; off unless given (port 0: "
                     "any free one)");
  add_access_flags(command, options.access);
  command.add_option("--ui-dir", options.ui_dir, "Folder of the UI's static files, served at /");
  command.add_option("--cors-origin", options.cors_origins,
                     "An Origin allowed to call the API (repeatable)");
  command.add_option("--body-limit", options.body_limit, "Largest request body in bytes")
      ->capture_default_str();
  command
      .add_option("--batch-body-limit", options.batch_body_limit,
                  "Largest batch submit body in bytes (POST /v1/jobs:batch, gRPC SubmitJobs)")
      ->capture_default_str();
  command.add_option("--submit-rate", options.submit_rate, "Submits per second before 429")
      ->capture_default_str();
  command.add_option("--max-streams", options.max_streams, "Open event streams before 429")
      ->capture_default_str();
  command
      .add_option("--handler-threads", options.handler_threads,
                  "Threads for the REST handlers that wait on backends (0: on the reactors)")
      ->capture_default_str();
  // --- graphql: GraphQL alone (docs/graphql.md)
  command
      .add_option("--rest", options.rest,
                  "off: no REST job routes (/v1), for GraphQL and gRPC alone; probes, metrics "
                  "and the UI stay")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  // --- end graphql
}

StatusOr<ApiFace> api_face(const ApiFaceOptions& options) {
  const auto listen = parse_listen(options.listen);
  if (!listen.ok()) {
    return invalid_argument("--listen wants HOST:PORT, not \"" + options.listen + "\"");
  }
  ApiFace face;
  if (!options.grpc_listen.empty()) {
    const auto grpc = parse_listen(options.grpc_listen);
    if (!grpc.ok()) {
      return invalid_argument("--grpc-listen wants HOST:PORT, not \"" + options.grpc_listen + "\"");
    }
    face.grpc_host = grpc->host;
  }
  api::ApiSettings& settings = face.settings;
  settings.bind_address = listen->host;
  settings.port = listen->port;
  settings.static_dir = options.ui_dir;
  settings.cors_origins = options.cors_origins;
  settings.body_limit = options.body_limit;
  settings.batch_body_limit = options.batch_body_limit;
  settings.submit_rate_per_second = options.submit_rate;
  settings.max_sse_streams = options.max_streams;
  settings.handler_threads = options.handler_threads;
  settings.job_routes = options.rest != "off";  // graphql
  settings.open_reads = options.access.open_reads;
  settings.metrics_need_key = options.access.metrics_key;
  settings.allowed_hosts = allowed_hosts(options.access, listen->host);
  return face;
}

std::string operator_key_from_env() {
  // Read at start-up, before the threads.
  // NOLINTNEXTLINE(concurrency-mt-unsafe)
  const char* key = std::getenv("DTQ_API_TOKEN");
  return key == nullptr ? std::string() : std::string(key);
}

std::string cluster_secret_from(const std::string& flag) {
  if (!flag.empty()) return flag;
  // Read at start-up, before the threads.
  // NOLINTNEXTLINE(concurrency-mt-unsafe)
  const char* secret = std::getenv("DTQ_CLUSTER_SECRET");
  return secret == nullptr ? std::string() : std::string(secret);
}

std::filesystem::path api_keys_file(const std::filesystem::path& data_dir) {
  return data_dir / "api-keys.jsonl";
}

StatusOr<LocalApiKeys> open_local_api_keys(const std::filesystem::path& data_dir) {
  LocalApiKeys local;
  local.store = std::make_unique<embedded::FileApiKeyStore>(api_keys_file(data_dir));
  const std::string operator_key = operator_key_from_env();
  local.keys = std::make_unique<ApiKeys>(*local.store, operator_key);
  auto stored = local.store->list();
  if (!stored.ok()) return stored.status();
  if (!stored->empty() || !operator_key.empty()) return local;
  auto first = new_api_key("first admin key", Scope::kAdmin);
  if (!first.ok()) return first.status();
  if (Status added = local.store->add(first->record); !added.ok()) return added;
  local.first_key = std::move(first->key);
  return local;
}

StatusOr<std::unique_ptr<api::GrpcJobServer>> start_grpc_job_server(const std::string& listen,
                                                                    const api::ApiSettings& rest,
                                                                    JobService& jobs,
                                                                    StatusStore& statuses,
                                                                    JobTypeRegistry& job_types) {
  auto server = std::make_unique<api::GrpcJobServer>(
      api::GrpcServerSettings{.listen_address = listen,
                              .keys = rest.keys,
                              .open_reads = rest.open_reads,
                              // a SubmitJobs call is as large as a REST batch
                              .max_message_bytes = std::max(rest.body_limit, rest.batch_body_limit),
                              .max_watch_streams = rest.max_sse_streams,
                              .submit_rate_per_second = rest.submit_rate_per_second,
                              .history = rest.history},
      jobs, statuses, job_types);
  if (Status started = server->start(); !started.ok()) return started;
  return server;
}

}  // namespace dtq::cli
