// WorkerPool: the workers of one plugin. Each of `concurrency` threads takes a
// job from the queue, marks it running, runs attempts through the plugin with
// retries and backoff, stores the outcome, and only then acknowledges it.
//
// Guarantees (with the port contracts):
//  - at-least-once delivery, exactly one result per job id: a redelivered job
//    whose result is already stored is acknowledged without running again;
//  - progress never goes backwards, across retries and redeliveries too;
//  - each attempt's number is durable in the status store before the plugin
//    runs, so a job whose attempts kill the process is dead-lettered
//    (attempts_exhausted) once they are used up, never run in a loop;
//  - a job past its timeout is cancelled; if the plugin ignores that for
//    `cancel_grace`, the pool gives up on the thread, frees the slot with a
//    fresh one and fails (or redelivers) the attempt. The abandoned thread
//    cannot be reclaimed in-process: it ends only if the plugin returns;
//  - a single-threaded plugin's attempts wait for its one thread no longer
//    than their own timeout, then fail as plugin_busy (retryable): a hung
//    attempt never wedges the pool's other workers;
//  - cancellation requested through the status store reaches the running
//    plugin within a supervisor tick;
//  - progress reaches the status store coalesced (see JobContext); a message
//    held back is written within a supervisor tick of its interval;
//  - drain(): no new work; in-flight jobs finish until the deadline, then are
//    cancelled and released for redelivery, never lost;
//  - set_paused(true): no new work until set_paused(false); in-flight jobs
//    finish as usual. Idle workers sleep on the pool's condition variable
//    (no polling) and wake at once on resume or stop.
//
// A plugin that runs batches (an isolated one: Plugin::runs_batches()) is
// fed in batches instead. A worker reserves every free slot, takes as many
// jobs with one take(), and records all their attempts with one
// update_durable_batch() (one commit), but does not wait for them to run:
// it hands them to the launch queue and goes on. Freeing slots wakes one
// worker, however many slots, and a worker that leaves slots free wakes the
// next. Whoever finds the launch queue idle starts everything queued with
// one run_batch() (one write to the runner), and more while more arrive;
// one settler thread per pool settles the attempts as they end, many per
// wake-up. Concurrency still bounds the jobs in flight, counted in slots
// held from the take until the job is settled. A retry goes back to a
// worker, which waits out the backoff and runs it on its own thread (as
// above), so no backoff holds up the settler. An attempt given up on frees
// its slot at once, as a replaced thread does (a runner ends it by its
// hard deadline, isolated_plugin.hpp).
//
// Outcomes are persisted by one completer thread per pool, in batches: the
// results first (one durable round trip for the batch), then each status,
// then each ack. Worker threads hand an outcome over and take the next job at
// once, so no worker ever waits for a commit. When the result store fails,
// the completer keeps the outcomes and retries with backoff: a job never
// runs again because its result could not be stored, and a result the store
// refuses (InvalidArgument) fails its own job as result_not_stored, never its
// batch-mates.
//
// Thread-safety: start/stop_taking/drain from one controlling thread; stats(),
// set_paused and paused() from any. Ownership: borrows the ports and the HTTP client, which must
// outlive the pool; shares the plugin.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <thread>

#include "dtq/core/ports/job_queue.hpp"
#include "dtq/core/ports/result_store.hpp"
#include "dtq/core/ports/status_store.hpp"
#include "dtq/core/thread_annotations.hpp"
#include "dtq/host/job_context.hpp"
#include "dtq/host/plugin.hpp"
#include "dtq/host/plugin_settings.hpp"

