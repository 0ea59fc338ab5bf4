#include "support/plugin_harness.hpp"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>

#include "dtq/core/ids.hpp"
#include "dtq/core/time.hpp"
#include "dtq/host/plugin_loader.hpp"
#include "dtq/host/plugin_settings.hpp"
#include "support/fake_provider.hpp"

namespace dtq::testing {
namespace {

using std::chrono::milliseconds;

// Enough for any one test's lines; older ones are dropped first.
constexpr size_t kCapturedLogLines = 10000;

class RecordingObserver final : public host::JobObserver {
 public:
  void on_progress(const host::JobRequest& /*job*/, int percent,
                   std::string_view message) override {
    std::lock_guard lock(mutex_);
    events_.push_back({percent, std::string(message)});
  }
  std::vector<ProgressEvent> events() const {
    std::lock_guard lock(mutex_);
    return events_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<ProgressEvent> events_;
};

// Cancels a running job from its own thread after a delay, as the engine
// does when a user cancels, unless the job has ended first.
class Canceller {
 public:
  Canceller(const host::Plugin& plugin, host::JobContext& context, milliseconds delay)
      : thread_([this, &plugin, &context, delay] {
          std::unique_lock lock(mutex_);
          if (ended_cv_.wait_for(lock, delay, [this] { return ended_; })) return;
          context.cancel();
          plugin.notify_cancel(context);
        }) {}
  ~Canceller() {
    {
      std::lock_guard lock(mutex_);
      ended_ = true;
    }
    ended_cv_.notify_all();
    thread_.join();
  }
  Canceller(const Canceller&) = delete;
  Canceller& operator=(const Canceller&) = delete;

 private:
  std::mutex mutex_;
  std::condition_variable ended_cv_;
  bool ended_ = false;
  std::thread thread_;  // last, so it starts once the members it uses exist
};

}  // namespace

std::vector<int> JobRun::percents() const {
  std::vector<int> out;
  for (const ProgressEvent& event : progress) out.push_back(event.percent);
  return out;
}

std::vector<std::string> JobRun::messages() const {
  std::vector<std::string> out;
  for (const ProgressEvent& event : progress) out.push_back(event.message);
  return out;
}

std::vector<std::string> error_fields(const host::ValidationOutcome& outcome) {
  std::vector<std::string> out;
  for (const host::FieldError& error : outcome.errors) out.push_back(error.field);
  return out;
}

host::HttpClientSettings fast_http_settings() {
  host::HttpClientSettings settings;
  settings.backoff_base = milliseconds(10);
  settings.backoff_max = milliseconds(100);
  return settings;
}

PluginHarness::PluginHarness(std::string_view job_type, host::HttpClientSettings http)
    : http_(std::move(http)) {
  const auto path = std::filesystem::path(DTQ_PLUGIN_DIR) / (std::string(job_type) + ".so");
  auto loaded = host::load_plugin(path);
  if (!loaded.ok()) throw std::runtime_error(loaded.status().to_string());
  plugin_ = std::move(loaded).value();
}

host::ValidationOutcome PluginHarness::validate(std::string_view payload) const {
  return plugin_->validate(payload);
}

JobRun PluginHarness::run(std::string_view payload, const RunOptions& options) const {
  const host::ValidationOutcome validation = validate(payload);
  if (!validation.valid()) {
    ADD_FAILURE() << plugin_->info().job_type << " refused " << payload << ": "
                  << validation.errors.front().field << " " << validation.errors.front().message;
    JobRun refused;
    refused.outcome.error_code = "harness_invalid_payload";
    return refused;
  }
  return run_unvalidated(validation.normalized_payload, options);
}

JobRun PluginHarness::run_unvalidated(std::string_view payload, const RunOptions& options) const {
  const host::PluginInfo& info = plugin_->info();
  const milliseconds timeout =
      options.timeout > milliseconds(0) ? options.timeout : milliseconds(info.default_timeout_ms);
  const auto started = std::chrono::steady_clock::now();
  host::JobRequest request{
      .job_id = new_uuid4(),
      .job_type = info.job_type,
      .trace_id = new_uuid4(),
      .payload = std::string(payload),
      .attempt = 1,
      .deadline = started + timeout,
  };
  RecordingObserver observer;
  const auto context = host::JobContext::create(
      std::move(request),
      host::outbound_policy(info, {.base_url = shared_fake_provider().base_url()}), http_,
      &observer);
  {
    std::optional<Canceller> canceller;
    if (options.cancel_after) canceller.emplace(*plugin_, *context, *options.cancel_after);
    plugin_->run(*context);
  }
  JobRun run;
  run.outcome = context->finish();
  run.progress = observer.events();
  run.elapsed =
      std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - started);
  return run;
}

LogCapture::LogCapture()
    : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(kCapturedLogLines)),
      previous_(spdlog::default_logger()) {
  auto logger = std::make_shared<spdlog::logger>("dtq-test-capture", sink_);
  logger->set_level(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
}

LogCapture::~LogCapture() {
  spdlog::set_default_logger(previous_);
}

std::string LogCapture::text() const {
  std::string out;
  for (const std::string& line : sink_->last_formatted()) out += line;
  return out;
}

}  // namespace dtq::testing
