// End to end: the real engine (host::Engine, the echo fixture plugin) over
// the Kafka JobQueue, with the embedded SQLite status and result stores.
// Jobs submitted through JobService run to completion, retry, fail into the
// dead-letter topic and are replayed from it; after a drain and a new member,
// nothing finished runs again.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "dtq/core/job_service.hpp"
#include "dtq/core/status_progress_query.hpp"
#include "dtq/embedded/embedded_backends.hpp"
#include "dtq/host/engine.hpp"
#include "dtq/host/plugin_loader.hpp"
#include "kafka_test_util.hpp"
#include "support/status_helpers.hpp"

namespace dtq::kafka::testing {
namespace {

namespace fs = std::filesystem;

class KafkaEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_dir_ = fs::temp_directory_path() / ("dtq-kafka-engine-" + new_uuid4());
    auto plugin = host::load_plugin(fs::path(DTQ_TEST_PLUGIN_DIR) / "echo.so");
    ASSERT_TRUE(plugin.ok()) << plugin.status().message();
    ASSERT_TRUE(registry_.add(std::move(plugin).value()).ok());
    auto stores = embedded::open_embedded({.data_dir = data_dir_, .role = embedded::Role::kOwner});
    ASSERT_TRUE(stores.ok()) << stores.status().message();
    stores_ = std::move(stores).value();
    settings_ = test_settings(/*partitions=*/3);
    queue_ = open_queue(settings_);
    ASSERT_TRUE(queue_);
    validator_ = std::make_unique<host::LocalPayloadValidator>(registry_);
    progress_ = std::make_unique<StatusProgressQuery>(*stores_.statuses);
    jobs_ = std::make_unique<JobService>(*queue_, *stores_.statuses, *stores_.results, *validator_,
                                         *progress_);
  }
  void TearDown() override {
    engine_.reset();
    jobs_.reset();
    queue_.reset();
    stores_ = {};
    fs::remove_all(data_dir_);
  }

  void start() {
    host::EngineSettings settings;
    settings.per_plugin["echo"] = host::PluginSettings{.concurrency = 4, .max_attempts = 2};
    settings.backoff_base = 10ms;
    settings.drain_grace = 5s;
    auto engine = host::Engine::create(
        registry_, settings, host::EnginePorts{*queue_, *stores_.statuses, *stores_.results},
        http_);
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    engine_ = std::move(engine).value();
    engine_->start();
  }

  std::string submit(const std::string& payload) {
    const auto job = jobs_->submit("echo", payload);
    EXPECT_TRUE(job.ok()) << job.status().message();
    return job.ok() ? job->job_id : "";
  }

  JobStatus wait_terminal(const std::string& job_id, std::chrono::seconds limit = 30s) {
    return dtq::testing::wait_terminal(*stores_.statuses, job_id, limit);
  }

  fs::path data_dir_;
  host::PluginRegistry registry_;
  host::HttpClient http_;
  embedded::EmbeddedBackends stores_;
  KafkaSettings settings_;
  std::unique_ptr<KafkaJobQueue> queue_;
  std::unique_ptr<host::LocalPayloadValidator> validator_;
  std::unique_ptr<StatusProgressQuery> progress_;
  std::unique_ptr<JobService> jobs_;
  std::unique_ptr<host::Engine> engine_;
};

TEST_F(KafkaEngineTest, JobsRunRetryFailIntoTheDeadLetterTopicAndReplay) {
  start();
  std::vector<std::string> completed;
  for (int i = 0; i < 8; ++i) {
    completed.push_back(
        submit(R"({"message":"job )" + std::to_string(i) + R"(","progress":[20,50,80]})"));
  }
  const std::string flaky = submit(R"({"fail_attempts":1})");
  const std::string broken = submit(R"({"fail":{"code":"bad_input","message":"no such thing"}})");

  for (const auto& id : completed) {
    const JobStatus status = wait_terminal(id);
    EXPECT_EQ(status.state, JobState::kCompleted) << id;
    EXPECT_EQ(status.progress_percent, 100);
    auto stored = stores_.results->get(id);
    ASSERT_TRUE(stored.ok()) << stored.status().message();
    EXPECT_EQ(stored->attempts, 1u);
  }
  EXPECT_EQ(wait_terminal(flaky).state, JobState::kCompleted);
  EXPECT_EQ(stores_.results->get(flaky)->attempts, 2u);

  const JobStatus failed = wait_terminal(broken);
  EXPECT_EQ(failed.state, JobState::kFailed);
  EXPECT_EQ(failed.error_code, "bad_input");
  StatusOr<std::vector<DeadLetter>> letters = std::vector<DeadLetter>{};
  ASSERT_TRUE(eventually(
      [&] {
        letters = jobs_->dead_letters("echo", 10);
        return letters.ok() && letters->size() == 1;
      },
      10s))
      << (letters.ok() ? std::to_string(letters->size()) + " dead letters"
                       : letters.status().message());
  EXPECT_EQ((*letters)[0].message.job_id, broken);
  EXPECT_EQ((*letters)[0].error.code, "bad_input");
  EXPECT_EQ((*letters)[0].error.message, "no such thing");

  auto replayed = jobs_->replay(broken);
  ASSERT_TRUE(replayed.ok()) << replayed.status().message();
  EXPECT_EQ(wait_terminal(*replayed).state, JobState::kFailed);  // it ran anew, and fails anew
  EXPECT_TRUE(eventually(
      [&] {
        letters = jobs_->dead_letters("echo", 10);
        if (!letters.ok() || letters->size() != 2) return false;
        for (const auto& letter : *letters) {
          if (letter.message.job_id == broken) return letter.replayed_as == *replayed;
        }
        return false;
      },
      10s));
  EXPECT_EQ(engine_->stats().at("echo").completed, 9u);

  // Drained and gone; a new member of the group finds nothing left to run.
  engine_->drain();
  engine_.reset();
  queue_.reset();
  auto queue = open_queue(settings_);
  ASSERT_TRUE(queue);
  auto none = queue->take("echo", 100, 3s);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty()) << none->size() << " finished jobs came back";
}

}  // namespace
}  // namespace dtq::kafka::testing
