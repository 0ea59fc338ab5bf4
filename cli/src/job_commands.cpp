// Dead-letter verbs on the embedded data folder: dead-letters and replay.
// They reach a running `dtq worker` or `dtq serve` through the shared data
// folder; the everyday job verbs talk to the API (client_commands.cpp).
#include <iomanip>
#include <iostream>

#include "commands.hpp"
#include "dtq/core/logging.hpp"
#include "local_node.hpp"

namespace dtq::cli {
namespace {

int exit_code_for(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kNotFound:
    case StatusCode::kFailedPrecondition:
      return 2;
    default:
      return 1;
  }
}

int report(const Status& status) {
  std::cerr << "dtq: " << status.message() << "\n";
  return exit_code_for(status);
}

}  // namespace

void add_job_commands(CLI::App& app, CommonOptions& common, int& exit_code) {
  const auto client = [&common]() {
    (void)configure_logging(common.log_level.empty() ? "warn" : common.log_level);
    return open_local_node(common, embedded::Role::kClient);
  };

  auto dead_type = std::make_shared<std::string>();
  auto dead_limit = std::make_shared<size_t>(50);
  auto* dead = app.add_subcommand("dead-letters", "List failed jobs kept for replay, newest first");
  dead->add_option("--type", *dead_type, "Only this job type");
  dead->add_option("--limit", *dead_limit, "At most this many");
  dead->callback([=, &exit_code] {
    auto node = client();
    if (!node) return void(exit_code = 1);
    auto letters = node->jobs->dead_letters(*dead_type, *dead_limit);
    if (!letters.ok()) return void(exit_code = report(letters.status()));
    std::cout << std::left << std::setw(38) << "JOB ID" << std::setw(16) << "TYPE" << std::setw(26) << "FAILED AT"
              << std::setw(10) << "ATTEMPTS" << "ERROR\n";
    for (const auto& letter : *letters) {
      std::cout << std::left << std::setw(38) << letter.message.job_id << std::setw(16) << letter.message.job_type
                << std::setw(26) << letter.failed_at << std::setw(10) << letter.attempts << letter.error.code
                << ": " << letter.error.message
                << (letter.replayed_as.empty() ? "" : " (replayed as " + letter.replayed_as + ")") << "\n";
    }
    exit_code = 0;
  });

  auto replay_id = std::make_shared<std::string>();
  auto* replay = app.add_subcommand("replay", "Enqueue a dead-lettered job again, as a new job");
  replay->add_option("job_id", *replay_id, "The dead-lettered job's id")->required();
  replay->callback([=, &exit_code] {
    auto node = client();
    if (!node) return void(exit_code = 1);
    auto new_id = node->jobs->replay(*replay_id);
    if (!new_id.ok()) return void(exit_code = report(new_id.status()));
    std::cout << *new_id << "\n";
    exit_code = 0;
  });
}

}  // namespace dtq::cli
