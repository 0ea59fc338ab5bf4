// gRPC tier, in process: host::WorkerGrpcServer (serving the real weather
// plugin's validate()) and api::GrpcPayloadValidator calling it. Valid and
// invalid payloads answer exactly what the plugin answers in process; an
// unknown type; candidates that are down, hung or not hosting the type are
// passed over; none reachable gives the documented outcome; a worker that
// comes back is used again; JobService submits through it.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>

#include "dtq/api/grpc_payload_validator.hpp"
#include "dtq/core/ids.hpp"
#include "dtq/core/job_service.hpp"
#include "dtq/core/status_progress_query.hpp"
#include "dtq/embedded/embedded_backends.hpp"
#include "dtq/host/plugin_loader.hpp"
#include "dtq/host/plugin_registry.hpp"
#include "dtq/host/worker_grpc_server.hpp"

namespace dtq {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

std::shared_ptr<host::Plugin> plugin(const std::string& job_type) {
  auto loaded = host::load_plugin(fs::path(DTQ_PLUGIN_DIR) / (job_type + ".so"));
  if (!loaded.ok()) throw std::runtime_error(loaded.status().message());
  return std::move(loaded).value();
}

// A port on which nothing listens (connections are refused): bound, never
// listening, held for the life of the object so nobody else takes it.
class ClosedPort {
 public:
  ClosedPort() : fd_(socket(AF_INET, SOCK_STREAM, 0)) { bind_loopback(fd_); }
  ~ClosedPort() { close(fd_); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_of(fd_)); }

  static void bind_loopback(int fd) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      throw std::runtime_error("bind");
    }
  }
  static int port_of(int fd) {
    sockaddr_in address{};
    socklen_t size = sizeof address;
    getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
    return ntohs(address.sin_port);
  }

 protected:
  int fd_;
};

// A port that accepts TCP connections (the kernel's backlog) but never
// speaks: a hung worker.
class SilentPort : public ClosedPort {
 public:
  SilentPort() { listen(fd_, 16); }
};

class WorkerValidationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    registry_ = new host::PluginRegistry;
    ASSERT_TRUE(registry_->add(plugin("weather")).ok());
  }
  static void TearDownTestSuite() {
    delete registry_;
    registry_ = nullptr;
  }

  void SetUp() override {
    worker_ = std::make_unique<host::WorkerGrpcServer>(
        host::WorkerGrpcSettings{.listen_address = "127.0.0.1:0", .cluster_secret = kSecret},
        *registry_);
    ASSERT_TRUE(worker_->start().ok());
    ASSERT_NE(worker_->port(), 0);
  }

  std::string worker_address() const { return "127.0.0.1:" + std::to_string(worker_->port()); }

  // A validator whose resolver answers `candidates` for weather, nothing else.
  std::unique_ptr<api::GrpcPayloadValidator> validator(std::vector<std::string> candidates,
                                                       std::chrono::milliseconds deadline = 2s,
                                                       std::string secret = kSecret) {
    return std::make_unique<api::GrpcPayloadValidator>(api::GrpcPayloadValidatorSettings{
        .resolve =
            [this, candidates](std::string_view job_type) {
              {
                std::lock_guard lock(mutex_);
                resolved_.emplace_back(job_type);
              }
              return job_type == "weather" || job_type == "nope" ? candidates
                                                                 : std::vector<std::string>{};
            },
        .cluster_secret = std::move(secret),
        .deadline = deadline});
  }

  static const std::string kSecret;
  static host::PluginRegistry* registry_;
  std::unique_ptr<host::WorkerGrpcServer> worker_;
  std::mutex mutex_;
  std::vector<std::string> resolved_;
};

host::PluginRegistry* WorkerValidationTest::registry_ = nullptr;
const std::string WorkerValidationTest::kSecret = "cluster-secret-for-tests";

