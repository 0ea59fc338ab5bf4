// IsolatedPlugin: a plugin served by supervised runner processes
// (dtq-plugin-runner, plugin_runner.hpp) instead of being loaded into this
// one. This process never runs the plugin's code, not even its checks: the
// first runner loads the library and reports its metadata, or the loader's
// reason for refusing it.
//
// One shared runner serves every job of the plugin at once, and another one
// every validation, so that under load one write carries many requests and
// many answers: isolation costs a job a few microseconds, not a round trip
// of its own (docs/engine.md#isolation measures it). What the supervisor
// guarantees:
// - a crash, abort or exit of a runner ends only the requests it was
//   serving. Who pays: a request that was alone on the runner ends as
//   `plugin_crashed` (retryable, so it counts as an attempt), naming the
//   signal or the exit status. Requests that shared the runner are suspects,
//   not culprits: each is run again, alone, in a quarantine runner of its
//   own, and only a crash there is charged to it. The next requests get a
//   new shared runner, after a backoff once runners keep crashing;
// - a job that outlives its deadline by `kill_grace` — the plugin ignored
//   cancellation — has its runner killed and ends as `timeout`; the jobs it
//   shared the runner with are re-run in quarantine. No thread or slot is
//   lost;
// - validate() has a time limit; past it the runner is killed and the
//   answer is DeadlineExceeded, never a verdict on the payload;
// - a runner has no network of its own and the resource limits below; its
//   HTTP goes through this process's client and the plugin's allow-list.
//
// Thread-safety: every member function may be called from any thread.
// Ownership: the object owns its runner processes; destroying it kills them,
// the quarantine runners of its jobs too, and ends the jobs still running
// as `plugin_unavailable` (retryable) before it returns.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "dtq/core/status.hpp"
#include "dtq/core/thread_annotations.hpp"
#include "dtq/core/time.hpp"
#include "dtq/host/plugin.hpp"
#include "dtq/host/plugin_loader.hpp"

namespace dtq::host {

namespace runner {
struct FrameView;  // runner_protocol.hpp, private to the host
}
struct JobRequest;  // job_context.hpp

struct RunnerSettings {
  // The runner binary; default_runner_executable() when empty.
  std::filesystem::path executable;
  uint64_t max_memory_mb = 1024;  // address space per runner; 0 = no limit
  uint64_t max_open_files = 256;
  uint64_t max_cpu_seconds = 0;  // per runner over its life; 0 = no limit
  bool isolate_network = true;
  // How long past its deadline a job that ignores cancellation may run
  // before its runner is killed.
  std::chrono::milliseconds kill_grace{2000};
  std::chrono::milliseconds validate_timeout{5000};
  // How long a new runner may take to load its plugin.
  std::chrono::milliseconds start_timeout{10000};
};

// $DTQ_PLUGIN_RUNNER, else dtq-plugin-runner beside this process's binary.
std::filesystem::path default_runner_executable();

class IsolatedPlugin final : public Plugin, public std::enable_shared_from_this<IsolatedPlugin> {
 public:
  // Starts the first runner, which loads `library`; the loader's refusal,
  // or the runner's failure to start, as an error.
  static StatusOr<std::shared_ptr<IsolatedPlugin>> start(const std::filesystem::path& library,
                                                         RunnerSettings settings);
  ~IsolatedPlugin() override;
  IsolatedPlugin(const IsolatedPlugin&) = delete;
  IsolatedPlugin& operator=(const IsolatedPlugin&) = delete;

  const PluginInfo& info() const noexcept override { return info_; }
  StatusOr<ValidationOutcome> check(std::string_view payload) const override;
  // Every Validate frame in one write to the shared runner; a payload whose
  // answer the runner's death took is checked again alone, as check() does.
  std::vector<StatusOr<ValidationOutcome>> check_batch(
      std::span<const std::string_view> payloads) const override;
  void run(JobContext& context) const override;
  void run_async(std::shared_ptr<JobContext> context, std::function<void()> done) const override;
  // Every Run frame of the batch in one write to the shared runner.
  void run_batch(std::vector<AsyncAttempt> attempts) const override;
  // A single-threaded plugin's attempts wait for the pool's one slot each.
  bool runs_batches() const noexcept override { return !info_.single_threaded; }
  bool validates_on_run() const noexcept override { return true; }
  void notify_cancel(JobContext& context) const override;

  PluginHealth health() const override;

  class Runner;  // one runner process; defined in isolated_plugin.cpp

 private:
  IsolatedPlugin(PluginInfo info, RunnerSettings settings, std::shared_ptr<Runner> first);

