// PluginHarness: runs one built plugin the way the worker host does — loaded
// through the C ABI, payload checked by its validate(), job run in a
// JobContext whose HTTP goes through the host's HttpClient with the outbound
// policy redirected to the shared fake provider — and records what the job
// reported. LogCapture collects the host's log lines for assertions.
//
// Thread-safety: a harness may run jobs from several threads at once; a
// LogCapture is meant for one test at a time (it swaps spdlog's default
// logger). Ownership: the harness owns its Plugin and HttpClient; results
// own copies of everything.
#pragma once

#include <spdlog/logger.h>
#include <spdlog/sinks/ringbuffer_sink.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dtq/host/http_client.hpp"
#include "dtq/host/job_context.hpp"
#include "dtq/host/plugin.hpp"

namespace dtq::testing {

struct ProgressEvent {
  int percent = 0;
  std::string message;
};

struct JobRun {
  host::JobOutcome outcome;
  std::vector<ProgressEvent> progress;  // in the order reported
  std::chrono::milliseconds elapsed{0};

  std::vector<int> percents() const;
  std::vector<std::string> messages() const;
};

struct RunOptions {
  // The job's deadline, from its start; 0 = the plugin's default timeout.
  std::chrono::milliseconds timeout{0};
  // Cancels the job from another thread this long after it starts.
  std::optional<std::chrono::milliseconds> cancel_after;
};

// The JSON Pointers of a refused payload's field errors, in order.
std::vector<std::string> error_fields(const host::ValidationOutcome& outcome);

// HttpClient settings for tests: the host's defaults but with backoff of
// 10..100 ms, so retried faults cost little time.
host::HttpClientSettings fast_http_settings();

class PluginHarness {
 public:
  // Loads DTQ_PLUGIN_DIR/<job_type>.so; throws std::runtime_error naming the
  // loader's reason when it is refused.
  explicit PluginHarness(std::string_view job_type,
                         host::HttpClientSettings http = fast_http_settings());

  const host::Plugin& plugin() const noexcept { return *plugin_; }
  host::ValidationOutcome validate(std::string_view payload) const;

  // Validates `payload` and runs the normalized payload; a payload the plugin
  // refuses fails the test and yields a "harness_invalid_payload" outcome.
  JobRun run(std::string_view payload, const RunOptions& options = {}) const;
  // Runs `payload` as given, without validate(): for run()'s own checks.
  JobRun run_unvalidated(std::string_view payload, const RunOptions& options = {}) const;

 private:
  std::shared_ptr<host::Plugin> plugin_;
  host::HttpClient http_;
};

// Routes every spdlog line, at every level, to memory while it lives, then
// restores the previous default logger.
class LogCapture {
 public:
  LogCapture();
  ~LogCapture();
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  // Every line logged so far, formatted, one per line.
  std::string text() const;

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
  std::shared_ptr<spdlog::logger> previous_;
};

}  // namespace dtq::testing
