// Plugins in supervised runner processes (host/isolated_plugin.hpp): what a
// plugin's crash, exit, hang, memory hog or socket does to its runner, its
// job and the host — first on IsolatedPlugin alone, then in the job engine
// on the embedded backends, where a poison job must end dead-lettered while
// the other job types keep completing.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "dtq/core/ids.hpp"
#include "dtq/core/job_service.hpp"
#include "dtq/embedded/embedded_backends.hpp"
#include "dtq/host/engine.hpp"
#include "dtq/host/isolated_plugin.hpp"
#include "dtq/host/job_context.hpp"
#include "dtq/host/plugin_loader.hpp"
#include "support/embedded_jobs.hpp"
#include "support/eventually.hpp"

namespace dtq::host {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

RunnerSettings test_runner_settings() {
  RunnerSettings settings;
  settings.executable = DTQ_PLUGIN_RUNNER;
  settings.kill_grace = 300ms;
  settings.validate_timeout = 500ms;
  return settings;
}

std::shared_ptr<IsolatedPlugin> isolated(const std::string& name,
                                         RunnerSettings settings = test_runner_settings()) {
  auto plugin =
      IsolatedPlugin::start(fs::path(DTQ_TEST_PLUGIN_DIR) / (name + ".so"), std::move(settings));
  if (!plugin.ok()) throw std::runtime_error(plugin.status().message());
  return std::move(plugin).value();
}

// Records the progress a job reports.
class ProgressLog final : public JobObserver {
 public:
  void on_progress(const JobRequest& /*job*/, int percent, std::string_view /*message*/) override {
    std::lock_guard lock(mutex_);
    percents_.push_back(percent);
  }
  std::vector<int> percents() const {
    std::lock_guard lock(mutex_);
    return percents_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<int> percents_;
};

// Runs one attempt of `payload` on `plugin` and returns how it ended.
JobOutcome run_once(const Plugin& plugin, const std::string& payload,
                    Deadline deadline = std::chrono::steady_clock::now() + 10s,
                    JobObserver* observer = nullptr) {
  static HttpClient http;
  auto context = JobContext::create(JobRequest{.job_id = new_uuid4(),
                                               .job_type = plugin.info().job_type,
                                               .trace_id = new_uuid4(),
                                               .payload = payload,
                                               .deadline = deadline},
                                    OutboundPolicy{}, http, observer);
  plugin.run(*context);
  return context->finish();
}

TEST(IsolatedPluginTest, ReportsThePluginsMetadataWithoutLoadingItHere) {
  auto plugin = isolated("echo");
  EXPECT_EQ(plugin->info().job_type, "echo");
  EXPECT_EQ(plugin->info().default_concurrency, 4u);
  EXPECT_EQ(plugin->info().path, fs::path(DTQ_TEST_PLUGIN_DIR) / "echo.so");
  EXPECT_TRUE(plugin->health().network_isolated);
  ProgressLog progress;
  const JobOutcome outcome = run_once(*plugin, R"({"message":"hi","progress":[30,60]})",
                                      std::chrono::steady_clock::now() + 10s, &progress);
  EXPECT_EQ(outcome.kind, JobOutcome::Kind::kCompleted) << outcome.error_message;
  EXPECT_EQ(outcome.output_json, R"({"attempt":1,"echo":"hi"})");
  EXPECT_THAT(progress.percents(), ::testing::IsSupersetOf({30, 60}));
}

TEST(IsolatedPluginTest, RefusesALibraryWithTheLoadersReason) {
  auto refused = IsolatedPlugin::start(fs::path(DTQ_TEST_PLUGIN_DIR) / "bad_abi_major.so",
                                       test_runner_settings());
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("ABI major version mismatch"));
  EXPECT_THAT(refused.status().message(), HasSubstr("bad_abi_major.so"));
}

TEST(IsolatedPluginTest, NamesTheMissingRunnerBinary) {
  RunnerSettings settings = test_runner_settings();
  settings.executable = "/nonexistent/dtq-plugin-runner";
  auto refused = IsolatedPlugin::start(fs::path(DTQ_TEST_PLUGIN_DIR) / "echo.so", settings);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("/nonexistent/dtq-plugin-runner"));
}

struct Crash {
  const char* payload;
  const char* how;
};

class CrashTest : public ::testing::TestWithParam<Crash> {};

