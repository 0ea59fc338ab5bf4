// Functional tier: the real `dtq worker` binary on a real data folder.
// SIGKILL mid-run and restart lose no job and store one result each; a job
// that crashes the worker every time is dead-lettered once its attempts are
// used; SIGTERM drains and exits cleanly; a second worker on the same folder
// is refused; the admin port answers probes and Prometheus.
#include <curl/curl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>

#include "dtq/core/ids.hpp"
#include "dtq/core/job_service.hpp"
#include "dtq/core/status_progress_query.hpp"
#include "dtq/embedded/embedded_backends.hpp"
#include "dtq/host/engine.hpp"
#include "dtq/host/plugin_loader.hpp"
#include "support/eventually.hpp"

namespace dtq {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using dtq::testing::eventually;

class WorkerProcess {
 public:
  WorkerProcess(const fs::path& plugins, const fs::path& data,
                std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {
        DTQ_CLI,       "--plugin-dir", plugins.string(), "--data-dir",    data.string(),
        "--log-level", "warn",         "worker",         "--concurrency", "4"};
    args.insert(args.end(), extra.begin(), extra.end());
    pid_ = fork();
    if (pid_ == 0) {
      std::vector<char*> argv;
      for (auto& arg : args) argv.push_back(arg.data());
      argv.push_back(nullptr);
      execv(DTQ_CLI, argv.data());
      _exit(127);
    }
  }
  ~WorkerProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  void kill_now(int signal) { kill(pid_, signal); }
  [[nodiscard]] pid_t pid() const { return pid_; }
  // The exit status (128 + the signal for a killed process) once it has
  // exited; nullopt while it runs. Does not wait.
  std::optional<int> exit_status() {
    int status = 0;
    if (pid_ > 0 && waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    return exit_status_;
  }
  // The exit status, or -1 if it did not exit within `limit`.
  int wait_exit(std::chrono::seconds limit) {
    std::optional<int> status;
    return eventually([&] { return (status = exit_status()).has_value(); }, limit) ? *status : -1;
  }

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_status_;
};

class WorkerProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("dtq-worker-" + new_uuid4());
    fs::create_directories(root_ / "plugins");
    fs::create_symlink(fs::path(DTQ_TEST_PLUGIN_DIR) / "echo.so", root_ / "plugins" / "echo.so");
    auto plugin = host::load_plugin(root_ / "plugins" / "echo.so");
    ASSERT_TRUE(plugin.ok()) << plugin.status().message();
    ASSERT_TRUE(registry_.add(*plugin).ok());
    auto backends =
        embedded::open_embedded({.data_dir = root_ / "data", .role = embedded::Role::kClient});
    ASSERT_TRUE(backends.ok()) << backends.status().message();
    backends_ = std::move(backends).value();
    validator_ = std::make_unique<host::LocalPayloadValidator>(registry_);
    progress_ = std::make_unique<StatusProgressQuery>(*backends_.statuses);
    jobs_ = std::make_unique<JobService>(*backends_.queue, *backends_.statuses, *backends_.results,
                                         *validator_, *progress_);
  }
  void TearDown() override {
    jobs_.reset();
    backends_ = {};
    fs::remove_all(root_);
  }

  std::vector<std::string> submit_many(int count, const std::string& payload) {
    std::vector<std::string> ids;
    for (int i = 0; i < count; ++i) {
      const auto job = jobs_->submit("echo", payload);
      EXPECT_TRUE(job.ok()) << job.status().message();
      ids.push_back(job.ok() ? job->job_id : "");
    }
    return ids;
  }
  size_t count_terminal(const std::vector<std::string>& ids) {
    size_t done = 0;
    for (const auto& id : ids) {
      if (auto s = backends_.statuses->get(id); s.ok() && is_terminal(s->state)) ++done;
    }
    return done;
  }
  bool wait_all_terminal(const std::vector<std::string>& ids, std::chrono::seconds limit) {
    return eventually([&] { return count_terminal(ids) == ids.size(); }, limit, 50ms);
  }

  fs::path root_;
  host::PluginRegistry registry_;
  embedded::EmbeddedBackends backends_;
  std::unique_ptr<host::LocalPayloadValidator> validator_;
  std::unique_ptr<StatusProgressQuery> progress_;
  std::unique_ptr<JobService> jobs_;
};

