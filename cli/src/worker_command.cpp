// `dtq worker`: run the job engine on the embedded backends in the data
// folder until SIGTERM/SIGINT, then drain.
#include <iostream>

#include "commands.hpp"
#include "dtq/core/logging.hpp"
#include "local_node.hpp"

namespace dtq::cli {
namespace {

int run_worker(const CommonOptions& common, const EngineFlags& options) {
  auto node = open_local_node(common, embedded::Role::kOwner);
  if (!node) return 1;
  auto settings = engine_settings(*node, options);
  if (!settings) return 2;

  host::HttpClient http;
  auto engine = host::Engine::create(
      node->plugins, *settings,
      host::Backends{*node->backends.queue, *node->backends.statuses, *node->backends.results}, http);
  if (!engine.ok()) {
    std::cerr << "dtq: " << engine.status().message() << "\n";
    return 2;
  }
  std::cerr << "dtq worker: data in " << resolve_data_dir(common).string() << "; pools:";
  for (const auto* pool : (*engine)->pools()) std::cerr << " " << pool->plugin().info().job_type;
  std::cerr << std::endl;
  (*engine)->run_until_signal();
  return 0;
}

}  // namespace

void add_worker_command(CLI::App& app, CommonOptions& common, int& exit_code) {
  auto options = std::make_shared<EngineFlags>();
  auto* worker = app.add_subcommand("worker", "Run the job engine on the embedded backends until SIGTERM");
  add_engine_flags(*worker, *options);
  worker->callback([&common, &exit_code, options] {
    (void)configure_logging(common.log_level.empty() ? "info" : common.log_level);
    exit_code = run_worker(common, *options);
  });
}

}  // namespace dtq::cli