TEST_F(WorkerValidationTest, AValidPayloadComesBackNormalizedAsThePluginNormalizesIt) {
  const std::string payload = R"({"city":"Austin","country_code":"US"})";
  const ValidationOutcome local = registry_->find("weather")->validate(payload);
  ASSERT_TRUE(local.valid());
  auto remote = validator({worker_address()})->validate("weather", payload);
  ASSERT_TRUE(remote.has_value());
  EXPECT_TRUE(remote->valid());
  EXPECT_EQ(remote->normalized_payload, local.normalized_payload);
  EXPECT_THAT(remote->normalized_payload, HasSubstr("\"units\""));  // a default filled in
  EXPECT_EQ(resolved_, std::vector<std::string>{"weather"});
}

TEST_F(WorkerValidationTest, AnInvalidPayloadComesBackWithThePluginsFieldErrors) {
  for (const std::string payload :
       {R"({"city":""})", R"({"city":"Austin","units":"kelvin"})", R"([1])", "{nope"}) {
    const ValidationOutcome local = registry_->find("weather")->validate(payload);
    ASSERT_FALSE(local.valid()) << payload;
    auto remote = validator({worker_address()})->check("weather", payload);
    ASSERT_TRUE(remote.ok()) << remote.status().message();
    EXPECT_FALSE(remote->valid()) << payload;
    ASSERT_EQ(remote->errors.size(), local.errors.size()) << payload;
    for (size_t i = 0; i < local.errors.size(); ++i) {
      EXPECT_EQ(remote->errors[i].field, local.errors[i].field) << payload;
      EXPECT_EQ(remote->errors[i].message, local.errors[i].message) << payload;
    }
  }
}

TEST_F(WorkerValidationTest, AnUnknownTypeIsNotFound) {
  // No candidate at all.
  auto none = validator({worker_address()});
  EXPECT_FALSE(none->validate("quote", "{}").has_value());
  EXPECT_EQ(none->check("quote", "{}").status().code(), StatusCode::kNotFound);
  // Candidates that do not host it (a stale registry).
  auto stale = validator({worker_address(), worker_address()});
  EXPECT_FALSE(stale->validate("nope", "{}").has_value());
  const auto checked = stale->check("nope", "{}");
  EXPECT_EQ(checked.status().code(), StatusCode::kNotFound);
  // No resolver.
  api::GrpcPayloadValidator blind({});
  EXPECT_FALSE(blind.validate("weather", "{}").has_value());
}

TEST_F(WorkerValidationTest, ACandidateThatIsDownIsPassedOverForTheNext) {
  ClosedPort down;
  auto remote = validator({down.address(), worker_address()});
  const auto started = std::chrono::steady_clock::now();
  auto checked = remote->check("weather", R"({"city":"Austin"})");
  ASSERT_TRUE(checked.ok()) << checked.status().message();
  EXPECT_TRUE(checked->valid());
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1500ms);  // refused, not timed out
  // And again, on the cached channels.
  auto again = remote->validate("weather", R"({"city":""})");
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(again->valid());
}

TEST_F(WorkerValidationTest, AHungCandidateCostsOneDeadlineThenTheNextAnswers) {
  SilentPort hung;
  auto remote = validator({hung.address(), worker_address()}, 300ms);
  const auto started = std::chrono::steady_clock::now();
  auto checked = remote->check("weather", R"({"city":"Austin"})");
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(checked.ok()) << checked.status().message();
  EXPECT_TRUE(checked->valid());
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 2s);
}