TEST_F(WorkerProcessTest, SigkillMidRunLosesNothingAndDuplicatesNothing) {
  const auto ids = submit_many(300, R"({"progress":[50],"sleep_ms":10})");
  {
    WorkerProcess first(root_ / "plugins", root_ / "data");
    ASSERT_TRUE(eventually([&] { return count_terminal(ids) >= 60; }, 30s))
        << "the first worker made no progress";
    ASSERT_LT(count_terminal(ids), ids.size()) << "too fast to kill mid-run";
    first.kill_now(SIGKILL);
    EXPECT_EQ(first.wait_exit(10s), 128 + SIGKILL);
  }
  WorkerProcess second(root_ / "plugins", root_ / "data");
  ASSERT_TRUE(wait_all_terminal(ids, 60s))
      << count_terminal(ids) << " of " << ids.size() << " ended";
  second.kill_now(SIGTERM);
  EXPECT_EQ(second.wait_exit(30s), 0);

  for (const auto& id : ids) {
    auto status = backends_.statuses->get(id);
    ASSERT_TRUE(status.ok());
    EXPECT_EQ(status->state, JobState::kCompleted) << id;
    auto result = backends_.results->get(id);
    ASSERT_TRUE(result.ok()) << id;
    EXPECT_EQ(result->final_state, JobState::kCompleted);
    // A second put for the same id is refused: one result per job, ever.
    auto again = backends_.results->put(*result);
    ASSERT_TRUE(again.ok());
    EXPECT_FALSE(*again);
  }
  auto letters = jobs_->dead_letters("", 10);
  ASSERT_TRUE(letters.ok());
  EXPECT_TRUE(letters->empty());
}

TEST_F(WorkerProcessTest, AJobThatCrashesTheWorkerIsDeadLetteredOnceItsAttemptsAreUsed) {
  // "crasher" abort()s the worker in run(); echo jobs share the worker.
  fs::create_symlink(fs::path(DTQ_TEST_PLUGIN_DIR) / "unruly_crasher.so",
                     root_ / "plugins" / "unruly_crasher.so");
  auto crasher = host::load_plugin(root_ / "plugins" / "unruly_crasher.so");
  ASSERT_TRUE(crasher.ok()) << crasher.status().message();
  ASSERT_TRUE(registry_.add(*crasher).ok());
  constexpr int kMaxAttempts = 3;
  // Echo jobs in flight when the worker dies lose an attempt too: give them
  // more than the crashes can use.
  const fs::path config = root_ / "config.json";
  std::ofstream(config)
      << R"({"plugins": {"crasher": {"max_attempts": 3}, "echo": {"max_attempts": 10}}})";
  const auto echoes = submit_many(40, R"({"sleep_ms":20})");
  const auto submitted = jobs_->submit("crasher", "{}");
  ASSERT_TRUE(submitted.ok()) << submitted.status().message();
  const SubmittedJob& poison = *submitted;
  const auto poison_ended = [&] {
    auto status = backends_.statuses->get(poison.job_id);
    return status.ok() && is_terminal(status->state);
  };

  int crashes = 0;
  for (int start = 0; start <= kMaxAttempts + 1 && !poison_ended(); ++start) {
    // In process on purpose: only there can a plugin take the worker down
    // (isolation_test covers the isolated default).
    WorkerProcess worker(root_ / "plugins", root_ / "data",
                         {"--config", config.string(), "--isolation", "in_process"});
    std::optional<int> exited;
    eventually([&] { return (exited = worker.exit_status()).has_value() || poison_ended(); }, 30s,
               20ms);
    if (exited) {
      EXPECT_EQ(*exited, 128 + SIGABRT);
      ++crashes;
      continue;
    }
    ASSERT_TRUE(poison_ended()) << "the worker neither crashed nor ended the job within 30 s";
    // The worker that ended it keeps running the other jobs.
    EXPECT_TRUE(wait_all_terminal(echoes, 60s))
        << count_terminal(echoes) << " of " << echoes.size();
    worker.kill_now(SIGTERM);
    EXPECT_EQ(worker.wait_exit(30s), 0);
  }
  EXPECT_EQ(crashes, kMaxAttempts) << "one crash per attempt, then no more";

  auto status = backends_.statuses->get(poison.job_id);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->state, JobState::kFailed);
  EXPECT_EQ(status->error_code, "attempts_exhausted");
  EXPECT_THAT(status->error_message, ::testing::HasSubstr("attempt 3 of 3 never finished"));
  auto letters = jobs_->dead_letters("crasher", 10);
  ASSERT_TRUE(letters.ok());
  ASSERT_EQ(letters->size(), 1u);
  EXPECT_EQ((*letters)[0].message.job_id, poison.job_id);
  EXPECT_EQ((*letters)[0].error.code, "attempts_exhausted");
  EXPECT_EQ((*letters)[0].attempts, 3u);
  for (const auto& id : echoes) {
    auto echo = backends_.statuses->get(id);
    ASSERT_TRUE(echo.ok());
    EXPECT_EQ(echo->state, JobState::kCompleted) << id;
  }
}

// A loopback port free now.
int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  bind(fd, reinterpret_cast<sockaddr*>(&address), size);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  close(fd);
  return ntohs(address.sin_port);
}

