#include "dtq/host/worker_pool.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <iterator>

#include "dtq/core/backoff.hpp"
#include "dtq/core/status_notices.hpp"
#include "dtq/core/time.hpp"

namespace dtq::host {
namespace {

constexpr std::chrono::milliseconds kTakeWait{200};
// Batches: the most deliveries one worker takes, records and launches at once.
constexpr size_t kMaxLaunch = 64;
constexpr std::chrono::milliseconds kBackendRetry{500};
// Retrying a result store that failed: from 100 ms, doubling, up to 30 s;
// at shutdown a few more tries before the jobs are given back.
constexpr std::chrono::milliseconds kStoreRetryMin{100};
constexpr std::chrono::milliseconds kStoreRetryMax{30'000};
constexpr uint32_t kStoreAttemptsWhenStopping = 3;

std::string seconds_text(std::chrono::milliseconds d) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1fs", static_cast<double>(d.count()) / 1000.0);
  return buffer;
}

}  // namespace

bool WorkerPool::SingleThread::acquire(const JobContext& context) {
  MutexLock lock(mutex);
  while (busy) {
    if (context.interrupted()) return false;
    // Cancellation does not notify: look again every 50 ms.
    freed.wait_for(lock, std::chrono::milliseconds(50));
  }
  busy = true;
  return true;
}

void WorkerPool::SingleThread::release() {
  {
    MutexLock lock(mutex);
    busy = false;
  }
  freed.notify_one();
}

bool WorkerPool::run_attempt(const Plugin& plugin,
                             const std::shared_ptr<SingleThread>& single_thread,
                             JobContext& context) {
  if (!plugin.info().single_threaded) {
    plugin.run(context);
    return true;
  }
  // Waiting is bounded by the attempt's own deadline: a hung holder never
  // wedges the pool's other workers, it only fails their attempts.
  if (!single_thread->acquire(context)) return false;
  plugin.run(context);
  single_thread->release();
  return true;
}

PoolSettings resolve_pool_settings(const PluginInfo& plugin, const PluginSettings& settings) {
  const auto pick = [](std::optional<uint32_t> operator_value, uint32_t hint, uint32_t fallback) {
    if (operator_value) return *operator_value;
    return hint != 0 ? hint : fallback;
  };
  // PoolSettings' own defaults are the fallback when neither says.
  PoolSettings pool;
  pool.concurrency = pick(settings.concurrency, plugin.default_concurrency, pool.concurrency);
  pool.timeout = std::chrono::milliseconds(pick(settings.timeout_ms, plugin.default_timeout_ms,
                                                static_cast<uint32_t>(pool.timeout.count())));
  pool.max_attempts = pick(settings.max_attempts, plugin.default_max_attempts, pool.max_attempts);
  if (settings.max_result_bytes) pool.max_result_bytes = *settings.max_result_bytes;
  return pool;
}

WorkerPool::WorkerPool(std::shared_ptr<Plugin> plugin, PoolSettings settings, EnginePorts backends,
                       const HttpClient& http, OutboundPolicy policy)
    : plugin_(std::move(plugin)),
      settings_(settings),
      backends_(backends),
      http_(http),
      policy_(std::move(policy)),
      batches_(plugin_->runs_batches()) {}

WorkerPool::~WorkerPool() {
  drain(std::chrono::steady_clock::now());
}

void WorkerPool::start() {
  MutexLock lock(mutex_);
  for (uint32_t i = 0; i < settings_.concurrency; ++i) spawn_worker();
  supervisor_ = std::thread([this] { supervise(); });
  completer_ = std::thread([this] { complete_loop(); });
  if (batches_) settler_ = std::thread([this] { settle_loop(); });
}

void WorkerPool::spawn_worker() {
  std::thread worker([this] { worker_loop(); });
  const auto id = worker.get_id();
  workers_.emplace(id, std::move(worker));
}

void WorkerPool::stop_taking() {
  {
    // Under the lock: a paused worker waits without a timeout, and must not
    // miss this.
    MutexLock lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  room_.notify_all();
}

void WorkerPool::set_paused(bool paused) {
  MutexLock lock(mutex_);
  if (paused_ == paused) return;
  paused_ = paused;
  changed_.notify_all();
  if (paused) {
    changed_.wait(lock, [this]() DTQ_REQUIRES(mutex_) { return taking_ == 0 || stopping_; });
  }
}

void WorkerPool::drain(Deadline deadline) {
  stop_taking();
  {
    MutexLock lock(mutex_);
    changed_.wait_until(lock, deadline, [this]() DTQ_REQUIRES(mutex_) { return holding_ == 0; });
    if (!running_.empty()) {
      // Out of patience: ask what is left to stop; whatever stops is released
      // for redelivery by its worker (hard_draining_ tells it so).
      hard_draining_ = true;
      for (const auto& attempt : running_) attempt->context->cancel();
      changed_.wait_for(lock, settings_.cancel_grace,
                        [this]() DTQ_REQUIRES(mutex_) { return holding_ == 0; });
    }
  }
  // Whatever still runs ignored the cancel: the supervisor gives up on it.
  {
    MutexLock lock(mutex_);  // so that the supervisor cannot miss the wake-up
    supervisor_stop_ = true;
  }
  supervisor_wake_.notify_all();
  if (supervisor_.joinable()) supervisor_.join();
  std::vector<std::shared_ptr<Attempt>> stuck;
  {
    MutexLock lock(mutex_);
    stuck.assign(running_.begin(), running_.end());
  }
  for (const auto& attempt : stuck) abandon(attempt, false);

  std::map<std::thread::id, std::thread> workers;
  {
    MutexLock lock(mutex_);
    workers.swap(workers_);
  }
  for (auto& [id, worker] : workers) {
    if (worker.joinable()) worker.join();
  }
  // Then the settler, once it settled what ended: it hands outcomes to
  // the completer.
  {
    MutexLock lock(ended_->mutex);
    ended_->stop = true;
  }
  ended_->news.notify_all();
  if (settler_.joinable()) settler_.join();
  // Every worker is gone: persist what they handed over, then stop.
  {
    MutexLock lock(completer_mutex_);
    completer_stop_ = true;
  }
  completer_wake_.notify_all();
  if (completer_.joinable()) completer_.join();
}

PoolStats WorkerPool::stats() const {
  PoolStats out;
  out.completed = completed_;
  out.failed = failed_;
  out.cancelled = cancelled_;
  out.retried = retried_;
  out.released = released_;
  out.abandoned = abandoned_;
  out.started = started_;
  out.dead_lettered = dead_lettered_;
  out.queue_errors = queue_errors_;
  out.status_errors = status_errors_;
  out.result_errors = result_errors_;
  for (size_t i = 0; i < duration_buckets_.size(); ++i)
    out.attempt_duration_buckets[i] = duration_buckets_[i];
  out.attempt_duration_sum_seconds = static_cast<double>(duration_sum_us_) / 1e6;
  MutexLock lock(mutex_);
  out.in_flight = static_cast<uint32_t>(running_.size());
  return out;
}

void WorkerPool::worker_loop() {
  const std::string& type = plugin_->info().job_type;
  while (!stopping_) {
    std::optional<Retry> retry;
    size_t reserved = 0;  // batches: the slots this round's take may fill
    {
      MutexLock lock(mutex_);
      // Paused: sleep until resumed or stopped (both notify changed_).
      changed_.wait(lock, [this] { return stopping_.load() || !paused_.load(); });
      if (stopping_) break;
      if (batches_) {
        room_.wait(lock, [this]() DTQ_REQUIRES(mutex_) {
          return stopping_.load() || !retries_.empty() || slots_ < settings_.concurrency;
        });
        if (stopping_) break;
        if (!retries_.empty()) {
          retry = std::move(retries_.front());
          retries_.pop_front();
        } else if (paused_) {
          continue;  // paused while this worker waited for a slot
        } else {
          // Every free slot, so that one take, one commit of their
          // attempts and one run_batch() serve them all.
          reserved = std::min<size_t>(settings_.concurrency - slots_, kMaxLaunch);
          slots_ += reserved;
        }
        // Freed slots wake one worker each time (free_slots()); one that
        // took a retry instead leaves them to the next.
        if (!retries_.empty() || slots_ < settings_.concurrency) room_.notify_one();
      }
      if (!retry) ++taking_;
    }
    if (retry) {
      const Attempt& attempt = *retry->attempt;
      const JobRequest& request = attempt.context->request();
      // false: the supervisor gave up on this thread (see process()).
      if (!continue_attempts(attempt.delivery, attempt.started_at, request.payload, request.attempt,
                             std::move(retry->outcome)))
        return;
      free_slots(1, 1);
      continue;
    }
    auto taken = backends_.queue.take(type, batches_ ? reserved : 1, kTakeWait);
    {
      MutexLock lock(mutex_);
      --taking_;
      if (paused_) changed_.notify_all();  // a pause waits for the takes to end
      if (batches_) {
        const size_t unused = reserved - (taken.ok() ? taken->size() : 0);
        slots_ -= unused;
        // So that a worker waits in take() while this one launches.
        if (unused > 0) room_.notify_one();
      }
    }
    if (!taken.ok()) {
      ++queue_errors_;
      spdlog::error("job_type={} cannot take from the queue: {}", type, taken.status().message());
      MutexLock lock(mutex_);
      changed_.wait_for(lock, kBackendRetry, [this] { return stopping_.load(); });
      continue;
    }
    if (batches_) {
      if (!taken->empty()) launch(*taken);
      continue;
    }
    for (auto& delivery : *taken) {
      if (stopping_) {
        release(delivery, "worker stopping before it started");
        continue;
      }
      {
        MutexLock lock(mutex_);
        ++holding_;
      }
      // false: the supervisor gave up on this thread, and abandon() let go
      // of its delivery.
      if (!process(delivery)) return;
      {
        MutexLock lock(mutex_);
        --holding_;
      }
      changed_.notify_all();
    }
  }
  // Retries the settler queued before the pool stopped: settle() gives
  // them back for redelivery.
  while (batches_) {
    std::optional<Retry> retry;
    {
      MutexLock lock(mutex_);
      if (retries_.empty()) break;
      retry = std::move(retries_.front());
      retries_.pop_front();
    }
    const Attempt& attempt = *retry->attempt;
    const JobRequest& request = attempt.context->request();
    if (!continue_attempts(attempt.delivery, attempt.started_at, request.payload, request.attempt,
                           std::move(retry->outcome)))
      return;
    free_slots(1, 1);
  }
}

bool WorkerPool::process(const Delivery& delivery) {
  if (finish_if_stored(delivery)) return true;
  const auto begun = begin(delivery);
  if (!begun) return true;
  const JobMessage& message = delivery.message;
  const ValidationOutcome validation =
      plugin_->validates_on_run() ? ValidationOutcome{.normalized_payload = message.payload}
                                  : plugin_->validate(message.payload);
  if (!validation.valid()) {
    store_outcome(delivery, JobState::kFailed, "",
                  JobError{"invalid_payload", validation.describe()}, begun->started_at,
                  begun->attempt);
    return true;
  }
  int progress = begun->progress;
  for (uint32_t attempt = begun->attempt;; ++attempt) {
    if (attempt != begun->attempt && !record_attempt(delivery, attempt)) return true;
    const auto outcome =
        run_one(delivery, begun->started_at, validation.normalized_payload, attempt, progress);
    if (!outcome) return false;  // the supervisor gave up on this thread
    progress = outcome->progress;
    if (settle(delivery, begun->started_at, attempt, *outcome) == Next::kDone) return true;
  }
}

bool WorkerPool::finish_if_stored(const Delivery& delivery) {
  // A redelivery may come after the outcome was stored but before the ack
  // (a crash in between): finish the ack, never run the job twice.
  if (delivery.delivery_count <= 1) return false;
  auto existing = backends_.results.get(delivery.message.job_id);
  if (!existing.ok()) return false;
  set_status(delivery.message, existing->final_state, "restored from the stored result",
             existing->attempts, existing->error ? &*existing->error : nullptr);
  (void)backends_.queue.ack(delivery);
  return true;
}

std::optional<WorkerPool::Begun> WorkerPool::begin(const Delivery& delivery, bool record) {
  const JobMessage& message = delivery.message;
  auto current = backends_.statuses.update(JobStatus{.job_id = message.job_id,
                                                     .state = JobState::kRunning,
                                                     .updated_at = now_rfc3339(),
                                                     .message = "starting",
                                                     .trace_id = message.trace_id,
                                                     .job_type = message.job_type});
  if (!current.ok()) {
    ++status_errors_;
    spdlog::error("job_id={} status store unavailable: {}", message.job_id,
                  current.status().message());
    release(delivery, "status store unavailable");
    return std::nullopt;
  }
  if (current->state == JobState::kCompleted || current->state == JobState::kFailed) {
    // A second copy of a job that has ended (a scheduler that stopped
    // between its enqueue and its status write enqueues the job twice):
    // acked, never run again.
    spdlog::info("job_id={} already {}: a duplicate delivery, acked without running",
                 message.job_id, to_string(current->state));
    (void)backends_.queue.ack(delivery);
    return std::nullopt;
  }
  if (current->state == JobState::kCancelled ||
      backends_.statuses.cancel_requested(message.job_id)) {
    store_outcome(delivery, JobState::kCancelled, "",
                  JobError{"cancelled", "cancelled before it started"}, "", current->attempt);
    return std::nullopt;
  }
  // Every attempt this delivery makes is recorded before plugin code runs,
  // so one the process does not survive still counts. A job delivered again
  // with none left is one whose last attempt ended the process (or was cut
  // short by a kill or a shutdown): it ends here instead of looping.
  const uint32_t attempt = current->attempt + 1;
  if (attempt > settings_.max_attempts) {
    store_outcome(
        delivery, JobState::kFailed, "",
        JobError{"attempts_exhausted",
                 "no attempts left: attempt " + std::to_string(current->attempt) + " of " +
                     std::to_string(settings_.max_attempts) +
                     " never finished (the worker running it stopped first: a crash, a kill, a "
                     "shutdown, or a plugin that took the process down)"},
        current->updated_at, current->attempt);
    return std::nullopt;
  }
  if (record && !record_attempt(delivery, attempt)) return std::nullopt;
  return Begun{current->updated_at, attempt, current->progress_percent};
}

void WorkerPool::Ended::push(std::shared_ptr<Attempt> attempt) {
  {
    MutexLock lock(mutex);
    attempts.push_back(std::move(attempt));
  }
  news.notify_one();
}

bool WorkerPool::Ended::wait(std::vector<std::shared_ptr<Attempt>>& out) {
  MutexLock lock(mutex);
  news.wait(lock, [this]() DTQ_REQUIRES(mutex) { return stop || !attempts.empty(); });
  if (attempts.empty()) return false;
  out.swap(attempts);
  attempts.clear();
  return true;
}

void WorkerPool::free_slots(size_t slots, size_t held) {
  if (slots == 0 && held == 0) return;
  {
    MutexLock lock(mutex_);
    slots_ -= slots;
    holding_ -= held;
  }
  if (held > 0) changed_.notify_all();  // drain waits for holding_
  // A woken worker takes every free slot (and wakes another if it leaves
  // some): one wake-up, however many slots.
  if (slots > 0) room_.notify_one();
}

void WorkerPool::launch(std::vector<Delivery>& deliveries) {
  if (stopping_) {
    for (const auto& delivery : deliveries) release(delivery, "worker stopping before it started");
    return free_slots(deliveries.size(), 0);
  }
  {
    MutexLock lock(mutex_);
    holding_ += deliveries.size();
  }
  // Each delivery's attempt is recorded before it runs, as process() does,
  // but all of them with one durable write.
  std::vector<std::pair<const Delivery*, Begun>> begun;
  std::vector<JobStatus> records;
  size_t ended = 0;  // done with here: stored already, cancelled, out of attempts
  for (const auto& delivery : deliveries) {
    std::optional<Begun> started;
    if (!finish_if_stored(delivery)) started = begin(delivery, /*record=*/false);
    if (!started) {
      ++ended;
      continue;
    }
    records.push_back(attempt_status(delivery.message, started->attempt));
    begun.emplace_back(&delivery, std::move(*started));
  }
  const auto recorded = backends_.statuses.update_durable_batch(records);
  std::vector<Plugin::AsyncAttempt> ready;
  for (size_t i = 0; i < begun.size(); ++i) {
    const auto& [delivery, started] = begun[i];
    if (!recorded[i].ok()) {
      unrecorded(*delivery, started.attempt, recorded[i].status());
      ++ended;
      continue;
    }
    const JobMessage& message = delivery->message;
    const ValidationOutcome validation =
        plugin_->validates_on_run() ? ValidationOutcome{.normalized_payload = message.payload}
                                    : plugin_->validate(message.payload);
    if (!validation.valid()) {
      store_outcome(*delivery, JobState::kFailed, "",
                    JobError{"invalid_payload", validation.describe()}, started.started_at,
                    started.attempt);
      ++ended;
      continue;
    }
    auto attempt = new_attempt(*delivery, started.started_at, validation.normalized_payload,
                               started.attempt, started.progress, true);
    ++started_;
    // The done callback holds what outlives the pool, never the pool.
    ready.push_back(
        {attempt->context, [ended_jobs = ended_, attempt] { ended_jobs->push(attempt); }});
  }
  free_slots(ended, ended);
  if (ready.empty()) return;
  MutexLock lock(launch_mutex_);
  std::move(ready.begin(), ready.end(), std::back_inserter(launch_queue_));
  // Another worker is launching: it takes these attempts along before it
  // returns, so under load one run_batch() carries many.
  if (launching_) return;
  launching_ = true;
  while (!launch_queue_.empty()) {
    std::vector<Plugin::AsyncAttempt> batch;
    batch.swap(launch_queue_);
    lock.unlock();
    plugin_->run_batch(std::move(batch));
    lock.lock();
  }
  launching_ = false;
}

void WorkerPool::settle_loop() {
  std::vector<std::shared_ptr<Attempt>> ended;
  std::vector<std::shared_ptr<Attempt>> mine;
  while (ended_->wait(ended)) {
    mine.clear();
    // Claimed already: abandon() settled it, its slot and its delivery.
    for (auto& attempt : ended)
      if (!attempt->claimed.exchange(true)) mine.push_back(std::move(attempt));
    ended.clear();
    if (mine.empty()) continue;
    {
      MutexLock lock(mutex_);
      for (const auto& attempt : mine) running_.remove(attempt);
    }
    size_t settled = 0;
    const auto now = std::chrono::steady_clock::now();
    for (auto& attempt : mine) {
      observe_attempt(now - attempt->began);
      JobOutcome outcome = attempt->context->finish();
      const JobRequest& request = attempt->context->request();
      if (outcome.kind == JobOutcome::Kind::kFailed && outcome.retryable &&
          request.attempt < settings_.max_attempts) {
        // Its backoff is a worker's to wait out; it keeps its slot.
        MutexLock lock(mutex_);
        if (!stopping_) {
          retries_.push_back(Retry{attempt, std::move(outcome)});
          room_.notify_one();
          continue;
        }
      }
      // Completed, cancelled, out of attempts, or the pool is stopping
      // (the retry is given back): settled without a wait.
      (void)continue_attempts(attempt->delivery, attempt->started_at, request.payload,
                              request.attempt, std::move(outcome));
      ++settled;
    }
    free_slots(settled, settled);
  }
}

bool WorkerPool::continue_attempts(const Delivery& delivery, const std::string& started_at,
                                   const std::string& payload, uint32_t number,
                                   JobOutcome outcome) {
  while (settle(delivery, started_at, number, outcome) == Next::kRetry) {
    ++number;
    if (!record_attempt(delivery, number)) return true;
    auto next = run_one(delivery, started_at, payload, number, outcome.progress);
    if (!next) return false;
    outcome = std::move(*next);
  }
  return true;
}

std::shared_ptr<WorkerPool::Attempt> WorkerPool::new_attempt(const Delivery& delivery,
                                                             const std::string& started_at,
                                                             const std::string& payload,
                                                             uint32_t number, int progress,
                                                             bool launched) {
  const JobMessage& message = delivery.message;
  auto attempt = std::make_shared<Attempt>();
  attempt->context = JobContext::create(
      JobRequest{.job_id = message.job_id,
                 .job_type = message.job_type,
                 .trace_id = message.trace_id,
                 .payload = payload,
                 .attempt = number,
                 .deadline = std::chrono::steady_clock::now() + settings_.timeout,
                 .initial_progress = progress,
                 .max_result_bytes = settings_.max_result_bytes},
      policy_, http_, static_cast<JobObserver*>(this));
  attempt->delivery = delivery;
  attempt->started_at = started_at;
  attempt->worker = std::this_thread::get_id();
  attempt->launched = launched;
  attempt->began = std::chrono::steady_clock::now();
  {
    MutexLock lock(mutex_);
    running_.push_back(attempt);
  }
  return attempt;
}

std::optional<JobOutcome> WorkerPool::run_one(const Delivery& delivery,
                                              const std::string& started_at,
                                              const std::string& payload, uint32_t number,
                                              int progress) {
  // Both outlive the pool if this thread is abandoned.
  const std::shared_ptr<Plugin> plugin = plugin_;
  const std::shared_ptr<SingleThread> single_thread = single_thread_;
  auto attempt = new_attempt(delivery, started_at, payload, number, progress, false);
  ++started_;

  const bool ran = run_attempt(*plugin, single_thread, *attempt->context);

  if (attempt->claimed.exchange(true)) return std::nullopt;
  observe_attempt(std::chrono::steady_clock::now() - attempt->began);
  {
    MutexLock lock(mutex_);
    running_.remove(attempt);
  }
  changed_.notify_all();
  JobOutcome outcome = attempt->context->finish();
  if (!ran && outcome.kind != JobOutcome::Kind::kCancelled) {
    outcome.kind = JobOutcome::Kind::kFailed;
    outcome.error_code = "plugin_busy";
    outcome.error_message =
        "the single-threaded plugin was busy for this attempt's whole timeout of " +
        seconds_text(settings_.timeout) +
        " (an earlier attempt still runs: it ignored its timeout and cancellation)";
    outcome.retryable = true;
  }
  return outcome;
}

WorkerPool::Next WorkerPool::settle(const Delivery& delivery, const std::string& started_at,
                                    uint32_t attempt, const JobOutcome& outcome) {
  const JobMessage& message = delivery.message;
  if (outcome.kind == JobOutcome::Kind::kCompleted) {
    store_outcome(delivery, JobState::kCompleted, outcome.output_json, std::nullopt, started_at,
                  attempt);
    return Next::kDone;
  }
  const bool user_cancelled = backends_.statuses.cancel_requested(message.job_id);
  if (outcome.kind == JobOutcome::Kind::kCancelled && !user_cancelled && hard_draining_) {
    release(delivery, "worker shut down during attempt " + std::to_string(attempt));
    return Next::kDone;
  }
  if (outcome.kind == JobOutcome::Kind::kCancelled || user_cancelled) {
    store_outcome(delivery, JobState::kCancelled, "",
                  JobError{"cancelled", "cancelled while running"}, started_at, attempt);
    return Next::kDone;
  }
  const JobError error{outcome.error_code, outcome.error_message};
  if (!outcome.retryable || attempt >= settings_.max_attempts) {
    store_outcome(delivery, JobState::kFailed, "", error, started_at, attempt);
    return Next::kDone;
  }
  if (stopping_) {
    release(delivery,
            "worker stopping; attempt " + std::to_string(attempt) + " failed: " + error.code);
    return Next::kDone;
  }
  const auto delay = backoff_delay(settings_.backoff_base, settings_.backoff_max, attempt);
  ++retried_;
  set_status(message, JobState::kRunning,
             notices::retrying(attempt, error.code, error.message, seconds_text(delay)), attempt);
  if (wait_backoff(delay, message.job_id)) return Next::kRetry;
  if (backends_.statuses.cancel_requested(message.job_id)) {
    store_outcome(delivery, JobState::kCancelled, "",
                  JobError{"cancelled", "cancelled while waiting to retry"}, started_at, attempt);
  } else {
    release(delivery, "worker stopping while waiting to retry");
  }
  return Next::kDone;
}

JobStatus WorkerPool::attempt_status(const JobMessage& message, uint32_t attempt) const {
  return JobStatus{.job_id = message.job_id,
                   .state = JobState::kRunning,
                   .updated_at = now_rfc3339(),
                   .message = attempt == 1 ? "starting"
                                           : "attempt " + std::to_string(attempt) + " of " +
                                                 std::to_string(settings_.max_attempts),
                   .trace_id = message.trace_id,
                   .job_type = message.job_type,
                   .attempt = attempt};
}

bool WorkerPool::record_attempt(const Delivery& delivery, uint32_t attempt) {
  auto recorded = backends_.statuses.update_durable(attempt_status(delivery.message, attempt));
  if (recorded.ok()) return true;
  unrecorded(delivery, attempt, recorded.status());
  return false;
}

void WorkerPool::unrecorded(const Delivery& delivery, uint32_t attempt, const Status& why) {
  ++status_errors_;
  // Unrecorded, the attempt must not run: it could crash the process
  // without counting. The job waits for another delivery instead.
  spdlog::error("job_id={} attempt {} not recorded: {}", delivery.message.job_id, attempt,
                why.message());
  release(delivery, "status store unavailable");
}

void WorkerPool::supervise() {
  while (!supervisor_stop_) {
    std::vector<std::shared_ptr<Attempt>> attempts;
    {
      MutexLock lock(mutex_);
      supervisor_wake_.wait_for(lock, settings_.supervisor_tick,
                                [this] { return supervisor_stop_.load(); });
      attempts.assign(running_.begin(), running_.end());
    }
    const auto now = std::chrono::steady_clock::now();
    for (const auto& attempt : attempts) {
      JobContext& context = *attempt->context;
      context.flush_progress();
      const std::string& job_id = context.request().job_id;
      if (!attempt->cancel_sent && backends_.statuses.cancel_requested(job_id)) {
        context.cancel();
        plugin_->notify_cancel(context);
        attempt->cancel_sent = true;
        attempt->cancel_sent_at = now;
      }
      const bool past_timeout = now > context.request().deadline + settings_.cancel_grace;
      const bool ignored_cancel =
          attempt->cancel_sent && now > attempt->cancel_sent_at + settings_.cancel_grace;
      if (past_timeout || ignored_cancel) abandon(attempt, attempt->cancel_sent);
    }
  }
}

void WorkerPool::abandon(const std::shared_ptr<Attempt>& attempt, bool user_cancelled) {
  if (attempt->claimed.exchange(true)) return;  // its worker finished first
  ++abandoned_;
  attempt->context->finish();  // every later host call from the stuck plugin is ignored
  const JobRequest& request = attempt->context->request();
  // Counted as long as it was let run: the p99 must see hung plugins.
  observe_attempt(std::chrono::steady_clock::now() - (request.deadline - settings_.timeout));
  spdlog::error(
      "job_id={} job_type={} attempt={} plugin did not return {} after being told to stop; "
      "freeing its slot",
      request.job_id, request.job_type, request.attempt, seconds_text(settings_.cancel_grace));
  {
    MutexLock lock(mutex_);
    running_.remove(attempt);
    --holding_;
    if (batches_) --slots_;  // every attempt of a batching pool holds one
    // A launched attempt holds no thread; any other holds its worker's.
    if (!attempt->launched) {
      if (auto it = workers_.find(attempt->worker); it != workers_.end()) {
        it->second.detach();  // it may never come back; it will not touch the pool if it does
        workers_.erase(it);
      }
      if (!stopping_) spawn_worker();
    }
  }
  changed_.notify_all();
  if (batches_) room_.notify_one();
  if (user_cancelled) {
    store_outcome(attempt->delivery, JobState::kCancelled, "",
                  JobError{"cancelled", "cancelled; the plugin ignored the request"},
                  attempt->started_at, request.attempt);
  } else if (!stopping_ && request.attempt < settings_.max_attempts) {
    release(attempt->delivery,
            "attempt " + std::to_string(request.attempt) + " timed out and ignored cancellation");
  } else if (stopping_) {
    release(attempt->delivery, "worker shut down; the plugin ignored cancellation");
  } else {
    store_outcome(
        attempt->delivery, JobState::kFailed, "",
        JobError{"timeout", "attempt " + std::to_string(request.attempt) +
                                " exceeded its timeout of " + seconds_text(settings_.timeout) +
                                " and ignored cancellation"},
        attempt->started_at, request.attempt);
  }
}

void WorkerPool::on_progress(const JobRequest& job, int percent, std::string_view message) {
  (void)backends_.statuses.update(JobStatus{.job_id = job.job_id,
                                            .state = JobState::kRunning,
                                            .progress_percent = percent,
                                            .updated_at = now_rfc3339(),
                                            .message = std::string(message),
                                            .trace_id = job.trace_id,
                                            .job_type = job.job_type,
                                            .attempt = job.attempt});
}

void WorkerPool::set_status(const JobMessage& message, JobState state, std::string text,
                            uint32_t attempt, const JobError* error) {
  JobStatus status{.job_id = message.job_id,
                   .state = state,
                   .updated_at = now_rfc3339(),
                   .message = std::move(text),
                   .trace_id = message.trace_id,
                   .job_type = message.job_type,
                   .attempt = attempt};
  if (error != nullptr) {
    status.error_code = error->code;
    status.error_message = error->message;
  }
  if (auto stored = backends_.statuses.update(status); !stored.ok()) {
    ++status_errors_;
    spdlog::warn("job_id={} status not updated: {}", message.job_id, stored.status().message());
  }
}

void WorkerPool::store_outcome(const Delivery& delivery, JobState state, const std::string& output,
                               const std::optional<JobError>& error, const std::string& started_at,
                               uint32_t attempts) {
  const JobMessage& message = delivery.message;
  JobResult result{.job_id = message.job_id,
                   .job_type = message.job_type,
                   .input = message.payload,
                   .output = output,
                   .final_state = state,
                   .started_at = started_at,
                   .completed_at = now_rfc3339(),
                   .error = error,
                   .trace_id = message.trace_id,
                   .attempts = attempts};
  {
    MutexLock lock(completer_mutex_);
    pending_deliveries_.push_back(delivery);
    pending_results_.push_back(std::move(result));
  }
  completer_wake_.notify_one();
}

void WorkerPool::complete_loop() {
  std::vector<Delivery> deliveries;  // in step with results: outcomes not stored yet
  std::vector<JobResult> results;
  uint32_t failures = 0;  // rounds in a row that left something unstored
  while (true) {
    bool stopping = false;
    {
      MutexLock lock(completer_mutex_);
      if (failures == 0) {
        completer_wake_.wait(lock, [this]() DTQ_REQUIRES(completer_mutex_) {
          return completer_stop_ || !pending_results_.empty();
        });
      } else {
        // The store failed: wait before trying again, taking in new outcomes
        // meanwhile. Only stopping cuts the wait short.
        completer_wake_.wait_for(lock, backoff_delay(kStoreRetryMin, kStoreRetryMax, failures),
                                 [this]()
                                     DTQ_REQUIRES(completer_mutex_) { return completer_stop_; });
      }
      stopping = completer_stop_;
      std::move(pending_deliveries_.begin(), pending_deliveries_.end(),
                std::back_inserter(deliveries));
      std::move(pending_results_.begin(), pending_results_.end(), std::back_inserter(results));
      pending_deliveries_.clear();
      pending_results_.clear();
    }
    if (results.empty()) {
      if (stopping) return;
      continue;
    }
    store_results(deliveries, results);
    failures = results.empty() ? 0 : failures + 1;
    if (!results.empty() && stopping && failures > kStoreAttemptsWhenStopping) {
      // Shutting down with the store still failing: the outcomes cannot be
      // kept any longer, so the jobs go back to the queue.
      for (const auto& delivery : deliveries)
        release(delivery, "result store unavailable at shutdown");
      return;
    }
  }
}

void WorkerPool::store_results(std::vector<Delivery>& deliveries, std::vector<JobResult>& results) {
  // The results are durable before anything says the jobs are over.
  auto stored = backends_.results.put_batch(results);
  if (stored.ok()) {
    for (size_t i = 0; i < results.size(); ++i) finish_stored(deliveries[i], results[i]);
    deliveries.clear();
    results.clear();
    return;
  }
  ++result_errors_;
  if (stored.status().code() == StatusCode::kUnavailable) {
    spdlog::error("job_type={} {} results not stored ({}); keeping them to retry with backoff",
                  plugin_->info().job_type, results.size(), stored.status().message());
    return;
  }
  // The batch may have failed for one result's sake: store them one by one,
  // so that one bad result fails alone and never its batch-mates.
  std::vector<Delivery> kept_deliveries;
  std::vector<JobResult> kept_results;
  for (size_t i = 0; i < results.size(); ++i) {
    auto one = backends_.results.put(results[i]);
    if (!one.ok() && one.status().code() == StatusCode::kInvalidArgument) {
      // The store refuses this outcome itself: keep the job's failure instead,
      // which has no output to refuse.
      spdlog::error("job_id={} result refused by the store ({}); recording the job as failed",
                    results[i].job_id, one.status().message());
      results[i].final_state = JobState::kFailed;
      results[i].output.clear();
      results[i].error =
          JobError{"result_not_stored",
                   "the result store refused the job's outcome: " + one.status().message()};
      one = backends_.results.put(results[i]);
    }
    if (one.ok()) {
      finish_stored(deliveries[i], results[i]);
      continue;
    }
    ++result_errors_;
    spdlog::error("job_id={} result not stored ({}); keeping it to retry with backoff",
                  results[i].job_id, one.status().message());
    kept_deliveries.push_back(std::move(deliveries[i]));
    kept_results.push_back(std::move(results[i]));
  }
  deliveries = std::move(kept_deliveries);
  results = std::move(kept_results);
}

void WorkerPool::finish_stored(const Delivery& delivery, const JobResult& result) {
  const JobState state = result.final_state;
  const auto& error = result.error;
  const std::string text = state == JobState::kCompleted ? "completed"
                           : state == JobState::kCancelled
                               ? "cancelled"
                               : "failed: " + (error ? error->message : std::string());
  // Counted before the status says so: whoever sees the job ended (a test,
  // dtq top reading /metrics) finds it counted too.
  ++(state == JobState::kCompleted   ? completed_
     : state == JobState::kCancelled ? cancelled_
                                     : failed_);
  set_status(delivery.message, state, text, result.attempts, error ? &*error : nullptr);
  if (state == JobState::kFailed) {
    const JobError reason = error.value_or(JobError{"failed", "failed"});
    if (Status s = backends_.queue.dead_letter(delivery, reason, result.attempts); !s.ok()) {
      ++queue_errors_;
      spdlog::error("job_id={} not dead-lettered: {}", delivery.message.job_id, s.message());
    } else {
      ++dead_lettered_;
    }
    return;
  }
  if (Status s = backends_.queue.ack(delivery); !s.ok()) {
    ++queue_errors_;
    spdlog::error("job_id={} not acknowledged: {}", delivery.message.job_id, s.message());
  }
}

void WorkerPool::release(const Delivery& delivery, const std::string& why) {
  ++released_;
  spdlog::info("job_id={} released for redelivery: {}", delivery.message.job_id, why);
  set_status(delivery.message, JobState::kRunning, notices::released(why), 0);
  if (Status s = backends_.queue.release(delivery); !s.ok()) {
    ++queue_errors_;
    spdlog::error("job_id={} not released ({}); it returns when this process restarts",
                  delivery.message.job_id, s.message());
  }
}

bool WorkerPool::wait_backoff(std::chrono::milliseconds delay, const std::string& job_id) {
  const auto until = std::chrono::steady_clock::now() + delay;
  while (std::chrono::steady_clock::now() < until) {
    // Asked without the pool's lock: the status store may be a server.
    if (stopping_ || backends_.statuses.cancel_requested(job_id)) return false;
    MutexLock lock(mutex_);
    changed_.wait_until(
        lock, std::min(until, std::chrono::steady_clock::now() + settings_.supervisor_tick),
        [this] { return stopping_.load(); });
  }
  return !stopping_;
}

void WorkerPool::observe_attempt(std::chrono::steady_clock::duration elapsed) {
  const double seconds = std::chrono::duration<double>(elapsed).count();
  const auto* const bucket =
      std::lower_bound(kAttemptDurationBounds.begin(), kAttemptDurationBounds.end(), seconds);
  ++duration_buckets_[static_cast<size_t>(bucket - kAttemptDurationBounds.begin())];
  duration_sum_us_ +=
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count());
}

}  // namespace dtq::host
