// The host API as a plugin sees it: monotonic progress, outcomes,
// cancellation, deadlines, and calls after the job has ended.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "dtq/host/job_context.hpp"
#include "dtq/host/plugin_loader.hpp"
#include "support/eventually.hpp"

namespace dtq::host {
namespace {

using ::testing::ElementsAre;

std::shared_ptr<Plugin> echo_plugin() {
  static auto plugin = [] {
    auto loaded = load_plugin(std::filesystem::path(DTQ_TEST_PLUGIN_DIR) / "echo.so");
    if (!loaded.ok()) throw std::runtime_error(loaded.status().message());
    return std::move(loaded).value();
  }();
  return plugin;
}

class RecordingObserver final : public JobObserver {
 public:
  void on_progress(const JobRequest&, int percent, std::string_view message) override {
    std::lock_guard lock(mutex_);
    seen_.push_back(percent);
    messages_.emplace_back(message);
  }
  std::vector<int> seen() {
    std::lock_guard lock(mutex_);
    return seen_;
  }
  std::vector<std::string> messages() {
    std::lock_guard lock(mutex_);
    return messages_;
  }

 private:
  std::mutex mutex_;
  std::vector<int> seen_;
  std::vector<std::string> messages_;
};

class JobContextTest : public ::testing::Test {
 protected:
  JobRequest request(std::string payload, uint32_t attempt = 1) {
    auto validation = echo_plugin()->validate(payload);
    EXPECT_TRUE(validation.valid());
    return JobRequest{.job_id = "6f1c1b1e-0000-4000-8000-000000000001",
                      .job_type = "echo",
                      .trace_id = "6f1c1b1e-0000-4000-8000-000000000002",
                      .payload = validation.normalized_payload,
                      .attempt = attempt};
  }
  JobOutcome run(JobRequest req) {
    const auto context = JobContext::create(std::move(req), {}, http_, &observer_);
    echo_plugin()->run(*context);
    return context->finish();
  }