// GET `url`: the status code (0 when nothing answered) and the body.
std::pair<long, std::string> get(const std::string& url) {
  std::string body;
  CURL* curl = curl_easy_init();
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(
      curl, CURLOPT_WRITEFUNCTION, +[](char* data, size_t size, size_t count, void* out) {
        static_cast<std::string*>(out)->append(data, size * count);
        return size * count;
      });
  long code = 0;
  if (curl_easy_perform(curl) == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_cleanup(curl);
  return {code, body};
}

TEST_F(WorkerProcessTest, TheAdminPortAnswersProbesAndPrometheus) {
  const std::string admin = "http://127.0.0.1:" + std::to_string(free_port());
  WorkerProcess worker(root_ / "plugins", root_ / "data", {"--admin-listen", admin.substr(7)});
  eventually([&] { return get(admin + "/readyz").first == 200; }, 20s, 50ms);
  EXPECT_EQ(get(admin + "/healthz"), (std::pair<long, std::string>{200, R"({"status":"ok"})"}));
  EXPECT_EQ(get(admin + "/readyz"), (std::pair<long, std::string>{200, R"({"status":"ready"})"}));
  const auto ids = submit_many(3, R"({"message":"x"})");
  ASSERT_TRUE(wait_all_terminal(ids, 20s));
  const auto [code, metrics] = get(admin + "/metrics");
  EXPECT_EQ(code, 200);
  EXPECT_THAT(metrics, ::testing::HasSubstr(R"(dtq_pool_concurrency{job_type="echo"} 4)"));
  EXPECT_THAT(metrics,
              ::testing::HasSubstr(R"(dtq_plugin_runner_crashes_total{job_type="echo"} 0)"));
  // What the pool counted (docs/deploy.md's metrics reference): the counts
  // land just after each job's terminal status, so each is waited for.
  for (const char* line :
       {R"(dtq_worker_attempts_started_total{job_type="echo"} 3)",
        R"(dtq_worker_jobs_total{job_type="echo",outcome="completed"} 3)",
        R"(dtq_worker_jobs_total{job_type="echo",outcome="failed"} 0)",
        R"(dtq_worker_jobs_dead_lettered_total{job_type="echo"} 0)",
        R"(dtq_worker_attempt_duration_seconds_count{job_type="echo"} 3)",
        R"(dtq_worker_attempt_duration_seconds_bucket{job_type="echo",le="+Inf"} 3)",
        R"(dtq_worker_backend_errors_total{job_type="echo",port="queue"} 0)",
        R"(dtq_worker_ready{job_type="echo"} 1)"}) {
    EXPECT_TRUE(eventually(
        [&] { return get(admin + "/metrics").second.find(line) != std::string::npos; }, 10s, 50ms))
        << line;
  }
  EXPECT_EQ(get(admin + "/nothing").first, 404);
  worker.kill_now(SIGTERM);
  EXPECT_EQ(worker.wait_exit(30s), 0);
}

// MongoDB's driver is a module the distributed wiring loads
// (dtq/mongo/mongo_module.hpp): its library constructor sets up OpenSSL and
// SASL, megabytes an embedded worker would carry at rest.
TEST_F(WorkerProcessTest, AnEmbeddedWorkerNeverLoadsTheMongoDbDriver) {
  const std::string admin = "http://127.0.0.1:" + std::to_string(free_port());
  WorkerProcess worker(root_ / "plugins", root_ / "data", {"--admin-listen", admin.substr(7)});
  ASSERT_TRUE(eventually([&] { return get(admin + "/readyz").first == 200; }, 20s, 50ms));
  const auto ids = submit_many(2, R"({"message":"x"})");
  ASSERT_TRUE(wait_all_terminal(ids, 20s));
  std::ifstream maps("/proc/" + std::to_string(worker.pid()) + "/maps");
  const std::string mapped((std::istreambuf_iterator<char>(maps)), {});
  ASSERT_THAT(mapped, ::testing::HasSubstr("libsqlite3"));  // the maps were read
  EXPECT_THAT(mapped, ::testing::Not(::testing::HasSubstr("libmongoc")));
  EXPECT_THAT(mapped, ::testing::Not(::testing::HasSubstr("dtq-backend-mongo")));
  worker.kill_now(SIGTERM);
  EXPECT_EQ(worker.wait_exit(30s), 0);
}

TEST_F(WorkerProcessTest, SigtermDrainsInFlightJobsAndExitsZero) {
  const auto ids = submit_many(4, R"({"sleep_ms":500})");
  WorkerProcess worker(root_ / "plugins", root_ / "data");
  ASSERT_TRUE(eventually(
      [&] {
        return std::any_of(ids.begin(), ids.end(), [&](const std::string& id) {
          auto status = backends_.statuses->get(id);
          return status.ok() && status->state == JobState::kRunning;
        });
      },
      10s));
  worker.kill_now(SIGTERM);
  EXPECT_EQ(worker.wait_exit(30s), 0);
  // The four ran concurrently and were given the grace to finish.
  EXPECT_EQ(count_terminal(ids), ids.size());
}

TEST_F(WorkerProcessTest, ASecondWorkerOnTheSameFolderIsRefused) {
  WorkerProcess first(root_ / "plugins", root_ / "data");
  const auto ids = submit_many(1, R"({"message":"x"})");
  ASSERT_TRUE(wait_all_terminal(ids, 20s));  // the first one is up
  WorkerProcess second(root_ / "plugins", root_ / "data");
  EXPECT_EQ(second.wait_exit(10s), 1);
}

}  // namespace
}  // namespace dtq