  enum class Role { kRun = 0, kValidate = 1 };
  // How one validation on one runner ended.
  enum class Ending {
    kAnswered,      // the runner answered; the outcome is recorded
    kTimedOut,      // past its deadline; the runner was killed
    kCrashedAlone,  // the runner died serving this request alone: charged
    kCrashedShared  // the runner died serving others too: a suspect
  };
  // The shared runner for `role`, started when none is alive.
  StatusOr<std::shared_ptr<Runner>> shared_runner(Role role) const;
  // A new runner, after the crash backoff.
  StatusOr<std::shared_ptr<Runner>> start_runner() const;
  struct AsyncRun;
  // Starts `run` on the shared runner (or in quarantine if it died first).
  void start(const std::shared_ptr<AsyncRun>& run) const;
  // false when `runner` is gone already.
  bool start_on(const std::shared_ptr<AsyncRun>& run, const std::shared_ptr<Runner>& runner) const;
  // start_on() for each of `runs`, but for sending their Run frames, which
  // it appends to `frames`: the runs and their calls registered under one
  // lock each. The runs it could not register (`runner` is gone already).
  std::vector<std::shared_ptr<AsyncRun>> open_on(std::span<const std::shared_ptr<AsyncRun>> runs,
                                                 const std::shared_ptr<Runner>& runner,
                                                 std::string& frames) const;
  // A frame for a job started with run_async() (null: its runner is gone).
  void on_frame(AsyncRun& run, const runner::FrameView* frame, bool timed_out, bool suspect) const;
  void forget(AsyncRun& run) const;
  // running_'s list operations; mutex_ held.
  void list_running_locked(AsyncRun& run) const DTQ_REQUIRES(mutex_);
  void unlist_running_locked(AsyncRun& run) const DTQ_REQUIRES(mutex_);
  // Runs a suspect again, alone, in a runner of its own, on a thread of its own.
  void quarantine(const std::shared_ptr<AsyncRun>& run) const;
  Deadline hard_deadline(const JobRequest& job) const;
  void fail_timeout(JobContext& context, pid_t runner) const;
  void fail_crashed(JobContext& context, const std::string& how) const;
  Ending validate_on(std::string_view payload, Runner& runner,
                     StatusOr<ValidationOutcome>& outcome) const;
  // The Validate frame of request `id` for `payload`.
  static std::string validate_frame(uint64_t id, std::string_view payload);
  // A validation request registered on a runner and sent.
  struct SentValidation;
  // validate_on() once `sent`: waits for its answer until `until`.
  Ending await_validation(Runner& runner, const SentValidation& sent, Deadline until,
                          StatusOr<ValidationOutcome>& outcome) const;
  uint64_t next_request() const {
    return next_request_.fetch_add(1, std::memory_order_relaxed) + 1;
  }
  void record_crash(const std::string& reason) const;
  void record_success() const;

  PluginInfo info_;
  RunnerSettings settings_;

  mutable Mutex mutex_;
  mutable std::shared_ptr<Runner> shared_[2] DTQ_GUARDED_BY(mutex_);  // by Role
  // One runner start at a time per role: callers that find none alive wait
  // for the one being started instead of each starting their own.
  mutable Mutex starting_[2];
  // Every job on its way through a runner, for cancel and health: a list
  // threaded through the runs themselves, which a job enters and leaves
  // without an allocation or a search.
  mutable AsyncRun* running_ DTQ_GUARDED_BY(mutex_) = nullptr;
  // Set by the destructor: a job whose runner dies now is not quarantined.
  mutable bool unloading_ DTQ_GUARDED_BY(mutex_) = false;
  mutable std::atomic<uint64_t> next_request_{0};
  mutable PluginHealth health_ DTQ_GUARDED_BY(mutex_);
  // Whether health_.consecutive_crashes may be above 0: a success after
  // successes takes no lock.
  mutable std::atomic<bool> crashed_since_success_{false};
};

// How a host runs the plugins of its plugin folder.
struct IsolationSettings {
  // Every plugin in runner processes, but those named in `in_process`; or,
  // when false, every plugin in this process (trusted plugins only).
  bool isolate = true;
  // Library file names without ".so" (weather for weather.so) of trusted
  // plugins to load into this process even when `isolate` is set.
  std::set<std::string, std::less<>> in_process;
  RunnerSettings runner;
};

// Starts the plugin `library` in runners, or loads it in process where
// `settings` say so for its name (file name without ".so"). `load_from`, when
// given, is the file actually opened (the watcher's content-addressed copy).
StatusOr<std::shared_ptr<Plugin>> start_plugin(const std::filesystem::path& library,
                                               const IsolationSettings& settings,
                                               const std::filesystem::path& load_from = {});

// Starts (or loads, where `settings` says so) every *.so in `directory`,
// not recursive, refusing duplicate job types like load_plugin_directory().
StatusOr<LoadReport> start_plugin_directory(const std::filesystem::path& directory,
                                            BadPluginPolicy policy,
                                            const IsolationSettings& settings);

}  // namespace dtq::host
