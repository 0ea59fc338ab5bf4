// The job engine on the real embedded backends, driven through the echo
// plugin: retries, permanent failures, timeouts (also of a plugin that ignores
// cancellation), cancellation, drain, redelivery and exactly-once results.
#include <dlfcn.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <span>
#include <thread>

#include "dtq/core/ids.hpp"
#include "dtq/core/job_service.hpp"
#include "dtq/core/time.hpp"
#include "dtq/embedded/embedded_backends.hpp"
#include "dtq/host/engine.hpp"
#include "dtq/host/plugin_loader.hpp"
#include "support/embedded_jobs.hpp"
#include "support/eventually.hpp"
#include "support/status_helpers.hpp"

namespace dtq::host {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using dtq::testing::eventually;
using ::testing::HasSubstr;

// Loaded once per process: a library is never unloaded.
std::shared_ptr<Plugin> fixture_plugin(const std::string& name) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<Plugin>> loaded;
  std::lock_guard lock(mutex);
  auto& plugin = loaded[name];
  if (!plugin) {
    auto opened = load_plugin(fs::path(DTQ_TEST_PLUGIN_DIR) / (name + ".so"));
    if (!opened.ok()) throw std::runtime_error(opened.status().message());
    plugin = std::move(opened).value();
  }
  return plugin;
}

std::shared_ptr<Plugin> echo_plugin() {
  return fixture_plugin("echo");
}

// The embedded status store, counting the updates the engine makes.
class CountingStatusStore final : public StatusStore {
 public:
  explicit CountingStatusStore(StatusStore& inner) : inner_(inner) {}
  StatusOr<JobStatus> update(const JobStatus& update) override {
    ++updates_;
    return inner_.update(update);
  }
  StatusOr<JobStatus> update_durable(const JobStatus& update) override {
    ++updates_;
    return inner_.update_durable(update);
  }
  StatusOr<JobStatus> get(std::string_view job_id) override { return inner_.get(job_id); }
  std::unique_ptr<StatusSubscription> subscribe(
      std::string job_id, std::function<void(const JobStatus&)> on_change) override {
    return inner_.subscribe(std::move(job_id), std::move(on_change));
  }
  Status request_cancel(std::string_view job_id) override { return inner_.request_cancel(job_id); }
  bool cancel_requested(std::string_view job_id) override {
    return inner_.cancel_requested(job_id);
  }
  uint64_t updates() const { return updates_; }

 private:
  StatusStore& inner_;
  std::atomic<uint64_t> updates_{0};
};

// The embedded result store, failing on demand: an outage of the next few
// writes, or a refusal of one job's output.
class FaultyResultStore final : public ResultStore {
 public:
  explicit FaultyResultStore(ResultStore& inner) : inner_(inner) {}
  StatusOr<bool> put(const JobResult& result) override {
    if (Status fault = fault_for({&result, 1}); !fault.ok()) return fault;
    return inner_.put(result);
  }
  StatusOr<std::vector<bool>> put_batch(std::span<const JobResult> results) override {
    if (Status fault = fault_for(results); !fault.ok()) return fault;
    return inner_.put_batch(results);
  }
  StatusOr<JobResult> get(std::string_view job_id) override { return inner_.get(job_id); }

  void fail_next(int writes) { outage_ = writes; }
  void refuse_output_of(std::string job_id) {
    std::lock_guard lock(mutex_);
    refused_ = std::move(job_id);
  }
  std::vector<Clock::time_point> writes() const {
    std::lock_guard lock(mutex_);
    return writes_;
  }

 private:
  Status fault_for(std::span<const JobResult> results) {
    std::lock_guard lock(mutex_);
    writes_.push_back(Clock::now());
    if (outage_ > 0) {
      --outage_;
      return unavailable("disk full");
    }
    for (const auto& result : results) {
      if (result.job_id == refused_ && !result.output.empty()) {
        return invalid_argument("result of job " + result.job_id + " is not storable");
      }
    }
    return {};
  }

