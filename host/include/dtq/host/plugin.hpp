// Plugin: one job handler, seen by the engine and the API. Holds the metadata
// copied out of the plugin's descriptor and calls its hooks.
//
// Two implementations: InProcessPlugin (plugin_loader.hpp) calls a library
// loaded into this process; IsolatedPlugin (isolated_plugin.hpp) forwards
// each call to a supervised runner process, so that a plugin crash, exit or
// hang costs only its runner. Callers cannot tell them apart.
//
// Thread-safety: validate() and run() may be called from many threads at
// once; for a plugin that declared itself single-threaded, run() serialises
// its calls. Ownership: the registry owns Plugins through shared_ptr; a
// library loaded into a process is never unloaded while that process runs.
#pragma once

#include <dtq/plugin.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "dtq/core/ports/payload_validator.hpp"
#include "dtq/core/status.hpp"

namespace dtq::host {

class JobContext;

// The plugin's descriptor, copied into owned strings.
struct PluginInfo {
  std::string name;
  std::string job_type;
  std::string version;
  std::string sdk_version;
  std::string description;
  std::string payload_schema_json;
  std::vector<std::string> allowed_hosts;
  uint32_t abi_major = 0;
  uint32_t abi_minor = 0;
  uint32_t default_concurrency = 0;
  uint32_t default_timeout_ms = 0;
  uint32_t default_max_attempts = 0;
  bool single_threaded = false;
  std::filesystem::path path;  // the library it came from
};

using dtq::FieldError;
using dtq::ValidationOutcome;

// How a plugin's runner processes fare; all zero for an in-process plugin.
struct PluginHealth {
  bool isolated = false;
  bool network_isolated = false;
  uint64_t crashes = 0;              // runners lost while serving, ever
  uint32_t consecutive_crashes = 0;  // since the last request served
  std::string last_crash;            // what the last one died of
  uint32_t runners = 0;              // alive now
  // Three requests in a row lost their runner: the plugin itself is broken.
  bool crash_looping() const noexcept { return consecutive_crashes >= 3; }
};

class Plugin {
 public:
  virtual ~Plugin() = default;

  virtual const PluginInfo& info() const noexcept = 0;

  // Asks the plugin whether `payload` is acceptable; never throws for bad
  // input. An isolated plugin that cannot answer (its runner crashed or
  // overran the validation time limit) says so as an error Status, so the
  // client hears "try again" rather than "your payload is wrong".
  virtual StatusOr<ValidationOutcome> check(std::string_view payload) const = 0;

  // check() of each payload, answered in their order. An isolated plugin
  // sends its runner them all in one write and reads the answers as they
  // come, so a batch costs one round trip; this default checks one after
  // another.
  virtual std::vector<StatusOr<ValidationOutcome>> check_batch(
      std::span<const std::string_view> payloads) const {
    std::vector<StatusOr<ValidationOutcome>> outcomes;
    outcomes.reserve(payloads.size());
    for (const std::string_view payload : payloads) outcomes.push_back(check(payload));
    return outcomes;
  }

  // check(), with a failure to answer reported as a whole-payload error.
  ValidationOutcome validate(std::string_view payload) const;

  // Runs one attempt; the outcome is recorded in `context`.
  virtual void run(JobContext& context) const = 0;

  // Runs one attempt like run(), but may return before it ends: `done` is
  // called exactly once, on any thread, after the outcome is recorded in
  // `context`. An isolated plugin returns at once and calls `done` from its
  // channel's reader, so that no thread waits on each job; this default
  // runs the attempt on the calling thread.
  // NOLINTNEXTLINE(performance-unnecessary-value-param): overrides keep both
  virtual void run_async(std::shared_ptr<JobContext> context, std::function<void()> done) const {
    run(*context);
    done();
  }

  // One attempt of a batch for run_batch().
  struct AsyncAttempt {
    std::shared_ptr<JobContext> context;
    std::function<void()> done;
  };
  // Starts each attempt like run_async(). An isolated plugin hands its
  // runner the whole batch in one write, so that under load a job costs no
  // system call of its own; this default starts them one after another.
  virtual void run_batch(std::vector<AsyncAttempt> attempts) const {
    for (auto& attempt : attempts) run_async(std::move(attempt.context), std::move(attempt.done));
  }
  // Whether run_batch() returns at once and saves work over a run() per
  // job: a worker pool then takes its jobs in batches (worker_pool.hpp).
  [[nodiscard]] virtual bool runs_batches() const noexcept { return false; }

  // Whether run() checks the payload first, ending the attempt as a
  // non-retryable `invalid_payload` failure when it is refused: an isolated
  // plugin does so in its runner, which spares each job a round trip.
  // Otherwise the caller validates before it runs.
  virtual bool validates_on_run() const noexcept { return false; }

  // Tells the plugin that `context` was cancelled (its optional cancel hook).
  virtual void notify_cancel(JobContext& context) const = 0;

  virtual PluginHealth health() const { return {}; }
};

// A plugin whose library is loaded into this process: its init() ran here,
// and a crash in any of its hooks is a crash of this process.
class InProcessPlugin final : public Plugin {
 public:
  // `api` and `state` come from a successful init(); shutdown() runs in the
  // destructor.
  InProcessPlugin(PluginInfo info, const dtq_plugin_api* api, void* state);
  ~InProcessPlugin() override;
  InProcessPlugin(const InProcessPlugin&) = delete;
  InProcessPlugin& operator=(const InProcessPlugin&) = delete;

  const PluginInfo& info() const noexcept override { return info_; }
  StatusOr<ValidationOutcome> check(std::string_view payload) const override;
  void run(JobContext& context) const override;
  void notify_cancel(JobContext& context) const override;

  // The raw hooks with a host API table of the caller's: how a runner
  // process serves a job for its supervisor (plugin_runner.hpp).
  void run_with(const dtq_host_api* host, const dtq_job* job, dtq_job_ctx* context) const;
  void cancel_with(dtq_job_ctx* context) const;

 private:
  PluginInfo info_;
  const dtq_plugin_api* api_;
  void* state_;
  mutable std::mutex single_thread_mutex_;
};

}  // namespace dtq::host