TEST_F(WorkerValidationTest, NoCandidateReachableIsUnavailableAndTheJobIsRefused) {
  ClosedPort first;
  ClosedPort second;
  auto remote = validator({first.address(), second.address()});
  const auto checked = remote->check("weather", R"({"city":"Austin"})");
  EXPECT_EQ(checked.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(checked.status().message(), HasSubstr(second.address()));
  // validate() alone cannot say "unavailable": the payload is refused, never passed.
  EXPECT_FALSE(remote->validate("weather", R"({"city":"Austin"})").has_value());
}

TEST_F(WorkerValidationTest, ACallWithoutTheClusterSecretIsRefused) {
  for (const std::string& secret : {std::string(), std::string("wrong"), kSecret + "x"}) {
    auto outsider = validator({worker_address()}, 2s, secret);
    const auto checked = outsider->check("weather", R"({"city":"Austin"})");
    EXPECT_EQ(checked.status().code(), StatusCode::kUnavailable) << secret;
    EXPECT_THAT(checked.status().message(), HasSubstr("cluster secret")) << secret;
  }
  EXPECT_TRUE(validator({worker_address()})->check("weather", R"({"city":"Austin"})").ok());
}

TEST_F(WorkerValidationTest, AWorkerWithoutAClusterSecretDoesNotServe) {
  host::WorkerGrpcServer open_worker({.listen_address = "127.0.0.1:0"}, *registry_);
  const Status started = open_worker.start();
  EXPECT_EQ(started.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(started.message(), HasSubstr("cluster secret"));
  EXPECT_EQ(open_worker.port(), 0);
}

TEST_F(WorkerValidationTest, AWorkerThatComesBackIsUsedAgain) {
  auto remote = validator({worker_address()});
  ASSERT_TRUE(remote->check("weather", R"({"city":"Austin"})").ok());
  const std::string address = worker_address();
  worker_->stop();
  EXPECT_EQ(remote->check("weather", R"({"city":"Austin"})").status().code(),
            StatusCode::kUnavailable);
  worker_ = std::make_unique<host::WorkerGrpcServer>(
      host::WorkerGrpcSettings{.listen_address = address, .cluster_secret = kSecret}, *registry_);
  ASSERT_TRUE(worker_->start().ok());
  // The cached channel reconnects within its short backoff.
  bool answered = false;
  for (int attempt = 0; attempt < 50 && !answered; ++attempt) {
    answered = remote->check("weather", R"({"city":"Austin"})").ok();
    if (!answered) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(answered);
}

TEST_F(WorkerValidationTest, ManyThreadsShareTheValidator) {
  auto remote = validator({worker_address()});
  std::atomic<int> right{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        const bool good = (i + t) % 2 == 0;
        auto outcome =
            remote->validate("weather", good ? R"({"city":"Austin"})" : R"({"city":""})");
        if (outcome && outcome->valid() == good) ++right;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(right.load(), 200);
}

TEST_F(WorkerValidationTest, JobServiceSubmitsThroughTheWorker) {
  const fs::path data = fs::temp_directory_path() / ("dtq-grpc-validate-" + new_uuid4());
  {
    auto backends = embedded::open_embedded({.data_dir = data, .role = embedded::Role::kOwner});
    ASSERT_TRUE(backends.ok()) << backends.status().message();
    auto remote = validator({worker_address()});
    StatusProgressQuery progress(*backends->statuses);
    JobService jobs(*backends->queue, *backends->statuses, *backends->results, *remote, progress);

    const auto job = jobs.submit("weather", R"({"city":"Austin"})");
    ASSERT_TRUE(job.ok()) << job.status().message();
    const auto taken = backends->queue->take("weather", 1, 1s);
    ASSERT_TRUE(taken.ok());
    ASSERT_EQ(taken->size(), 1U);
    EXPECT_EQ(taken->front().message.job_id, job->job_id);
    // What is enqueued is the payload the plugin normalized.
    EXPECT_EQ(taken->front().message.payload,
              registry_->find("weather")->validate(R"({"city":"Austin"})").normalized_payload);

    const auto refused = jobs.submit("weather", R"({"city":""})");
    EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
    ASSERT_FALSE(refused.field_errors().empty());
    EXPECT_EQ(refused.field_errors()[0].field, "/city");

    EXPECT_EQ(jobs.submit("quote", "{}").status().code(), StatusCode::kNotFound);

    // The owning pool is registered but does not answer: "try again"
    // (REST 503), not "no such type", and nothing is enqueued.
    ClosedPort gone;
    auto unreachable = validator({gone.address()});
    JobService cut_off(*backends->queue, *backends->statuses, *backends->results, *unreachable,
                       progress);
    EXPECT_EQ(cut_off.submit("weather", R"({"city":"Austin"})").status().code(),
              StatusCode::kUnavailable);
    const auto nothing = backends->queue->take("weather", 1, 100ms);
    ASSERT_TRUE(nothing.ok());
    EXPECT_TRUE(nothing->empty());
  }
  fs::remove_all(data);
}

}  // namespace
}  // namespace dtq