  ResultStore& inner_;
  mutable std::mutex mutex_;
  int outage_ = 0;
  std::string refused_;
  std::vector<Clock::time_point> writes_;
};

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_dir_ = fs::temp_directory_path() / ("dtq-engine-" + new_uuid4());
    ASSERT_TRUE(registry_.add(echo_plugin()).ok());
    open();
  }
  void TearDown() override {
    engine_.reset();
    engine_statuses_.reset();
    engine_results_.reset();
    close();
    fs::remove_all(data_dir_);
  }

  void open() {
    const Status opened = embedded_.open(data_dir_, registry_);
    ASSERT_TRUE(opened.ok()) << opened.message();
  }
  void close() { embedded_.close(); }

  void start(PluginSettings overrides = {}, std::chrono::milliseconds cancel_grace = 200ms,
             std::chrono::milliseconds drain_grace = 5s) {
    EngineSettings settings = engine_settings_;
    settings.per_plugin["echo"] = overrides;
    settings.backoff_base = 10ms;
    settings.cancel_grace = cancel_grace;
    settings.drain_grace = drain_grace;
    StatusStore& statuses =
        engine_statuses_ != nullptr ? *engine_statuses_ : *embedded_.backends.statuses;
    ResultStore& results =
        engine_results_ != nullptr ? *engine_results_ : *embedded_.backends.results;
    auto engine = Engine::create(registry_, settings,
                                 EnginePorts{*embedded_.backends.queue, statuses, results}, http_);
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    engine_ = std::move(engine).value();
    engine_->start();
  }

  std::string submit(const std::string& payload, const std::string& job_type = "echo") {
    const auto job = embedded_.jobs->submit(job_type, payload);
    EXPECT_TRUE(job.ok()) << job.status().message();
    return job.ok() ? job->job_id : "";
  }

  // Hosts one of the unruly_* fixtures beside echo; before start().
  void host_unruly(const std::string& job_type) {
    ASSERT_TRUE(registry_.add(fixture_plugin("unruly_" + job_type)).ok());
  }

  // The job's status once terminal (bounded: a hang fails the test).
  JobStatus wait_terminal(const std::string& job_id, std::chrono::seconds limit = 20s) {
    return dtq::testing::wait_terminal(*embedded_.backends.statuses, job_id, limit);
  }

  // The newest dead letter of `job_type`, waiting for it (bounded).
  DeadLetter wait_dead_letter(const std::string& job_type) {
    DeadLetter newest;
    const bool found = eventually([&] {
      auto letters = embedded_.jobs->dead_letters(job_type, 1);
      if (!letters.ok() || letters->empty()) return false;
      newest = letters->front();
      return true;
    });
    if (found) return newest;
    ADD_FAILURE() << "no dead letter of " << job_type << " within 10 s";
    return {};
  }

  JobResult result(const std::string& job_id) {
    auto stored = embedded_.backends.results->get(job_id);
    EXPECT_TRUE(stored.ok()) << job_id << ": " << stored.status().message();
    return stored.ok() ? *stored : JobResult{};
  }

  fs::path data_dir_;
  PluginRegistry registry_;
  HttpClient http_;
  testing::EmbeddedJobs embedded_;
  std::unique_ptr<Engine> engine_;
  EngineSettings engine_settings_;  // start() adds echo's overrides
  // The engine's status store, when a test wraps embedded_'s; the engine is
  // gone before it is (TearDown).
  std::unique_ptr<StatusStore> engine_statuses_;
  std::unique_ptr<ResultStore> engine_results_;
};

TEST_F(EngineTest, RunsAJobToCompletionAndStoresItsResultOnce) {
  start();
  const std::string id = submit(R"({"message":"hello","progress":[20,50,80]})");
  const JobStatus status = wait_terminal(id);
  EXPECT_EQ(status.state, JobState::kCompleted);
  EXPECT_EQ(status.progress_percent, 100);
  const JobResult stored = result(id);
  EXPECT_EQ(stored.final_state, JobState::kCompleted);
  EXPECT_EQ(stored.output, R"({"attempt":1,"echo":"hello"})");
  EXPECT_EQ(stored.input, R"({"message":"hello","progress":[20,50,80]})");
  EXPECT_EQ(stored.attempts, 1u);
  EXPECT_FALSE(stored.started_at.empty());
  auto again = embedded_.backends.results->put(stored);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again) << "a second result for the same job id was stored";
}

TEST_F(EngineTest, RetriesTransientFailuresWithBackoff) {
  start({.max_attempts = 3});
  const std::string id = submit(R"({"fail_attempts":2})");
  EXPECT_EQ(wait_terminal(id).state, JobState::kCompleted);
  EXPECT_EQ(result(id).attempts, 3u);
  EXPECT_EQ(engine_->stats().at("echo").retried, 2u);
}