  HttpClient http_;
  RecordingObserver observer_;
};

TEST_F(JobContextTest, CompletesWithTheOutputAndFullProgress) {
  const JobOutcome outcome = run(request(R"({"message":"hi"})"));
  EXPECT_EQ(outcome.kind, JobOutcome::Kind::kCompleted);
  EXPECT_EQ(outcome.output_json, R"({"attempt":1,"echo":"hi"})");
  EXPECT_EQ(outcome.progress, 100);
}

TEST_F(JobContextTest, ProgressIsClampedAndNeverGoesDown) {
  run(request(R"({"progress":[10,5,60,150,-3]})"));
  // 5 and -3 change nothing a watcher could see ("step" again, at the same
  // percent), so coalescing passes on only the rises.
  EXPECT_THAT(observer_.seen(), ElementsAre(10, 60, 100));
}

TEST_F(JobContextTest, AFloodOfProgressReportsIsCoalesced) {
  JobRequest req = request("{}");
  req.progress_interval = std::chrono::hours(1);
  const auto context = JobContext::create(std::move(req), {}, http_, &observer_);
  const dtq_host_api* api = host_api();
  for (int i = 0; i < 1'000'000; ++i) {
    const std::string message = "step " + std::to_string(i);
    api->report_progress(context->abi_handle(), i / 10'000,
                         dtq_str{message.data(), message.size()});
  }
  // One call per whole percent; the messages in between wait for the interval.
  std::vector<int> expected(100);
  for (int i = 0; i < 100; ++i) expected[i] = i;
  EXPECT_EQ(observer_.seen(), expected);
  context->flush_progress();
  EXPECT_EQ(observer_.seen().size(), 100u) << "held back past its interval";
}

TEST_F(JobContextTest, TheLatestHeldBackMessageIsFlushedAfterTheInterval) {
  JobRequest req = request("{}");
  req.progress_interval = std::chrono::milliseconds(20);
  const auto context = JobContext::create(std::move(req), {}, http_, &observer_);
  context->report_progress(10, "first");
  context->report_progress(10, "second");
  context->report_progress(10, "third");
  EXPECT_THAT(observer_.messages(), ElementsAre("first"));
  context->flush_progress();  // too early: nothing yet
  EXPECT_THAT(observer_.messages(), ElementsAre("first"));
  EXPECT_TRUE(dtq::testing::eventually([&] {
    context->flush_progress();
    return observer_.messages().size() == 2;
  }));
  EXPECT_THAT(observer_.messages(), ElementsAre("first", "third"));
  context->flush_progress();
  EXPECT_THAT(observer_.messages(), ElementsAre("first", "third"));
}

TEST_F(JobContextTest, ProgressStartsWhereAnEarlierAttemptLeftOff) {
  JobRequest req = request(R"({"progress":[10,70]})", 2);
  req.initial_progress = 40;
  run(std::move(req));
  EXPECT_THAT(observer_.seen(), ElementsAre(40, 70));
}

TEST_F(JobContextTest, PluginFailureCarriesCodeAndRetryability) {
  const JobOutcome permanent =
      run(request(R"({"fail":{"code":"bad_city","message":"no such city"}})"));
  EXPECT_EQ(permanent.kind, JobOutcome::Kind::kFailed);
  EXPECT_EQ(permanent.error_code, "bad_city");
  EXPECT_EQ(permanent.error_message, "no such city");
  EXPECT_FALSE(permanent.retryable);

  const JobOutcome transient = run(request(R"({"fail_attempts":1})"));
  EXPECT_EQ(transient.error_code, "flaky");
  EXPECT_TRUE(transient.retryable);
  const JobOutcome second_attempt = run(request(R"({"fail_attempts":1})", 2));
  EXPECT_EQ(second_attempt.kind, JobOutcome::Kind::kCompleted);
}

TEST_F(JobContextTest, AStandardExceptionBecomesAPermanentFailure) {
  const JobOutcome outcome = run(request(R"({"throw":"boom"})"));
  EXPECT_EQ(outcome.kind, JobOutcome::Kind::kFailed);
  EXPECT_EQ(outcome.error_code, "plugin_exception");
  EXPECT_EQ(outcome.error_message, "boom");
}

TEST_F(JobContextTest, CancellationWakesASleepingPlugin) {
  const auto context = JobContext::create(request(R"({"sleep_ms":60000})"), {}, http_, &observer_);
  std::thread runner([&] { echo_plugin()->run(*context); });
  // The point of the sleep: the plugin is asleep by the time cancel() comes,
  // and nothing outside it shows that it is.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  context->cancel();
  runner.join();  // would take a minute if the sleep ignored cancel()
  const JobOutcome outcome = context->finish();
  EXPECT_EQ(outcome.kind, JobOutcome::Kind::kCancelled);
  EXPECT_EQ(outcome.error_code, "cancelled");
}

TEST_F(JobContextTest, PassingTheDeadlineIsARetryableTimeout) {
  JobRequest req = request(R"({"sleep_ms":60000})");
  req.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
  const JobOutcome outcome = run(std::move(req));
  EXPECT_EQ(outcome.kind, JobOutcome::Kind::kFailed);
  EXPECT_EQ(outcome.error_code, "timeout");
  EXPECT_TRUE(outcome.retryable);
}

TEST_F(JobContextTest, CallsAfterTheJobEndedAreIgnored) {
  const auto context = JobContext::create(request("{}"), {}, http_, &observer_);
  context->report_progress(30, "before");
  const JobOutcome outcome = context->finish();
  EXPECT_EQ(outcome.error_code, "no_result");

  const dtq_host_api* api = host_api();
  api->report_progress(context->abi_handle(), 90, dtq_str{"late", 4});
  api->set_result(context->abi_handle(), dtq_str{"{}", 2});
  api->fail(context->abi_handle(), dtq_str{"x", 1}, dtq_str{"y", 1}, 0);
  EXPECT_EQ(api->sleep_ms(context->abi_handle(), 10), DTQ_ERR_JOB_ENDED);
  dtq_http_request http_request{};
  http_request.struct_size = sizeof http_request;
  dtq_http_response http_response{};
  http_response.struct_size = sizeof http_response;
  EXPECT_EQ(api->http_request(context->abi_handle(), &http_request, &http_response),
            DTQ_ERR_JOB_ENDED);
  EXPECT_EQ(context->progress(), 30);
  EXPECT_THAT(observer_.seen(), ElementsAre(30));
}

TEST_F(JobContextTest, CallsThroughAHandleWhoseContextIsGoneAreIgnored) {
  // A plugin thread may keep its dtq_job_ctx past run(); once the engine
  // has dropped the context, the handle must lead nowhere (under
  // AddressSanitizer, a handle that pointed at the freed context fails here).
  auto context = JobContext::create(request("{}"), {}, http_, &observer_);
  dtq_job_ctx* handle = context->abi_handle();
  context->finish();
  context.reset();

  const dtq_host_api* api = host_api();
  api->report_progress(handle, 90, dtq_str{"late", 4});
  api->log(handle, DTQ_LOG_INFO, dtq_str{"late", 4});
  api->set_result(handle, dtq_str{"{}", 2});
  api->fail(handle, dtq_str{"x", 1}, dtq_str{"y", 1}, 0);
  EXPECT_EQ(api->is_cancelled(handle), 1);
  EXPECT_EQ(api->sleep_ms(handle, 10), DTQ_ERR_JOB_ENDED);
  dtq_http_request http_request{};
  http_request.struct_size = sizeof http_request;
  dtq_http_response http_response{};
  http_response.struct_size = sizeof http_response;
  EXPECT_EQ(api->http_request(handle, &http_request, &http_response), DTQ_ERR_JOB_ENDED);
  EXPECT_TRUE(observer_.seen().empty());

  // A new context never answers to an old handle.
  const auto next = JobContext::create(request("{}"), {}, http_, &observer_);
  EXPECT_NE(next->abi_handle(), handle);
  api->report_progress(handle, 70, dtq_str{"late", 4});
  EXPECT_EQ(next->progress(), 0);
}

TEST_F(JobContextTest, AResultThatIsNotJsonIsRefused) {
  const auto context = JobContext::create(request("{}"), {}, http_, nullptr);
  context->set_result("not json");
  const JobOutcome outcome = context->finish();
  EXPECT_EQ(outcome.kind, JobOutcome::Kind::kFailed);
  EXPECT_EQ(outcome.error_code, "invalid_result");
}

TEST_F(JobContextTest, TheLastOfResultAndFailureWins) {
  const auto failed_last = JobContext::create(request("{}"), {}, http_, nullptr);
  failed_last->set_result("{}");
  failed_last->fail("late", "changed its mind", false);
  EXPECT_EQ(failed_last->finish().error_code, "late");

  const auto completed_last = JobContext::create(request("{}"), {}, http_, nullptr);
  completed_last->fail("early", "", true);
  completed_last->set_result(R"({"ok":1})");
  EXPECT_EQ(completed_last->finish().kind, JobOutcome::Kind::kCompleted);
}

TEST_F(JobContextTest, HttpToAnUndeclaredHostIsDenied) {
  const auto context = JobContext::create(request("{}"), {}, http_, nullptr);
  dtq_http_request http_request{};
  http_request.struct_size = sizeof http_request;
  const std::string url = "http://127.0.0.1:9/anything";
  http_request.url = dtq_str{url.data(), url.size()};
  dtq_http_response http_response{};
  http_response.struct_size = sizeof http_response;
  EXPECT_EQ(host_api()->http_request(context->abi_handle(), &http_request, &http_response),
            DTQ_ERR_DENIED);
  EXPECT_NE(std::string_view(http_response.error.ptr, http_response.error.len).find("127.0.0.1"),
            std::string_view::npos);
}

TEST_F(JobContextTest, ExposesTheJobToThePlugin) {
  JobRequest req = request("{}", 3);
  req.deadline = deadline_from_unix_ms(4102444800000);
  const auto context = JobContext::create(req, {}, http_, nullptr);
  const dtq_job* job = context->abi_job();
  EXPECT_EQ(std::string_view(job->job_id.ptr, job->job_id.len), req.job_id);
  EXPECT_EQ(std::string_view(job->trace_id.ptr, job->trace_id.len), req.trace_id);
  EXPECT_EQ(job->attempt, 3u);
  // Kept on the steady clock, told to the plugin as wall-clock time: the
  // same instant, give or take the conversions' few microseconds.
  EXPECT_NEAR(static_cast<double>(job->deadline_unix_ms), 4102444800000.0, 5.0);
}

}  // namespace
}  // namespace dtq::host