TEST_P(CrashTest, EndsOnlyTheJobAndTheNextJobGetsANewRunner) {
  auto plugin = isolated("poison");
  const JobOutcome crashed = run_once(*plugin, GetParam().payload);
  EXPECT_EQ(crashed.kind, JobOutcome::Kind::kFailed);
  EXPECT_EQ(crashed.error_code, "plugin_crashed");
  EXPECT_THAT(crashed.error_message, HasSubstr(GetParam().how));
  EXPECT_TRUE(crashed.retryable);
  EXPECT_EQ(plugin->health().crashes, 1u);

  const JobOutcome next = run_once(*plugin, R"({"do":"ok"})");
  EXPECT_EQ(next.kind, JobOutcome::Kind::kCompleted) << next.error_message;
  EXPECT_EQ(plugin->health().consecutive_crashes, 0u);
}

#if defined(__SANITIZE_ADDRESS__)
// AddressSanitizer catches the segfault in the runner and exits with 1.
constexpr const char* kSegfaultEnd = "exited with status 1";
#else
constexpr const char* kSegfaultEnd = "signal SIGSEGV";
#endif

INSTANTIATE_TEST_SUITE_P(Behaviours, CrashTest,
                         ::testing::Values(Crash{R"({"do":"segv"})", kSegfaultEnd},
                                           Crash{R"({"do":"abort"})", "signal SIGABRT"},
                                           Crash{R"({"do":"exit"})", "exited with status 0"}));

TEST(IsolatedPluginTest, KillsARunnerWhoseJobIgnoresItsDeadline) {
  auto plugin = isolated("poison");
  const auto started = std::chrono::steady_clock::now();
  const JobOutcome outcome =
      run_once(*plugin, R"({"do":"hang"})", std::chrono::steady_clock::now() + 300ms);
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(outcome.kind, JobOutcome::Kind::kFailed);
  EXPECT_EQ(outcome.error_code, "timeout");
  // The deadline, the grace, and margin for a loaded machine: not forever.
  EXPECT_LT(took, 5s);
  EXPECT_EQ(run_once(*plugin, R"({"do":"ok"})").kind, JobOutcome::Kind::kCompleted);
}

TEST(IsolatedPluginTest, AMemoryHogHitsItsRunnersLimit) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer builds run runners without a memory limit";
#endif
  RunnerSettings settings = test_runner_settings();
  settings.max_memory_mb = 256;
  auto plugin = isolated("poison", settings);
  const JobOutcome outcome = run_once(*plugin, R"({"do":"hog"})");
  EXPECT_EQ(outcome.error_code, "plugin_crashed");
  EXPECT_EQ(run_once(*plugin, R"({"do":"ok"})").kind, JobOutcome::Kind::kCompleted);
}

// A listener on loopback that the plugin tries to reach by itself.
class Listener {
 public:
  Listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&address), size), 0);
    EXPECT_EQ(::listen(fd_, 4), 0);
    EXPECT_EQ(::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &size), 0);
    port_ = ntohs(address.sin_port);
  }
  ~Listener() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(IsolatedPluginTest, ARunnerHasNoNetworkOfItsOwn) {
  Listener listener;
  const std::string payload = R"({"do":"socket","port":)" + std::to_string(listener.port()) + "}";
  // In process, the same plugin reaches the listener: the test can fail.
  auto in_process = load_plugin(fs::path(DTQ_TEST_PLUGIN_DIR) / "poison.so");
  ASSERT_TRUE(in_process.ok()) << in_process.status().message();
  EXPECT_EQ(run_once(**in_process, payload).output_json, R"({"connected":true})");

  auto plugin = isolated("poison");
  const JobOutcome outcome = run_once(*plugin, payload);
  ASSERT_EQ(outcome.kind, JobOutcome::Kind::kCompleted) << outcome.error_message;
  EXPECT_THAT(outcome.output_json, HasSubstr(R"("connected":false)"));
  EXPECT_THAT(outcome.output_json, HasSubstr("Permission denied"));
}