TEST_F(EngineTest, PermanentFailuresFailAtOnceAndAreDeadLettered) {
  start({.max_attempts = 3});
  const std::string id = submit(R"({"fail":{"code":"bad_input","message":"no such thing"}})");
  const JobStatus status = wait_terminal(id);
  EXPECT_EQ(status.state, JobState::kFailed);
  EXPECT_EQ(status.error_code, "bad_input");
  EXPECT_EQ(status.error_message, "no such thing");
  const JobResult stored = result(id);
  ASSERT_TRUE(stored.error.has_value());
  EXPECT_EQ(stored.error->code, "bad_input");
  EXPECT_EQ(stored.attempts, 1u);
  const DeadLetter letter = wait_dead_letter("echo");
  EXPECT_EQ(letter.message.job_id, id);
  EXPECT_EQ(letter.error.code, "bad_input");
}

TEST_F(EngineTest, ExhaustedRetriesFailAndAReplayIsANewJob) {
  start({.max_attempts = 2});
  const std::string id = submit(R"({"fail_attempts":2})");
  const JobStatus status = wait_terminal(id);
  EXPECT_EQ(status.state, JobState::kFailed);
  EXPECT_EQ(status.error_code, "flaky");
  EXPECT_EQ(result(id).attempts, 2u);

  auto replayed = embedded_.jobs->replay(id);
  ASSERT_TRUE(replayed.ok()) << replayed.status().message();
  EXPECT_NE(*replayed, id);
  // The replay starts from attempt 1 again, and attempt 1 still fails: it
  // proves the job ran anew rather than echoing the old result.
  EXPECT_EQ(wait_terminal(*replayed).state, JobState::kFailed);
  EXPECT_EQ(result(*replayed).attempts, 2u);
  EXPECT_EQ(result(id).attempts, 2u);
  EXPECT_FALSE(embedded_.jobs->replay(id).ok()) << "a dead letter was replayed twice";
}

TEST_F(EngineTest, AnInvalidPayloadOnTheQueueFailsWithoutRunning) {
  start();
  JobMessage message{.job_id = new_uuid4(),
                     .job_type = "echo",
                     .submitted_at = now_rfc3339(),
                     .trace_id = new_uuid4(),
                     .payload = R"({"sleep_ms":"soon"})"};
  ASSERT_TRUE(embedded_.backends.queue->enqueue(message).ok());
  const JobStatus status = wait_terminal(message.job_id);
  EXPECT_EQ(status.state, JobState::kFailed);
  EXPECT_EQ(status.error_code, "invalid_payload");
  EXPECT_THAT(status.error_message, HasSubstr("/sleep_ms"));
}

TEST_F(EngineTest, ATimeoutCancelsTheAttemptAndRetries) {
  start({.timeout_ms = 100, .max_attempts = 2});
  const std::string id = submit(R"({"sleep_ms":60000})");
  const JobStatus status = wait_terminal(id);
  EXPECT_EQ(status.state, JobState::kFailed);
  EXPECT_EQ(status.error_code, "timeout");
  EXPECT_EQ(result(id).attempts, 2u);
}

TEST_F(EngineTest, APluginThatIgnoresCancellationLosesItsSlotNotThePool) {
  start({.concurrency = 1, .timeout_ms = 100, .max_attempts = 1}, /*cancel_grace=*/100ms);
  const std::string stuck = submit(R"({"sleep_ms":3000,"ignore_cancel":true})");
  const std::string next = submit(R"({"message":"after"})");
  // With one slot, `next` can only run once the stuck attempt's slot is freed,
  // long before the stuck plugin wakes up after 3 s.
  const JobStatus next_status = wait_terminal(next, 2s);
  EXPECT_EQ(next_status.state, JobState::kCompleted);
  const JobStatus stuck_status = wait_terminal(stuck);
  EXPECT_EQ(stuck_status.state, JobState::kFailed);
  EXPECT_EQ(stuck_status.error_code, "timeout");
  EXPECT_THAT(stuck_status.error_message, HasSubstr("ignored cancellation"));
  EXPECT_EQ(engine_->stats().at("echo").abandoned, 1u);
}

