// Hot drop-in (host/plugin_watcher.hpp) while jobs flow: a plugin replaced
// by a new version and then removed from the folder of a running engine,
// with jobs submitted all along. Every accepted job must end completed with
// exactly one result: the old pool finishes what it holds, the new one takes
// the rest, and a removed type's queued jobs wait for it to come back.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <thread>

#include "dtq/core/ids.hpp"
#include "dtq/core/job_service.hpp"
#include "dtq/embedded/embedded_backends.hpp"
#include "dtq/host/engine.hpp"
#include "dtq/host/plugin_watcher.hpp"
#include "support/embedded_jobs.hpp"
#include "support/eventually.hpp"

namespace dtq::host {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

using dtq::testing::eventually;

class PluginWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_dir_ = fs::temp_directory_path() / ("dtq-watcher-" + new_uuid4());
    fs::create_directories(plugins());
    install("echo.so");
    isolation_.runner.executable = DTQ_PLUGIN_RUNNER;
    auto loaded = start_plugin_directory(plugins(), BadPluginPolicy::kFail, isolation_);
    ASSERT_TRUE(loaded.ok()) << loaded.status().message();
    for (auto& plugin : loaded->plugins) ASSERT_TRUE(registry_.add(plugin).ok());

    const Status opened = embedded_.open(data_dir_, registry_);
    ASSERT_TRUE(opened.ok()) << opened.message();
    auto engine = Engine::create(registry_, EngineSettings{}, embedded_.ports(), http_);
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    engine_ = std::move(engine).value();
    engine_->start();
    watcher_ =
        std::make_unique<PluginWatcher>(PluginWatcherSettings{.directory = plugins(),
                                                              .copies = data_dir_ / "plugin-copies",
                                                              .isolation = isolation_,
                                                              .interval = 100ms},
                                        registry_, *engine_);
  }
  void TearDown() override {
    watcher_.reset();
    engine_.reset();
    embedded_.close();
    fs::remove_all(data_dir_);
  }

  fs::path plugins() const { return data_dir_ / "plugins"; }

  // Installs a fixture as echo.so the documented way: copied beside, then
  // renamed into place.
  void install(const std::string& fixture) {
    const fs::path part = plugins() / ".echo.so.part";
    fs::copy_file(fs::path(DTQ_TEST_PLUGIN_DIR) / fixture, part,
                  fs::copy_options::overwrite_existing);
    fs::rename(part, plugins() / "echo.so");
  }

  std::string echo_version() const {
    auto plugin = registry_.find("echo");
    return plugin == nullptr ? "" : plugin->info().version;
  }

  // Submits an echo job; its id, or "" when the type is not offered.
  std::string submit(int n) {
    auto job = embedded_.jobs->submit(
        "echo", R"({"message":")" + std::to_string(n) + R"(","sleep_ms":20})");
    return job.ok() ? job->job_id : "";
  }

  bool completed_once(const std::string& job_id) const {
    auto status = embedded_.backends.statuses->get(job_id);
    auto result = embedded_.backends.results->get(job_id);
    return status.ok() && status->state == JobState::kCompleted && result.ok();
  }

  fs::path data_dir_;
  IsolationSettings isolation_;
  PluginRegistry registry_;
  HttpClient http_;
  testing::EmbeddedJobs embedded_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<PluginWatcher> watcher_;
};

TEST_F(PluginWatcherTest, ReplacingAndRemovingAPluginWhileJobsFlowLosesNone) {
  ASSERT_EQ(echo_version(), "1.0.0");
  std::mutex mutex;
  std::vector<std::string> accepted;
  std::atomic<bool> flowing{true};
  std::thread producer([&] {
    for (int n = 0; flowing; ++n) {
      if (std::string id = submit(n); !id.empty()) {
        std::lock_guard lock(mutex);
        accepted.push_back(std::move(id));
      }
      // The point is a steady flow while the folder changes, not a burst.
      std::this_thread::sleep_for(5ms);
    }
  });

  const auto flowed = [&](size_t count) {
    return eventually([&] {
      std::lock_guard lock(mutex);
      return accepted.size() >= count;
    });
  };
  // A new version while jobs flow: the old pool drains, the new one serves.
  ASSERT_TRUE(flowed(30));
  install("echo_v2.so");
  EXPECT_TRUE(eventually([&] { return echo_version() == "2.0.0"; }))
      << "echo 2.0.0 did not replace 1.0.0";
  const size_t before_removal = [&] {
    std::lock_guard lock(mutex);
    return accepted.size();
  }();
  ASSERT_TRUE(flowed(before_removal + 30));

  // Removed while jobs flow: the type stops being offered, and what was
  // queued waits rather than failing.
  fs::remove(plugins() / "echo.so");
  EXPECT_TRUE(eventually([&] { return echo_version().empty(); })) << "echo was not removed";
  flowing = false;
  producer.join();
  ASSERT_GT(accepted.size(), 50u) << "too few jobs flowed to prove anything";

  // Back again: every accepted job completes, exactly once.
  install("echo.so");
  for (const auto& job_id : accepted) {
    EXPECT_TRUE(eventually([&] { return completed_once(job_id); }, 60s, 20ms))
        << "job " << job_id << " was lost or did not complete";
  }
  for (const auto& [job_type, stats] : engine_->stats()) EXPECT_EQ(stats.failed, 0u) << job_type;
}

}  // namespace
}  // namespace dtq::host