TEST(IsolatedPluginTest, ASlowValidatorIsCutOffWithoutAVerdict) {
  auto plugin = isolated("poison");
  const auto started = std::chrono::steady_clock::now();
  auto slow = plugin->check(R"({"do":"slow_validate"})");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  ASSERT_FALSE(slow.ok());
  EXPECT_EQ(slow.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_THAT(slow.status().message(), HasSubstr("did not validate the payload within 500 ms"));
  auto quick = plugin->check(R"({"do":"ok"})");
  ASSERT_TRUE(quick.ok()) << quick.status().message();
  EXPECT_TRUE(quick->valid());
}

TEST(IsolatedPluginTest, ValidatesThroughTheRunner) {
  auto plugin = isolated("echo");
  auto bad = plugin->check(R"({"nope":1})");
  ASSERT_TRUE(bad.ok()) << bad.status().message();
  ASSERT_EQ(bad->errors.size(), 1u);
  EXPECT_EQ(bad->errors[0].field, "/nope");
  auto good = plugin->check(R"({"message":"x"})");
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(good->normalized_payload, R"({"message":"x"})");
  EXPECT_FALSE(plugin->check("not json").ok() && plugin->check("not json")->valid());
}

// A batch's payloads go to the runner in one write; each is answered in
// order, and one whose validate() kills the runner is charged alone while
// its batch-mates, suspects only, are checked again and answered.
TEST(IsolatedPluginTest, ValidatesABatchInOneGoAndChargesACrashToItsCulprit) {
  auto echo = isolated("echo");
  std::vector<std::string> texts;
  for (int i = 0; i < 200; ++i) {
    texts.push_back(i % 3 == 0 ? R"({"nope":1})" : R"({"message":")" + std::to_string(i) + R"("})");
  }
  const std::vector<std::string_view> payloads(texts.begin(), texts.end());
  const auto outcomes = echo->check_batch(payloads);
  ASSERT_EQ(outcomes.size(), payloads.size());
  for (size_t i = 0; i < payloads.size(); ++i) {
    ASSERT_TRUE(outcomes[i].ok()) << i << ": " << outcomes[i].status().message();
    EXPECT_EQ(outcomes[i]->valid(), i % 3 != 0) << i;
    if (i % 3 != 0) {
      EXPECT_EQ(outcomes[i]->normalized_payload, payloads[i]);
    }
  }

  auto poison = isolated("poison");
  const std::vector<std::string_view> mixed{R"({"do":"ok"})", R"({"do":"crash_validate"})",
                                            R"({"do":"nap"})", R"({"do":"ok"})"};
  const auto answered = poison->check_batch(mixed);
  ASSERT_EQ(answered.size(), mixed.size());
  EXPECT_EQ(answered[1].status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(answered[1].status().message(), HasSubstr("while validating the payload"));
  for (const size_t i : {0U, 2U, 3U}) {
    ASSERT_TRUE(answered[i].ok()) << i << ": " << answered[i].status().message();
    EXPECT_TRUE(answered[i]->valid()) << i;
  }
  EXPECT_EQ(poison->health().crashes, 1U);
}

// The runner validates before it runs, so a pool spends no round trip of
// its own on validation (validates_on_run()).
TEST(IsolatedPluginTest, RefusesAnInvalidPayloadInTheRunnerBeforeRunningIt) {
  auto plugin = isolated("echo");
  ASSERT_TRUE(plugin->validates_on_run());
  const JobOutcome refused = run_once(*plugin, "[1,2]");
  EXPECT_EQ(refused.kind, JobOutcome::Kind::kFailed);
  EXPECT_EQ(refused.error_code, "invalid_payload");
  EXPECT_THAT(refused.error_message, HasSubstr("payload: "));
  EXPECT_FALSE(refused.retryable);
  EXPECT_EQ(plugin->health().crashes, 0u);
}

TEST(IsolatedPluginTest, ManyJobsAtOnceShareOneRunner) {
  auto plugin = isolated("echo");
  std::vector<std::thread> threads;
  std::atomic<int> completed{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      const JobOutcome outcome =
          run_once(*plugin, R"({"message":")" + std::to_string(i) + R"(","sleep_ms":50})");
      if (outcome.kind == JobOutcome::Kind::kCompleted) ++completed;
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(completed.load(), 8);
  EXPECT_EQ(plugin->health().runners, 1u);
}

// Who pays for a crash: the jobs that shared the runner with a poison job
// are re-run alone and complete; only the poison job, crashing again alone,
// is charged.
TEST(IsolatedPluginTest, ACrashIsChargedOnlyToTheJobThatCrashesAlone) {
  auto plugin = isolated("poison");
  std::vector<std::thread> innocents;
  std::vector<JobOutcome> outcomes(4);
  ProgressLog started;
  for (size_t i = 0; i < outcomes.size(); ++i) {
    innocents.emplace_back([&, i] {
      outcomes[i] =
          run_once(*plugin, R"({"do":"nap"})", std::chrono::steady_clock::now() + 10s, &started);
    });
  }
  // Every innocent is napping in the shared runner (it reported its first
  // progress) before the poison arrives.
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (started.percents().size() < outcomes.size() && std::chrono::steady_clock::now() < until)
    std::this_thread::yield();
  ASSERT_EQ(started.percents().size(), outcomes.size());
  const JobOutcome poison = run_once(*plugin, R"({"do":"segv"})");
  for (auto& thread : innocents) thread.join();

  EXPECT_EQ(poison.error_code, "plugin_crashed");
  EXPECT_THAT(poison.error_message, HasSubstr(kSegfaultEnd));
  for (const auto& outcome : outcomes) {
    EXPECT_EQ(outcome.kind, JobOutcome::Kind::kCompleted) << outcome.error_code;
  }
  EXPECT_EQ(plugin->health().crashes, 1u);
}

// Starts one attempt with run_async(); the outcome arrives through wait().
class AsyncAttempt {
 public:
  AsyncAttempt(const Plugin& plugin, const std::string& payload,
               Deadline deadline = std::chrono::steady_clock::now() + 10s,
               JobObserver* observer = nullptr) {
    static HttpClient http;
    context_ = JobContext::create(JobRequest{.job_id = new_uuid4(),
                                             .job_type = plugin.info().job_type,
                                             .trace_id = new_uuid4(),
                                             .payload = payload,
                                             .deadline = deadline},
                                  OutboundPolicy{}, http, observer);
    plugin.run_async(context_, [this] {
      std::lock_guard lock(mutex_);
      ++calls_;
      ended_.notify_all();
    });
  }
  [[nodiscard]] bool ended() {
    std::lock_guard lock(mutex_);
    return calls_ > 0;
  }
  // How the attempt ended; fails the test unless `done` came exactly once.
  JobOutcome wait(std::chrono::seconds limit = 20s) {
    std::unique_lock lock(mutex_);
    EXPECT_TRUE(ended_.wait_for(lock, limit, [&] { return calls_ > 0; })) << "done() never came";
    EXPECT_EQ(calls_, 1);
    return context_->finish();
  }

 private:
  std::shared_ptr<JobContext> context_;
  std::mutex mutex_;
  std::condition_variable ended_;
  int calls_ = 0;
};

TEST(IsolatedPluginAsyncTest, ManyJobsInFlightEachEndOnce) {
  auto plugin = isolated("echo");
  std::vector<std::unique_ptr<AsyncAttempt>> attempts;
  for (int i = 0; i < 200; ++i) {
    attempts.push_back(std::make_unique<AsyncAttempt>(
        *plugin, R"({"message":")" + std::to_string(i) + R"(","sleep_ms":5})"));
  }
  for (auto& attempt : attempts) {
    const JobOutcome outcome = attempt->wait();
    EXPECT_EQ(outcome.kind, JobOutcome::Kind::kCompleted) << outcome.error_code;
  }
  EXPECT_EQ(plugin->health().runners, 1u);
}

TEST(IsolatedPluginAsyncTest, ACrashIsChargedOnlyToTheJobThatCrashesAlone) {
  auto plugin = isolated("poison");
  ProgressLog started;
  std::vector<std::unique_ptr<AsyncAttempt>> innocents;
  for (int i = 0; i < 4; ++i) {
    innocents.push_back(std::make_unique<AsyncAttempt>(
        *plugin, R"({"do":"nap"})", std::chrono::steady_clock::now() + 10s, &started));
  }
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (started.percents().size() < innocents.size() && std::chrono::steady_clock::now() < until)
    std::this_thread::yield();
  ASSERT_EQ(started.percents().size(), innocents.size());
  AsyncAttempt poison(*plugin, R"({"do":"segv"})");

  const JobOutcome crashed = poison.wait();
  EXPECT_EQ(crashed.error_code, "plugin_crashed");
  EXPECT_THAT(crashed.error_message, HasSubstr(kSegfaultEnd));
  for (auto& innocent : innocents) {
    const JobOutcome outcome = innocent->wait();
    EXPECT_EQ(outcome.kind, JobOutcome::Kind::kCompleted) << outcome.error_code;
  }
  EXPECT_EQ(plugin->health().crashes, 1u);
}

TEST(IsolatedPluginAsyncTest, KillsARunnerWhoseJobIgnoresItsDeadline) {
  auto plugin = isolated("poison");
  AsyncAttempt hung(*plugin, R"({"do":"hang"})", std::chrono::steady_clock::now() + 200ms);
  const JobOutcome outcome = hung.wait();
  EXPECT_EQ(outcome.kind, JobOutcome::Kind::kFailed);
  EXPECT_EQ(outcome.error_code, "timeout");
  AsyncAttempt next(*plugin, R"({"do":"ok"})");
  EXPECT_EQ(next.wait().kind, JobOutcome::Kind::kCompleted);
}

// A plugin let go while its jobs run (a pool that gave up on them, a job
// alone on its quarantine runner) kills their runners and ends them before
// it is gone, so that no runner's reader reaches it afterwards (what
// AddressSanitizer caught when this was not so).
TEST(IsolatedPluginAsyncTest, AnUnloadedPluginEndsItsRunningJobsFirst) {
  auto plugin = isolated("poison");
  const auto later = std::chrono::steady_clock::now() + 60s;
  // A crash among hangs: each hang is re-run alone, in a quarantine runner
  // that only its job holds.
  AsyncAttempt first(*plugin, R"({"do":"hang"})", later);
  AsyncAttempt crashing(*plugin, R"({"do":"segv"})", later);
  AsyncAttempt second(*plugin, R"({"do":"hang"})", later);
  ASSERT_TRUE(dtq::testing::eventually([&] { return crashing.ended(); }, 20s));
  EXPECT_EQ(crashing.wait().error_code, "plugin_crashed");
  AsyncAttempt on_shared(*plugin, R"({"do":"hang"})", later);  // the next shared runner
  plugin.reset();
  // A quarantine thread may hold the plugin a little longer; then it goes.
  for (AsyncAttempt* job : {&first, &second, &on_shared}) {
    ASSERT_TRUE(dtq::testing::eventually([&] { return job->ended(); }, 20s));
    const JobOutcome outcome = job->wait();
    EXPECT_EQ(outcome.error_code, "plugin_unavailable") << outcome.error_message;
    EXPECT_THAT(outcome.error_message, HasSubstr("unloaded"));
  }
}

// The reader keeps deadlines while frames keep coming, not only when the
// channel falls quiet.
TEST(IsolatedPluginAsyncTest, KillsAnOverdueJobWhileOtherJobsKeepTheChannelBusy) {
  auto plugin = isolated("poison");
  AsyncAttempt hung(*plugin, R"({"do":"hang"})", std::chrono::steady_clock::now() + 200ms);
  std::vector<std::unique_ptr<AsyncAttempt>> traffic;
  const auto started = std::chrono::steady_clock::now();
  // A job every 20 ms: never the 100 ms of silence an idle reader waits for.
  while (!hung.ended() && std::chrono::steady_clock::now() - started < 5s) {
    traffic.push_back(std::make_unique<AsyncAttempt>(*plugin, R"({"do":"ok"})"));
    std::this_thread::sleep_for(20ms);  // the pacing is the point
  }
  EXPECT_TRUE(hung.ended()) << "the overdue job outlived 5 s of traffic";
  EXPECT_EQ(hung.wait().error_code, "timeout");
  for (auto& job : traffic) EXPECT_EQ(job->wait().kind, JobOutcome::Kind::kCompleted);
}

// A batch goes to the runner in one write; the jobs still run side by side,
// each ends exactly once, and a crash among them is charged only to the job
// that crashes again alone.
TEST(IsolatedPluginAsyncTest, ABatchRunsInOneGoAndACrashInItIsChargedOnlyToItsCulprit) {
  auto plugin = isolated("poison");
  ASSERT_TRUE(plugin->runs_batches());
  static HttpClient http;
  const std::vector<std::string> payloads = {R"({"do":"nap"})", R"({"do":"nap"})",
                                             R"({"do":"segv"})", R"({"do":"nap"})",
                                             R"({"do":"nap"})"};
  std::mutex mutex;
  std::condition_variable ended;
  std::vector<int> calls(payloads.size(), 0);
  std::vector<std::shared_ptr<JobContext>> contexts;
  std::vector<Plugin::AsyncAttempt> batch;
  for (size_t i = 0; i < payloads.size(); ++i) {
    contexts.push_back(
        JobContext::create(JobRequest{.job_id = new_uuid4(),
                                      .job_type = "poison",
                                      .trace_id = new_uuid4(),
                                      .payload = payloads[i],
                                      .deadline = std::chrono::steady_clock::now() + 20s},
                           OutboundPolicy{}, http, nullptr));
    batch.push_back({contexts.back(), [&, i] {
                       std::lock_guard lock(mutex);
                       ++calls[i];
                       ended.notify_all();
                     }});
  }
  const auto started = std::chrono::steady_clock::now();
  plugin->run_batch(std::move(batch));
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(ended.wait_for(lock, 30s, [&] {
      return std::all_of(calls.begin(), calls.end(), [](int n) { return n > 0; });
    })) << "a job of the batch never ended";
  }
  for (size_t i = 0; i < payloads.size(); ++i) {
    std::lock_guard lock(mutex);
    EXPECT_EQ(calls[i], 1) << payloads[i];
    const JobOutcome outcome = contexts[i]->finish();
    if (payloads[i].find("segv") != std::string::npos) {
      EXPECT_EQ(outcome.error_code, "plugin_crashed");
      EXPECT_THAT(outcome.error_message, HasSubstr(kSegfaultEnd));
    } else {
      EXPECT_EQ(outcome.kind, JobOutcome::Kind::kCompleted) << outcome.error_code;
    }
  }
  EXPECT_EQ(plugin->health().crashes, 1u);
  // Four naps of 500 ms side by side, then again in quarantine, side by
  // side: far less than the 4 s of naps run one after another.
  EXPECT_LT(std::chrono::steady_clock::now() - started, 4s);
}

// The engine with the poison plugin beside echo, both isolated.
class IsolatedEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_dir_ = fs::temp_directory_path() / ("dtq-isolation-" + new_uuid4());
    ASSERT_TRUE(registry_.add(isolated("echo")).ok());
    ASSERT_TRUE(registry_.add(isolated("poison")).ok());
    const Status opened = embedded_.open(data_dir_, registry_);
    ASSERT_TRUE(opened.ok()) << opened.message();
    EngineSettings settings;
    settings.backoff_base = 10ms;
    settings.cancel_grace = 200ms;
    settings.per_plugin["poison"] = {.max_attempts = 2};
    auto engine = Engine::create(registry_, settings, embedded_.ports(), http_);
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    engine_ = std::move(engine).value();
    engine_->start();
  }
  void TearDown() override {
    engine_.reset();
    embedded_.close();
    fs::remove_all(data_dir_);
  }

  std::string submit(const std::string& job_type, const std::string& payload) {
    const auto job = embedded_.jobs->submit(job_type, payload);
    EXPECT_TRUE(job.ok()) << job.status().message();
    return job.ok() ? job->job_id : "";
  }

  JobStatus wait_terminal(const std::string& job_id, std::chrono::seconds limit = 30s) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
      auto status = embedded_.backends.statuses->get(job_id);
      if (status.ok() && is_terminal(status->state)) return *status;
      std::this_thread::sleep_for(10ms);
    }
    ADD_FAILURE() << "job " << job_id << " did not end within " << limit.count() << " s";
    return {};
  }

  fs::path data_dir_;
  PluginRegistry registry_;
  HttpClient http_;
  testing::EmbeddedJobs embedded_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(IsolatedEngineTest, PoisonJobsAreDeadLetteredAndOtherTypesKeepCompleting) {
  std::vector<std::string> poison;
  for (const char* action : {"segv", "abort", "exit", "hang"}) {
    poison.push_back(submit("poison", std::string(R"({"do":")") + action + R"("})"));
  }
  std::vector<std::string> echoes;
  for (int i = 0; i < 20; ++i) echoes.push_back(submit("echo", R"({"message":"still here"})"));
  for (const auto& id : echoes) EXPECT_EQ(wait_terminal(id).state, JobState::kCompleted) << id;
  for (const auto& id : poison) {
    const JobStatus status = wait_terminal(id);
    EXPECT_EQ(status.state, JobState::kFailed) << id;
    EXPECT_THAT(status.error_code, ::testing::AnyOf("plugin_crashed", "timeout")) << id;
  }
  auto letters = embedded_.jobs->dead_letters("poison", 10);
  ASSERT_TRUE(letters.ok());
  EXPECT_EQ(letters->size(), poison.size());
  for (const auto& letter : *letters) {
    EXPECT_THAT(letter.error.message,
                ::testing::AnyOf(HasSubstr("runner process"), HasSubstr("timeout")));
  }
}

}  // namespace
}  // namespace dtq::host