TEST_F(EngineTest, CancellingAQueuedJobMeansItNeverRuns) {
  const std::string id = submit(R"({"message":"never"})");
  auto cancelled = embedded_.jobs->cancel(id);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status().message();
  EXPECT_EQ(cancelled->state, JobState::kCancelled);
  start();
  JobResult stored;
  EXPECT_TRUE(eventually([&] {
    auto got = embedded_.backends.results->get(id);
    if (got.ok()) stored = *got;
    return got.ok();
  }));
  EXPECT_EQ(stored.final_state, JobState::kCancelled);
  EXPECT_TRUE(stored.output.empty());
  EXPECT_EQ(embedded_.jobs->cancel(id).status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(EngineTest, CancellationReachesARunningPlugin) {
  start();
  const std::string id = submit(R"({"progress":[40],"sleep_ms":60000})");
  ASSERT_TRUE(eventually([&] {
    auto status = embedded_.backends.statuses->get(id);
    return status.ok() && status->progress_percent == 40;
  }));
  ASSERT_TRUE(embedded_.jobs->cancel(id).ok());
  const JobStatus status = wait_terminal(id, 5s);
  EXPECT_EQ(status.state, JobState::kCancelled);
  EXPECT_EQ(status.progress_percent, 40);
  EXPECT_EQ(result(id).final_state, JobState::kCancelled);
}

TEST_F(EngineTest, AJobWhoseLiveStatusExpiredIsAnsweredFromItsResult) {
  // As after Redis's 24 h TTL: the result is kept, the status hash is gone.
  JobResult stored{.job_id = new_uuid4(),
                   .job_type = "echo",
                   .input = "{}",
                   .final_state = JobState::kFailed,
                   .completed_at = "2026-11-20T10:00:00Z",
                   .error = JobError{.code = "upstream_404", .message = "user not found"},
                   .trace_id = new_uuid4(),
                   .attempts = 2};
  ASSERT_TRUE(embedded_.backends.results->put(stored).ok());
  ASSERT_EQ(embedded_.backends.statuses->get(stored.job_id).status().code(), StatusCode::kNotFound);

  const auto status = embedded_.jobs->status(stored.job_id);
  ASSERT_TRUE(status.ok()) << status.status().message();
  EXPECT_EQ(status->state, JobState::kFailed);
  EXPECT_EQ(status->updated_at, stored.completed_at);
  EXPECT_EQ(status->job_type, "echo");
  EXPECT_EQ(status->trace_id, stored.trace_id);
  EXPECT_EQ(status->error_code, "upstream_404");
  EXPECT_EQ(status->error_message, "user not found");
  EXPECT_EQ(status->attempt, 2u);

  stored.job_id = new_uuid4();
  stored.final_state = JobState::kCompleted;
  stored.output = R"({"ok":true})";
  stored.error.reset();
  ASSERT_TRUE(embedded_.backends.results->put(stored).ok());
  const auto completed = embedded_.jobs->status(stored.job_id);
  ASSERT_TRUE(completed.ok());
  EXPECT_EQ(completed->state, JobState::kCompleted);
  EXPECT_EQ(completed->progress_percent, 100);
}

TEST_F(EngineTest, MalformedAndUnknownIdsAreRefused) {
  EXPECT_EQ(embedded_.jobs->status("not-a-uuid").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(embedded_.jobs->status(new_uuid4()).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(embedded_.jobs->cancel(new_uuid4()).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(embedded_.jobs->submit("nope", "{}").status().code(), StatusCode::kNotFound);
  const auto refused = embedded_.jobs->submit("echo", R"({"bogus":1})");
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  ASSERT_EQ(refused.field_errors().size(), 1u);
  EXPECT_EQ(refused.field_errors()[0].field, "/bogus");
}

TEST_F(EngineTest, DrainLetsInFlightJobsFinish) {
  start();
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(submit(R"({"sleep_ms":300})"));
  ASSERT_TRUE(eventually([&] { return engine_->stats().at("echo").in_flight == 4; }));
  engine_->drain();
  for (const auto& id : ids)
    EXPECT_EQ(embedded_.backends.statuses->get(id)->state, JobState::kCompleted);
}

TEST_F(EngineTest, DrainPastTheGraceReleasesJobsAndProgressSurvivesRedelivery) {
  start({}, 200ms, /*drain_grace=*/100ms);
  const std::string id = submit(R"({"progress":[60],"sleep_ms":60000})");
  ASSERT_TRUE(eventually([&] {
    auto status = embedded_.backends.statuses->get(id);
    return status.ok() && status->progress_percent == 60;
  }));
  engine_->drain();
  EXPECT_FALSE(is_terminal(embedded_.backends.statuses->get(id)->state));
  EXPECT_FALSE(embedded_.backends.results->get(id).ok()) << "a released job must not have a result";
  engine_.reset();
  close();

  // A new process: the job is delivered again, and its progress starts at 60.
  open();
  auto delivery = embedded_.backends.queue->take("echo", 1, 2s);
  ASSERT_TRUE(delivery.ok());
  ASSERT_EQ(delivery->size(), 1u);
  EXPECT_EQ((*delivery)[0].message.job_id, id);
  EXPECT_EQ(embedded_.backends.statuses->get(id)->progress_percent, 60);
}

TEST_F(EngineTest, ARedeliveryAfterTheResultWasStoredIsOnlyAcknowledged) {
  // Simulates a crash between "result written" and "acknowledged".
  const std::string id = submit(R"({"message":"first"})");
  auto taken = embedded_.backends.queue->take("echo", 1, 2s);
  ASSERT_TRUE(taken.ok());
  ASSERT_EQ(taken->size(), 1u);
  JobResult first{.job_id = id,
                  .job_type = "echo",
                  .input = "{}",
                  .output = R"({"echo":"stored before the crash"})",
                  .final_state = JobState::kCompleted,
                  .completed_at = now_rfc3339(),
                  .attempts = 1};
  ASSERT_TRUE(embedded_.backends.results->put(first).ok());
  close();  // no ack

  open();
  start();
  const JobStatus status = wait_terminal(id);
  EXPECT_EQ(status.state, JobState::kCompleted);
  EXPECT_EQ(status.message, "restored from the stored result");
  EXPECT_EQ(result(id).output, R"({"echo":"stored before the crash"})");
  EXPECT_EQ(engine_->stats().at("echo").completed, 0u) << "the job ran a second time";
}

TEST_F(EngineTest, AJobBackWithNoAttemptsLeftIsDeadLetteredWithoutRunning) {
  // As after a process that died in each of the job's three attempts: every
  // attempt was recorded before it ran, and none ended.
  const std::string id = submit(R"({"message":"poison"})");
  auto taken = embedded_.backends.queue->take("echo", 1, 2s);
  ASSERT_TRUE(taken.ok());
  ASSERT_EQ(taken->size(), 1u);
  ASSERT_TRUE(embedded_.backends.statuses
                  ->update_durable(JobStatus{.job_id = id,
                                             .state = JobState::kRunning,
                                             .updated_at = now_rfc3339(),
                                             .message = "attempt 3 of 3",
                                             .attempt = 3})
                  .ok());
  close();  // no ack: the lease dies as with the process

  open();
  start({.max_attempts = 3});
  const JobStatus status = wait_terminal(id);
  EXPECT_EQ(status.state, JobState::kFailed);
  EXPECT_EQ(status.error_code, "attempts_exhausted");
  EXPECT_THAT(status.error_message, HasSubstr("attempt 3 of 3 never finished"));
  EXPECT_EQ(wait_dead_letter("echo").error.code, "attempts_exhausted");
  EXPECT_EQ(result(id).attempts, 3u);
  EXPECT_EQ(engine_->stats().at("echo").completed, 0u) << "the job ran a fourth time";
}

TEST_F(EngineTest, TheJobTypeRegistryListsThePoolsWhileTheyTakeWork) {
  PluginSettings overrides;
  overrides.concurrency = 3;
  start(overrides);
  EngineJobTypeRegistry registry(*engine_);
  auto running = registry.list();
  ASSERT_TRUE(running.ok()) << running.status().message();
  ASSERT_EQ(running->size(), 1u);
  const JobTypeInfo& echo = running->front();
  EXPECT_EQ(echo.job_type, "echo");
  EXPECT_EQ(echo.abi_version, "1.0");
  EXPECT_EQ(echo.concurrency, 3u);
  EXPECT_EQ(echo.pools, 1u);
  EXPECT_THAT(echo.payload_schema_json, HasSubstr("\"type\""));

  engine_->drain();
  auto drained = registry.list();
  ASSERT_TRUE(drained.ok());
  EXPECT_EQ(drained->front().pools, 0u) << "a drained pool still looks healthy";
}

// A paused type's pool takes no new jobs: one already running finishes, a
// submitted one stays queued while the other types run, and resuming runs it.
TEST_F(EngineTest, APausedTypeKeepsItsJobsQueuedUntilResumed) {
  host_unruly("bad_utf8");
  start();
  EngineJobTypeRegistry registry(*engine_);
  const std::string running = submit(R"({"sleep_ms":400})");
  ASSERT_TRUE(eventually([&] {
    auto status = embedded_.jobs->status(running);
    return status.ok() && status->state == JobState::kRunning;
  }));
  ASSERT_TRUE(registry.set_paused("echo", true).ok());
  auto listed = registry.list();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_FALSE(listed->at(0).paused);  // bad_utf8
  EXPECT_TRUE(listed->at(1).paused);   // echo
  // The job that was running finishes.
  EXPECT_EQ(wait_terminal(running).state, JobState::kCompleted);

  const std::string held = submit(R"({"message":"later"})");
  // The other type's pool still takes work; by the time its job is over,
  // echo's idle workers had every chance to take the held one.
  EXPECT_EQ(wait_terminal(submit("{}", "bad_utf8")).state, JobState::kFailed);
  auto queued = embedded_.jobs->status(held);
  ASSERT_TRUE(queued.ok()) << queued.status().message();
  EXPECT_EQ(queued->state, JobState::kQueued);
  EXPECT_EQ(engine_->stats().at("echo").started, 1u);

  ASSERT_TRUE(registry.set_paused("echo", false).ok());
  EXPECT_EQ(wait_terminal(held).state, JobState::kCompleted);
  EXPECT_FALSE(registry.list()->at(1).paused);
  EXPECT_EQ(registry.set_paused("nobody", true).code(), StatusCode::kNotFound);
}

// A paused pool's workers sleep, and draining wakes them: stopping never
// waits for a resume.
TEST_F(EngineTest, APausedPoolDrainsAtOnce) {
  start();
  ASSERT_TRUE(engine_->set_paused("echo", true).ok());
  const std::string held = submit(R"({"message":"held"})");
  const auto before = std::chrono::steady_clock::now();
  engine_->drain();
  EXPECT_LT(std::chrono::steady_clock::now() - before, 2s);
  EXPECT_EQ(embedded_.jobs->status(held)->state, JobState::kQueued);
}

TEST_F(EngineTest, InvalidUtf8FromAPluginIsReplacedNotFatal) {
  host_unruly("bad_utf8");
  start();
  // Before the boundary check, encoding this failure threw on the pool's
  // completer thread and ended the process.
  const std::string failing = submit("{}", "bad_utf8");
  const JobStatus failed = wait_terminal(failing);
  EXPECT_EQ(failed.state, JobState::kFailed);
  EXPECT_EQ(failed.error_code, "bad\xEF\xBF\xBD");
  EXPECT_EQ(failed.error_message, "broken \xEF\xBF\xBD(\xEF\xBF\xBD( message");
  EXPECT_EQ(failed.progress_percent, 50);
  EXPECT_EQ(result(failing).error->code, "bad\xEF\xBF\xBD");
  // The dead letter is written just after the terminal status.
  const DeadLetter letter = wait_dead_letter("bad_utf8");
  EXPECT_EQ(letter.error.message, failed.error_message);

  const std::string bad_result = submit(R"({"result":true})", "bad_utf8");
  const JobStatus refused = wait_terminal(bad_result);
  EXPECT_EQ(refused.state, JobState::kFailed);
  EXPECT_EQ(refused.error_code, "invalid_result");
  EXPECT_EQ(wait_terminal(submit(R"({"message":"still up"})")).state, JobState::kCompleted);
}

TEST_F(EngineTest, AResultOverTheLimitFailsAsResultTooLarge) {
  host_unruly("big_result");
  start();
  // The default limit is 1 MiB.
  const std::string huge = submit(R"({"bytes":1048577})", "big_result");
  const std::string fits = submit(R"({"bytes":1048576})", "big_result");
  const JobStatus refused = wait_terminal(huge);
  EXPECT_EQ(refused.state, JobState::kFailed);
  EXPECT_EQ(refused.error_code, "result_too_large");
  EXPECT_THAT(refused.error_message,
              HasSubstr("1048577 bytes exceeds this pool's limit of 1048576"));
  EXPECT_EQ(result(huge).attempts, 1u) << "result_too_large is permanent";
  EXPECT_TRUE(result(huge).output.empty());
  EXPECT_EQ(wait_terminal(fits).state, JobState::kCompleted);
  EXPECT_EQ(result(fits).output.size(), 1048576u);
}

TEST_F(EngineTest, TheResultLimitIsAPoolSetting) {
  host_unruly("big_result");
  engine_settings_.per_plugin["big_result"].max_result_bytes = 100;
  start();
  const std::string refused = submit(R"({"bytes":101})", "big_result");
  const std::string fits = submit(R"({"bytes":100})", "big_result");
  EXPECT_EQ(wait_terminal(refused).error_code, "result_too_large");
  EXPECT_EQ(wait_terminal(fits).state, JobState::kCompleted);
}

TEST_F(EngineTest, TheResultLimitIsReadFromTheConfigFileAndTheEnvironment) {
  const fs::path config = data_dir_ / "config.json";
  {
    std::ofstream out(config);
    out << R"({"plugins": {"big_result": {"max_result_bytes": 2048}}})";
  }
  auto file = load_plugin_settings_file(config);
  ASSERT_TRUE(file.ok()) << file.status().message();
  EXPECT_EQ(file->at("big_result").max_result_bytes, 2048u);

  ::setenv("DTQ_PLUGIN_BIG_RESULT_MAX_RESULT_BYTES", "4096", 1);
  auto env = plugin_settings_from_env("big_result");
  ::setenv("DTQ_PLUGIN_BIG_RESULT_MAX_RESULT_BYTES", "lots", 1);
  auto malformed = plugin_settings_from_env("big_result");
  ::unsetenv("DTQ_PLUGIN_BIG_RESULT_MAX_RESULT_BYTES");
  ASSERT_TRUE(env.ok()) << env.status().message();
  EXPECT_EQ(env->max_result_bytes, 4096u);
  ASSERT_FALSE(malformed.ok());
  EXPECT_THAT(malformed.status().message(), HasSubstr("DTQ_PLUGIN_BIG_RESULT_MAX_RESULT_BYTES"));

  PluginSettings merged = file->at("big_result");
  overlay(merged, *env);
  EXPECT_EQ(
      resolve_pool_settings(fixture_plugin("unruly_big_result")->info(), merged).max_result_bytes,
      4096u);
  EXPECT_EQ(resolve_pool_settings(fixture_plugin("unruly_big_result")->info(), {}).max_result_bytes,
            kDefaultMaxResultBytes);
}

TEST_F(EngineTest, HostCallsAfterRunReturnedAreIgnored) {
  host_unruly("late_calls");
  // The library is loaded already (host_unruly): look up its counter.
  const fs::path library = fs::path(DTQ_TEST_PLUGIN_DIR) / "unruly_late_calls.so";
  void* handle = dlopen(library.c_str(), RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(handle, nullptr) << dlerror();
  const auto done = reinterpret_cast<int (*)()>(dlsym(handle, "unruly_late_calls_done"));
  ASSERT_NE(done, nullptr) << dlerror();
  const int before = done();
  start();
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(submit("{}", "late_calls"));
  for (const auto& id : ids) {
    const JobStatus status = wait_terminal(id);
    EXPECT_EQ(status.state, JobState::kCompleted);
    EXPECT_EQ(result(id).output, R"({"late":false})") << "a late set_result() replaced the result";
  }
  // Every late caller ran to its end (under AddressSanitizer: without
  // touching freed memory), and none changed a stored outcome.
  EXPECT_TRUE(eventually([&] { return done() == before + 4; }, 20s)) << done() - before;
  for (const auto& id : ids) {
    const JobStatus status = *embedded_.backends.statuses->get(id);
    EXPECT_EQ(status.state, JobState::kCompleted);
    EXPECT_EQ(status.message, "completed");
  }
  dlclose(handle);
}

TEST_F(EngineTest, AProgressFloodCostsABoundedNumberOfStatusWrites) {
  host_unruly("progress_flood");
  auto counting = std::make_unique<CountingStatusStore>(*embedded_.backends.statuses);
  const CountingStatusStore& writes = *counting;
  engine_statuses_ = std::move(counting);
  start();
  const auto started = Clock::now();
  const std::string id = submit("{}", "progress_flood");
  EXPECT_EQ(wait_terminal(id, 60s).state, JobState::kCompleted);
  const auto elapsed =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  // A million reports: one write per whole percent (100), one per 100 ms
  // interval for the messages in between, and the attempt's own few.
  const uint64_t bound = 100 + static_cast<uint64_t>(elapsed / 100ms) + 10;
  EXPECT_LE(writes.updates(), bound) << "in " << elapsed.count() << " ms";
  EXPECT_GE(writes.updates(), 100u);
}

TEST_F(EngineTest, AResultStoreOutageIsRetriedWithBackoffAndTheJobNeverRunsAgain) {
  auto faulty = std::make_unique<FaultyResultStore>(*embedded_.backends.results);
  FaultyResultStore& store = *faulty;
  engine_results_ = std::move(faulty);
  store.fail_next(3);
  start();
  const std::string id = submit(R"({"message":"once"})");
  EXPECT_EQ(wait_terminal(id).state, JobState::kCompleted);
  EXPECT_EQ(result(id).output, R"({"attempt":1,"echo":"once"})");
  const PoolStats stats = engine_->stats().at("echo");
  EXPECT_EQ(stats.released, 0u) << "the job was handed back to run again";
  EXPECT_EQ(stats.completed, 1u);
  // Three failed writes, then the one that stored it, with a growing wait
  // between them (at least 50, 100 and 200 ms, from 100 ms with jitter).
  const auto writes = store.writes();
  ASSERT_EQ(writes.size(), 4u);
  EXPECT_GE(writes[3] - writes[0], 350ms);
}

TEST_F(EngineTest, AResultTheStoreRefusesFailsItsOwnJobNotItsBatchMates) {
  auto faulty = std::make_unique<FaultyResultStore>(*embedded_.backends.results);
  FaultyResultStore& store = *faulty;
  engine_results_ = std::move(faulty);
  // Queued before the pool starts, so that their results meet in batches.
  std::vector<std::string> ids;
  for (int i = 0; i < 8; ++i) ids.push_back(submit(R"({"message":"mate"})"));
  store.refuse_output_of(ids[3]);
  start();
  for (size_t i = 0; i < ids.size(); ++i) {
    const JobStatus status = wait_terminal(ids[i]);
    if (i == 3) {
      EXPECT_EQ(status.state, JobState::kFailed);
      EXPECT_EQ(status.error_code, "result_not_stored");
      EXPECT_THAT(status.error_message, HasSubstr("is not storable"));
    } else {
      EXPECT_EQ(status.state, JobState::kCompleted) << i;
    }
  }
  const PoolStats stats = engine_->stats().at("echo");
  EXPECT_EQ(stats.released, 0u) << "a batch was handed back to run again";
  EXPECT_EQ(stats.completed, 7u);
  EXPECT_EQ(stats.failed, 1u);
}

TEST_F(EngineTest, AHungSingleThreadedPluginFailsWaitingAttemptsInsteadOfWedgingThePool) {
  host_unruly("hang_single");
  void* library = dlopen((fs::path(DTQ_TEST_PLUGIN_DIR) / "unruly_hang_single.so").c_str(),
                         RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(library, nullptr) << dlerror();
  const auto hangs_done = reinterpret_cast<int (*)()>(dlsym(library, "unruly_hangs_done"));
  ASSERT_NE(hangs_done, nullptr) << dlerror();
  const int hangs_before = hangs_done();
  engine_settings_.per_plugin["hang_single"] = {
      .concurrency = 2, .timeout_ms = 200, .max_attempts = 1};
  start({}, /*cancel_grace=*/100ms);
  const std::string hung = submit(R"({"hang_ms":1500})", "hang_single");
  ASSERT_TRUE(eventually([&] { return engine_->stats().at("hang_single").in_flight > 0; }));
  const std::string waiting = submit("{}", "hang_single");

  // The waiting attempt gives up at its own deadline, long before the hung
  // one returns, and its worker is not abandoned: no thread is lost for it.
  const JobStatus busy = wait_terminal(waiting, 5s);
  EXPECT_EQ(busy.state, JobState::kFailed);
  EXPECT_EQ(busy.error_code, "plugin_busy");
  EXPECT_THAT(busy.error_message, HasSubstr("single-threaded plugin was busy"));
  const JobStatus timed_out = wait_terminal(hung, 5s);
  EXPECT_EQ(timed_out.error_code, "timeout");
  EXPECT_EQ(hangs_done(), hangs_before) << "the test assumed the hang outlasts both attempts";
  EXPECT_EQ(engine_->stats().at("hang_single").abandoned, 1u);

  // Once the hung call returns, the plugin's one thread is free again.
  EXPECT_TRUE(eventually([&] { return hangs_done() != hangs_before; }));
  EXPECT_EQ(wait_terminal(submit("{}", "hang_single")).state, JobState::kCompleted);
  dlclose(library);
}

TEST_F(EngineTest, OnlyRefusesAnUnknownJobType) {
  EngineSettings settings;
  settings.only = {"weather"};
  auto engine = Engine::create(registry_, settings,
                               EnginePorts{*embedded_.backends.queue, *embedded_.backends.statuses,
                                           *embedded_.backends.results},
                               http_);
  ASSERT_FALSE(engine.ok());
  EXPECT_THAT(engine.status().message(),
              HasSubstr("no loaded plugin provides job type \"weather\""));
}

}  // namespace
}  // namespace dtq::host
