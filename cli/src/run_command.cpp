// `dtq run TYPE 'JSON'`: validate and run one job in this process, with a
// live progress bar — the plugin author's inner loop. One attempt, no queue.
#include <csignal>
#include <iostream>
#include <thread>

#include "commands.hpp"
#include "dtq/core/ids.hpp"
#include "dtq/core/logging.hpp"
#include "dtq/host/job_context.hpp"
#include "dtq/host/plugin_loader.hpp"
#include "dtq/host/plugin_settings.hpp"
#include "progress_bar.hpp"

namespace dtq::cli {
namespace {

constexpr uint32_t kDefaultTimeoutMs = 60'000;

class BarObserver final : public host::JobObserver {
 public:
  explicit BarObserver(ProgressBar& bar) : bar_(bar) {}
  void on_progress(const host::JobRequest&, int percent, std::string_view message) override {
    bar_.update(percent, message);
  }

 private:
  ProgressBar& bar_;
};

struct RunOptions {
  std::string job_type;
  std::string payload;
  uint32_t timeout_ms = 0;
};

// The plugin for `job_type` from the plugin folder; null after saying why
// (with the loader's reasons for any library it refused).
std::shared_ptr<host::Plugin> find_plugin(const CommonOptions& common,
                                          const std::string& job_type) {
  auto loaded =
      host::load_plugin_directory(resolve_plugin_dir(common), host::BadPluginPolicy::kQuarantine);
  if (!loaded.ok()) {
    std::cerr << "dtq: " << loaded.status().message() << "\n";
    return nullptr;
  }
  std::string known;
  for (const auto& candidate : loaded->plugins) {
    if (candidate->info().job_type == job_type) return candidate;
    known += (known.empty() ? "" : ", ") + candidate->info().job_type;
  }
  std::cerr << "dtq: unknown job type \"" << job_type << "\" (loaded: " << known << ")\n";
  // The plugin the user meant may be one the loader refused: say why.
  for (const auto& rejected : loaded->rejected) {
    std::cerr << "dtq: refused: " << rejected.reason.message() << "\n";
  }
  return nullptr;
}

// Prints the outcome (the result on stdout) and returns the exit status.
int report(const host::JobOutcome& outcome) {
  switch (outcome.kind) {
    case host::JobOutcome::Kind::kCompleted:
      std::cout << outcome.output_json << "\n";
      return 0;
    case host::JobOutcome::Kind::kCancelled:
      std::cerr << "cancelled\n";
      return 1;
    case host::JobOutcome::Kind::kFailed:
      std::cerr << "failed: " << outcome.error_code << ": " << outcome.error_message
                << (outcome.retryable ? " (retryable)" : " (permanent)") << "\n";
      return 1;
  }
  return 1;
}

int run_job(const CommonOptions& common, const RunOptions& options) {
  const auto plugin = find_plugin(common, options.job_type);
  if (!plugin) return 2;
  const auto validation = plugin->validate(options.payload);
  if (!validation.valid()) {
    std::cerr << "dtq: invalid payload for " << options.job_type << ":\n";
    for (const auto& error : validation.errors) {
      std::cerr << "  " << (error.field.empty() ? "(payload)" : error.field) << ": "
                << error.message << "\n";
    }
    return 2;
  }

  const auto& info = plugin->info();
  const uint32_t timeout_ms = options.timeout_ms != 0        ? options.timeout_ms
                              : info.default_timeout_ms != 0 ? info.default_timeout_ms
                                                             : kDefaultTimeoutMs;
  host::JobRequest request;
  request.job_id = new_uuid4();
  request.job_type = info.job_type;
  request.trace_id = new_uuid4();
  request.payload = validation.normalized_payload;
  request.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  auto settings = host::plugin_settings_from_env(info.job_type);
  if (!settings.ok()) {
    std::cerr << "dtq: " << settings.status().message() << "\n";
    return 2;
  }
  if (settings->max_result_bytes) request.max_result_bytes = *settings->max_result_bytes;

  host::HttpClient http;
  ProgressBar bar(stderr);
  BarObserver observer(bar);
  const auto context =
      host::JobContext::create(request, host::outbound_policy(info, *settings), http, &observer);
  std::cerr << "job " << request.job_id << " (" << info.job_type << ")\n";
  plugin->run(*context);
  const host::JobOutcome outcome = context->finish();
  if (outcome.kind == host::JobOutcome::Kind::kCompleted) bar.update(100, "completed");
  bar.close();
  return report(outcome);
}

}  // namespace

void add_run_command(CLI::App& app, CommonOptions& common, int& exit_code) {
  auto options = std::make_shared<RunOptions>();
  auto* run =
      app.add_subcommand("run", "Validate and run one job in this process, showing progress");
  run->add_option("type", options->job_type, "Job type, e.g. weather")->required();
  run->add_option("payload", options->payload, "Payload as a JSON object")->required();
  run->add_option("--timeout-ms", options->timeout_ms, "Override the plugin's timeout");
  run->callback([&common, &exit_code, options] {
    (void)configure_logging(common.log_level.empty() ? "warn" : common.log_level);
    exit_code = run_job(common, *options);
  });
}

}  // namespace dtq::cli