namespace dtq::host {

struct PoolSettings {
  uint32_t concurrency = 4;
  std::chrono::milliseconds timeout{60'000};
  uint32_t max_attempts = 3;
  size_t max_result_bytes = kDefaultMaxResultBytes;
  std::chrono::milliseconds backoff_base{1'000};
  std::chrono::milliseconds backoff_max{60'000};
  // How long a plugin may keep running after its timeout or a cancellation
  // before the pool stops waiting for it.
  std::chrono::milliseconds cancel_grace{5'000};
  std::chrono::milliseconds supervisor_tick{50};
};

// The plugin's hints, overridden by the operator's settings.
PoolSettings resolve_pool_settings(const PluginInfo& plugin, const PluginSettings& settings);

struct EnginePorts {
  JobQueue& queue;
  StatusStore& statuses;
  ResultStore& results;
};

// Upper bounds (seconds) of the attempt-duration buckets: from a cached
// answer to a job near a typical timeout.
inline constexpr std::array<double, 13> kAttemptDurationBounds{
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

// Counters since the pool started, for the worker's metrics.
struct PoolStats {
  uint64_t completed = 0;
  uint64_t failed = 0;
  uint64_t cancelled = 0;
  uint64_t retried = 0;
  uint64_t released = 0;
  uint64_t abandoned = 0;  // attempts whose plugin ignored cancellation past the grace
  uint32_t in_flight = 0;
  uint64_t started = 0;        // attempts handed to the plugin
  uint64_t dead_lettered = 0;  // failed jobs the queue took as dead letters
  // Calls to a port that failed, by port.
  uint64_t queue_errors = 0;
  uint64_t status_errors = 0;
  uint64_t result_errors = 0;
  // Attempts by duration: a count per bucket of kAttemptDurationBounds (not
  // cumulative; the last counts those past every bound), and their sum.
  std::array<uint64_t, kAttemptDurationBounds.size() + 1> attempt_duration_buckets{};
  double attempt_duration_sum_seconds = 0;
};

class WorkerPool final : private JobObserver {
 public:
  WorkerPool(std::shared_ptr<Plugin> plugin, PoolSettings settings, EnginePorts backends,
             const HttpClient& http, OutboundPolicy policy);
  ~WorkerPool() override;
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void start();
  void stop_taking();
  void drain(Deadline deadline);
  // Paused: the workers take no new jobs. Pausing returns once no worker is
  // inside take(), so that no job is taken after it returns (a take in
  // progress ends within its wait, 200 ms). Idempotent.
  void set_paused(bool paused);
  bool paused() const noexcept { return paused_; }

  PoolStats stats() const;
  const PoolSettings& settings() const noexcept { return settings_; }
  const Plugin& plugin() const noexcept { return *plugin_; }

 private:
  // One attempt in flight. Exactly one of the worker that ran it and the
  // supervisor that gave up on it "claims" it and handles its outcome.
  struct Attempt {
    std::shared_ptr<JobContext> context;
    Delivery delivery;
    std::string started_at;
    std::thread::id worker;
    std::atomic<bool> claimed{false};
    bool cancel_sent = false;
    std::chrono::steady_clock::time_point cancel_sent_at;
    // Started through the launch queue: no thread waits on it, so
    // abandon() replaces none.
    bool launched = false;
    std::chrono::steady_clock::time_point began;
  };
  // Launched attempts that ended, for the settler. Shared with their done
  // callbacks, which may come after the pool is gone.
  struct Ended {
    Mutex mutex;
    CondVar news;
    std::vector<std::shared_ptr<Attempt>> attempts DTQ_GUARDED_BY(mutex);
    bool stop DTQ_GUARDED_BY(mutex) = false;
    void push(std::shared_ptr<Attempt> attempt);
    // Moves out what ended, waiting for something; false once stopped and
    // nothing is left.
    bool wait(std::vector<std::shared_ptr<Attempt>>& out);
  };
  // A launched attempt that failed and may be retried, for a worker.
  struct Retry {
    std::shared_ptr<Attempt> attempt;
    JobOutcome outcome;
  };

  // The one slot of a single-threaded plugin. Shared with the workers, so
  // that an abandoned one whose plugin returns late still finds it.
  struct SingleThread {
    Mutex mutex;
    CondVar freed;
    bool busy DTQ_GUARDED_BY(mutex) = false;

    // False when `context` was interrupted (deadline, cancellation) first.
    bool acquire(const JobContext& context);
    void release();
  };
  // Runs the attempt; false when it never ran because a single-threaded
  // plugin stayed busy until the attempt's deadline.
  static bool run_attempt(const Plugin& plugin, const std::shared_ptr<SingleThread>& single_thread,
                          JobContext& context);

  void worker_loop();
  // Batches: records the deliveries' attempts (one durable write) and
  // launches them (one run_batch(), with whatever else is queued by then).
  void launch(std::vector<Delivery>& deliveries);
  // Batches: the settler thread.
  void settle_loop();
  // After attempt `number` of `delivery` ended with `outcome`: settles it,
  // and runs the retries it calls for on this thread. False when the
  // supervisor gave up on this thread (see process()).
  bool continue_attempts(const Delivery& delivery, const std::string& started_at,
                         const std::string& payload, uint32_t number, JobOutcome outcome);
  // A new attempt, listed in running_.
  std::shared_ptr<Attempt> new_attempt(const Delivery& delivery, const std::string& started_at,
                                       const std::string& payload, uint32_t number, int progress,
                                       bool launched);
  // Batches: `slots` free again and `held` deliveries done with.
  void free_slots(size_t slots, size_t held);
  // False when the supervisor took this thread's job away: the thread must
  // then end without touching the pool.
  bool process(const Delivery& delivery);
  // A redelivery whose outcome is already stored: acknowledged, true.
  bool finish_if_stored(const Delivery& delivery);
  // Where a delivery starts: its first attempt, recorded durably.
  struct Begun {
    std::string started_at;
    uint32_t attempt = 0;
    int progress = 0;
  };
  // Marks the job running and records its first attempt; nullopt when the
  // delivery ended here (cancelled, no attempts left, store unavailable).
  // With `record` false the attempt is numbered but not recorded: the
  // caller records it (launch() records a batch at once).
  std::optional<Begun> begin(const Delivery& delivery, bool record = true);
  // Runs attempt `number`; nullopt when the supervisor gave up on it.
  std::optional<JobOutcome> run_one(const Delivery& delivery, const std::string& started_at,
                                    const std::string& payload, uint32_t number, int progress);
  enum class Next { kDone, kRetry };
  // Stores, releases or retries (after the backoff) what an attempt ended with.
  Next settle(const Delivery& delivery, const std::string& started_at, uint32_t attempt,
              const JobOutcome& outcome);
  // Records durably that `attempt` of the delivered job is about to run;
  // when the store cannot, releases the delivery and returns false.
  bool record_attempt(const Delivery& delivery, uint32_t attempt);
  // The running status that records attempt `attempt` of `message`.
  JobStatus attempt_status(const JobMessage& message, uint32_t attempt) const;
  // An attempt that could not be recorded: logged, and the delivery
  // released for later.
  void unrecorded(const Delivery& delivery, uint32_t attempt, const Status& why);
  void supervise();
  void abandon(const std::shared_ptr<Attempt>& attempt, bool user_cancelled);
  void spawn_worker() DTQ_REQUIRES(mutex_);

  void on_progress(const JobRequest& job, int percent, std::string_view message) override;

  void set_status(const JobMessage& message, JobState state, std::string text, uint32_t attempt,
                  const JobError* error = nullptr);
  // Hands the outcome to the completer.
  void store_outcome(const Delivery& delivery, JobState state, const std::string& output,
                     const std::optional<JobError>& error, const std::string& started_at,
                     uint32_t attempts);
  void complete_loop();
  // Stores the outcomes and finishes each stored job; leaves in the vectors
  // those to try again (the store is failing).
  void store_results(std::vector<Delivery>& deliveries, std::vector<JobResult>& results);
  void finish_stored(const Delivery& delivery, const JobResult& result);
  void release(const Delivery& delivery, const std::string& why);
  // Waits `delay` before a retry; false when the pool stops or the job is
  // cancelled meanwhile.
  bool wait_backoff(std::chrono::milliseconds delay, const std::string& job_id);
  // Counts an attempt that ran for `elapsed` into the duration buckets.
  void observe_attempt(std::chrono::steady_clock::duration elapsed);

  std::shared_ptr<Plugin> plugin_;
  const std::shared_ptr<SingleThread> single_thread_ = std::make_shared<SingleThread>();
  PoolSettings settings_;
  EnginePorts backends_;
  const HttpClient& http_;
  OutboundPolicy policy_;

  std::atomic<bool> stopping_{false};
  std::atomic<bool> paused_{false};  // written under mutex_, so that waiters miss no change
  std::atomic<bool> hard_draining_{false};
  std::atomic<bool> supervisor_stop_{false};

  mutable Mutex mutex_;
  CondVar changed_;
  // The supervisor's own, woken only to stop: changed_ is notified after
  // every job, and a supervisor woken by each would scan every running
  // attempt as often (it ticks every supervisor_tick instead).
  CondVar supervisor_wake_;
  std::map<std::thread::id, std::thread> workers_ DTQ_GUARDED_BY(mutex_);
  std::list<std::shared_ptr<Attempt>> running_ DTQ_GUARDED_BY(mutex_);
  // Workers between taking a delivery and being done with it: an attempt
  // joins running_ only after its status, attempt record and validation,
  // and drain must wait for those too, not find running_ empty and leave.
  size_t holding_ DTQ_GUARDED_BY(mutex_) = 0;
  // Workers inside queue.take(): set_paused(true) waits for them.
  size_t taking_ DTQ_GUARDED_BY(mutex_) = 0;
  // Batches: the slots (of `concurrency`) that taken jobs hold until they
  // are settled, and the retries waiting for a worker. Workers wait on
  // room_ for either.
  const bool batches_;
  size_t slots_ DTQ_GUARDED_BY(mutex_) = 0;
  std::deque<Retry> retries_ DTQ_GUARDED_BY(mutex_);
  CondVar room_;
  Mutex launch_mutex_;
  std::vector<Plugin::AsyncAttempt> launch_queue_ DTQ_GUARDED_BY(launch_mutex_);
  bool launching_ DTQ_GUARDED_BY(launch_mutex_) = false;
  const std::shared_ptr<Ended> ended_ = std::make_shared<Ended>();
  std::thread settler_;
  std::thread supervisor_;

  Mutex completer_mutex_;
  CondVar completer_wake_;
  std::vector<Delivery> pending_deliveries_ DTQ_GUARDED_BY(completer_mutex_);
  std::vector<JobResult> pending_results_ DTQ_GUARDED_BY(completer_mutex_);
  bool completer_stop_ DTQ_GUARDED_BY(completer_mutex_) = false;
  std::thread completer_;

  std::atomic<uint64_t> completed_{0}, failed_{0}, cancelled_{0}, retried_{0}, released_{0},
      abandoned_{0}, started_{0}, dead_lettered_{0}, queue_errors_{0}, status_errors_{0},
      result_errors_{0};
  std::array<std::atomic<uint64_t>, kAttemptDurationBounds.size() + 1> duration_buckets_{};
  std::atomic<uint64_t> duration_sum_us_{0};
};

}  // namespace dtq::host
