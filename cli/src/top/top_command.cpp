// `dtq top`: registers the sub-command. The server and the key are found as
// the other client verbs find them (--server; $DTQ_API_KEY, else
// $DTQ_API_TOKEN), so a server that asks for a key on reads gets one.
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <memory>

#include "../commands.hpp"
#include "top_app.hpp"

namespace dtq::cli {
namespace {

std::string top_key() {
  for (const char* variable : {"DTQ_API_KEY", "DTQ_API_TOKEN"}) {
    // NOLINTNEXTLINE(concurrency-mt-unsafe): read before any thread starts
    if (const char* key = std::getenv(variable); key != nullptr && *key != '\0') return key;
  }
  return {};
}

}  // namespace

void add_top_command(CLI::App& app, CommonOptions& /*common*/, int& exit_code) {
  auto options = std::make_shared<top::TopOptions>();
  options->server = "http://127.0.0.1:8080";
  auto* top = app.add_subcommand("top", "Live dashboard of a dtq server's jobs, in the terminal");
  top->add_option("--server", options->server,
                  "API server: an http(s):// URL (REST), or grpc://HOST:PORT (gRPC)")
      ->capture_default_str();
  top->add_flag("--no-color", options->no_color, "Draw without colour (as NO_COLOR does)");
  top->add_option("--failure-threshold", options->failure_threshold,
                  "Alert when more than this share of a type's jobs failed in the last minute")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  top->callback([options, &exit_code] {
    if (isatty(STDIN_FILENO) == 0 || isatty(STDOUT_FILENO) == 0) {
      std::cerr << "dtq top: needs a terminal (use `dtq jobs` in scripts)\n";
      return void(exit_code = 2);
    }
    options->key = top_key();
    exit_code = top::run_top(*options);
  });
}

}  // namespace dtq::cli
