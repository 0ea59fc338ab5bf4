// `dtq serve`: the all-in-one node — the REST API, the job engine hosting
// every plugin, and the UI's static files — in one process on the embedded
// backends in the data folder; with --grpc-listen, the gRPC JobService too;
// and the GraphQL gateway (gateway/, docs/graphql.md) as a supervised child
// process when it is found, which then faces the browser.
// Prints the URL (and, on first start, the admin key, once); SIGTERM or
// SIGINT stops the API and drains the engine (process_lifecycle.hpp).
#include <iostream>
#include <optional>

#include "api_wiring.hpp"
#include "commands.hpp"
#include "dtq/api/api_server.hpp"
#include "dtq/core/logging.hpp"
#include "local_node.hpp"
#include "process_lifecycle.hpp"

namespace dtq::cli {
namespace {

struct ServeOptions {
  EngineFlags engine;
  ApiFaceOptions api;
  GatewayFlags gateway;
};

// The first line is for scripts and tests; the rest for people. A first
// admin key is shown here once (the key file holds only its hash); the URL
// carries it in its fragment, which browsers never send to the server.
// With the GraphQL gateway, the browser's address is the gateway's.
void print_started(const std::string& url, const std::string& grpc_at,
                   const std::string& graphql_url, const std::string& first_key,
                   const std::filesystem::path& data_dir) {
  std::cout << "LISTENING " << url << std::endl;
  if (!grpc_at.empty()) std::cout << "GRPC_LISTENING " << grpc_at << std::endl;
  if (!graphql_url.empty()) std::cout << "GRAPHQL_LISTENING " << graphql_url << std::endl;
  std::cerr << "dtq serve: API at " << url << "  (data in " << data_dir.string() << ")\n";
  if (!graphql_url.empty()) {
    std::cerr << "  GraphQL: " << graphql_url << "/graphql (and the UI, same origin)\n";
  }
  if (!first_key.empty()) {
    std::cerr << "  key:   " << first_key << "  (admin; shown this once: keep it)\n"
              << "  UI:    " << (graphql_url.empty() ? url : graphql_url) << "/#key=" << first_key
              << "\n";
  }
  std::cerr << "  try:   export DTQ_API_KEY=<your key>; dtq submit weather "
               "'{\"city\":\"Austin\",\"country_code\":\"US\"}' --watch\n"
            << "  keys:  dtq keys create --name NAME --scope read|submit|admin" << std::endl;
  if (!grpc_at.empty()) {
    std::cerr << "  gRPC:  dtq.v1.JobService at " << grpc_at
              << " (metadata authorization: Bearer KEY)" << std::endl;
  }
}

// Where the GraphQL gateway is, unless it is off; says why when it cannot run.
std::optional<GatewayLaunch> locate_gateway(const GatewayFlags& flags) {
  if (flags.mode == "off") return std::nullopt;
  auto found = find_gateway(flags);
  if (!found.ok()) {
    std::cerr << "dtq serve: GraphQL is off: " << found.status().message()
              << "; REST and the UI are served as usual" << std::endl;
    return std::nullopt;
  }
  return std::move(found).value();
}

// The GraphQL gateway `launch`, supervised, in front of the REST port
// `rest_url` and the gRPC port. `rest_port` is the port --listen asked for
// (0: any, and then the gateway's is any too). `url` is where it listens
// once it does.
std::unique_ptr<GatewaySupervisor> start_gateway(GatewayLaunch launch, const GatewayFlags& flags,
                                                 const std::string& rest_host, uint16_t rest_port,
                                                 const std::string& grpc_host, uint16_t grpc_port,
                                                 const std::string& rest_url, std::string& url) {
  launch.listen =
      flags.listen.empty() ? default_gateway_listen(rest_host, rest_port) : flags.listen;
  launch.grpc_target = grpc_host + ":" + std::to_string(grpc_port);
  launch.upstream = rest_url;
  auto gateway = std::make_unique<GatewaySupervisor>(std::move(launch));
  auto started = gateway->start(std::chrono::seconds(20));
  if (!started.ok()) {
    std::cerr << "dtq serve: " << started.status().message() << std::endl;
  } else {
    url = *started;
  }
  return gateway;
}

// The engine, the REST API and (with --grpc-listen) the gRPC JobService on
// `node`, until SIGTERM or SIGINT; then the API stops and the engine drains.
int serve_until_signal(ProcessLifecycle& lifecycle, const CommonOptions& common,
                       const ServeOptions& options, const api::ApiSettings& settings,
                       const std::string& grpc_host, const std::string& first_key, LocalNode& node,
                       const host::EngineSettings& engine_config) {
  host::HttpClient http;
  auto engine = host::Engine::create(
      node.plugins, engine_config,
      host::EnginePorts{*node.backends.queue, *node.backends.statuses, *node.backends.results},
      http);
  if (!engine.ok()) {
    std::cerr << "dtq: " << engine.status().message() << "\n";
    return 2;
  }
  // Paused before a restart: paused again before the pools take a job.
  DurableJobTypeRegistry job_types(**engine, *node.backends.paused);
  if (Status restored = job_types.restore(); !restored.ok()) {
    std::cerr << "dtq: the paused job types: " << restored.message() << "\n";
    return 1;
  }
  api::ApiServer server(settings, *node.jobs, *node.backends.statuses, job_types);
  (*engine)->start();
  lifecycle.on_stop([&engine] { (*engine)->drain(); });
  // Delayed jobs move to the queue when due; stopped before the engine drains.
  node.scheduler->start();
  lifecycle.on_stop([&node] { node.scheduler->stop(); });
  if (Status started = server.start(); !started.ok()) {
    std::cerr << "dtq: " << started.message() << "\n";
    lifecycle.stop();
    return 1;
  }
  lifecycle.on_stop([&server] { server.stop(); });
  std::unique_ptr<api::GrpcJobServer> grpc;
  // The gateway talks to the gRPC JobService: one on loopback if none was asked for.
  auto gateway_launch = locate_gateway(options.gateway);
  if (!options.api.grpc_listen.empty() || gateway_launch) {
    const std::string grpc_listen =
        options.api.grpc_listen.empty() ? "127.0.0.1:0" : options.api.grpc_listen;
    auto started = start_grpc_job_server(grpc_listen, settings, *node.jobs, *node.backends.statuses,
                                         job_types);
    if (!started.ok()) {
      std::cerr << "dtq: " << started.status().message() << "\n";
      lifecycle.stop();
      return 1;
    }
    grpc = std::move(started).value();
    lifecycle.on_stop([&grpc] { grpc->stop(); });
  }
  auto watcher = watch_plugin_folder(common, options.engine, node.plugins, **engine);
  lifecycle.on_stop([&watcher] { watcher.reset(); });
  server.set_ready(true);
  lifecycle.on_stop([&server] { server.set_ready(false); });
  const std::string rest_url =
      "http://" + settings.bind_address + ":" + std::to_string(server.port());
  const std::string grpc_at = grpc ? grpc_host + ":" + std::to_string(grpc->port()) : "";
  std::unique_ptr<GatewaySupervisor> gateway;
  std::string graphql_url;
  if (gateway_launch) {
    // /graphql answers to the same Host names as REST (DNS rebinding).
    for (const auto& host : settings.allowed_hosts) {
      if (!gateway_launch->allowed_hosts.empty()) gateway_launch->allowed_hosts += ",";
      gateway_launch->allowed_hosts += host;
    }
    gateway = start_gateway(
        std::move(*gateway_launch), options.gateway, settings.bind_address, settings.port,
        grpc_host.empty() || grpc_host == "0.0.0.0" || grpc_host == "::" ? "127.0.0.1" : grpc_host,
        grpc->port(), rest_url, graphql_url);
    if (gateway) lifecycle.on_stop([&gateway] { gateway->stop(); });
  }
  const std::filesystem::path data_dir = resolve_data_dir(common);
  print_started(rest_url, options.api.grpc_listen.empty() ? "" : grpc_at, graphql_url, first_key,
                data_dir);
  const std::string signal = lifecycle.wait_for_signal();
  std::cerr << "dtq serve: " << signal << "; stopping the API and draining" << std::endl;
  lifecycle.stop();
  return 0;
}

int run_serve(const CommonOptions& common, const ServeOptions& options) {
  ProcessLifecycle lifecycle;
  // The gRPC JobService gets the same keys and limits as the REST face.
  auto face = api_face(options.api);
  if (!face.ok()) {
    std::cerr << "dtq: " << face.status().message() << "\n";
    return 2;
  }
  const auto retention = retention_policy(options.engine);
  if (!retention) return 2;
  auto node = open_local_node(common, embedded::Role::kOwner, isolation_settings(options.engine),
                              *retention);
  if (!node) return 1;
  auto keys = open_local_api_keys(resolve_data_dir(common));
  if (!keys.ok()) {
    std::cerr << "dtq: the API keys: " << keys.status().message() << "\n";
    return 2;
  }
  face->settings.keys = keys->keys.get();
  face->settings.history = node->history.get();
  auto engine_config = engine_settings(*node, options.engine);
  if (!engine_config) return 2;
  return serve_until_signal(lifecycle, common, options, face->settings, face->grpc_host,
                            keys->first_key, *node, *engine_config);
}

}  // namespace

void add_serve_command(CLI::App& app, CommonOptions& common, int& exit_code) {
  auto options = std::make_shared<ServeOptions>();
  auto* serve =
      app.add_subcommand("serve", "Run the API, the job engine and the UI in one process");
  add_engine_flags(*serve, options->engine);
  add_api_face_flags(*serve, options->api);
  add_gateway_flags(*serve, options->gateway);
  serve->callback([&common, &exit_code, options] {
    (void)configure_logging(common.log_level.empty() ? "info" : common.log_level);
    exit_code = run_serve(common, *options);
  });
}

}  // namespace dtq::cli
