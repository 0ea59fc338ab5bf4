// github_user.so against the fake GitHub: payload contract, the exact output,
// headers and token handling, rate limits, and provider faults.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "dtq/core/json.hpp"
#include "support/fake_provider.hpp"
#include "support/plugin_harness.hpp"
#include "support/provider_fault_tests.hpp"

namespace dtq::testing {
namespace {

using host::JobOutcome;
using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

constexpr const char* kToken = "ghp_Secret0Token1For2Tests3Only4";
constexpr const char* kLoginError =
    "/username: must be letters, digits and single hyphens, not starting or ending with a hyphen";
constexpr const char* kOctocat =
    R"({"login":"octocat","id":583231,"name":"The Octocat",)"
    R"("avatar_url":"https://avatars.githubusercontent.com/u/583231?v=4",)"
    R"("html_url":"https://github.com/octocat","type":"User","company":"@github",)"
    R"("blog":"https://github.blog","location":"San Francisco","bio":null,"public_repos":8,)"
    R"("public_gists":8,"followers":17324,"following":9,"created_at":"2011-01-25T18:44:36Z"})";

class GithubUserTest : public ::testing::Test {
 protected:
  // The plugin reads its token when it is loaded, so the environment is set
  // first and each test loads its own instance.
  void SetUp() override {
    unsetenv("DTQ_GITHUB_TOKEN");
    unsetenv("GITHUB_TOKEN");
    shared_fake_provider().reset();
    harness_.emplace("github_user");
  }
  void TearDown() override {
    unsetenv("DTQ_GITHUB_TOKEN");
    unsetenv("GITHUB_TOKEN");
  }

  std::string only_error(const std::string& payload) const {
    const host::ValidationOutcome outcome = harness_->validate(payload);
    if (outcome.errors.size() != 1) {
      return "expected 1 error, got " + std::to_string(outcome.errors.size());
    }
    return outcome.errors[0].field + ": " + outcome.errors[0].message;
  }

  static void add_user_fault(const std::string& rule) {
    shared_fake_provider().add_fault(R"({"path":"/users/",)" + rule + "}");
  }

  std::optional<PluginHarness> harness_;
};

TEST_F(GithubUserTest, DescribesItself) {
  const host::PluginInfo& info = harness_->plugin().info();
  EXPECT_EQ(info.job_type, "github_user");
  EXPECT_EQ(info.version, "1.0.0");
  EXPECT_THAT(info.allowed_hosts, ElementsAre("api.github.com"));
  EXPECT_EQ(info.default_concurrency, 4U);
  EXPECT_EQ(info.default_timeout_ms, 60000U);
  EXPECT_EQ(info.default_max_attempts, 3U);
  EXPECT_TRUE(check_json_object(info.payload_schema_json).ok());
  EXPECT_THAT(info.payload_schema_json,
              HasSubstr(R"("pattern": "^[A-Za-z0-9]+(-[A-Za-z0-9]+)*$")"));
}

TEST_F(GithubUserTest, NormalizesPayloads) {
  EXPECT_EQ(harness_->validate(R"({"username":" octocat\n"})").normalized_payload,
            R"({"username":"octocat"})");
  EXPECT_TRUE(harness_->validate(R"({"username":"a"})").valid());
  EXPECT_TRUE(harness_->validate(R"({"username":"my-Name-2"})").valid());
  EXPECT_TRUE(harness_->validate(R"({"username":")" + std::string(39, 'x') + R"("})").valid());
}

TEST_F(GithubUserTest, ReportsEachBadFieldByJsonPointer) {
  EXPECT_EQ(only_error("{}"), "/username: is required");
  EXPECT_EQ(only_error(R"({"username":42})"), "/username: must be a string");
  EXPECT_EQ(only_error(R"({"username":""})"), "/username: must not be empty");
  EXPECT_EQ(only_error(R"({"username":")" + std::string(40, 'x') + R"("})"),
            "/username: must be at most 39 characters long");
  for (const char* login : {"-octocat", "octocat-", "octo--cat", "octo_cat", "octo cat", "okté"}) {
    EXPECT_EQ(only_error(std::string(R"({"username":")") + login + R"("})"), kLoginError) << login;
  }
  EXPECT_EQ(only_error(R"({"username":"octocat","token":"x"})"),
            "/token: is not a known property (expected one of: username)");
  EXPECT_THAT(error_fields(harness_->validate("null")), ElementsAre(""));
}

TEST_F(GithubUserTest, ReturnsTheProfile) {
  const JobRun run = harness_->run(R"({"username":"octocat"})");
  ASSERT_EQ(run.outcome.kind, JobOutcome::Kind::kCompleted) << run.outcome.error_message;
  EXPECT_EQ(run.outcome.output_json, kOctocat);
  EXPECT_THAT(run.percents(), ElementsAre(0, 50, 100));

  const std::string requests = shared_fake_provider().requests_json();
  EXPECT_THAT(requests, HasSubstr(R"("path":"/users/octocat")"));
  EXPECT_THAT(requests, HasSubstr(R"("accept":"application/vnd.github+json")"));
  EXPECT_THAT(requests, HasSubstr(R"("user-agent":"dtq-github-user-plugin/1.0")"));
  EXPECT_THAT(requests, HasSubstr(R"("x-github-api-version":"2022-11-28")"));
  EXPECT_THAT(requests, Not(HasSubstr("authorization")));
}

TEST_F(GithubUserTest, KeepsEmptyAndNullFields) {
  const JobRun run = harness_->run(R"({"username":"TORVALDS"})");
  ASSERT_EQ(run.outcome.kind, JobOutcome::Kind::kCompleted) << run.outcome.error_message;
  EXPECT_EQ(run.outcome.output_json,
            R"({"login":"torvalds","id":1024025,"name":"Linus Torvalds",)"
            R"("avatar_url":"https://avatars.githubusercontent.com/u/1024025?v=4",)"
            R"("html_url":"https://github.com/torvalds","type":"User",)"
            R"("company":"Linux Foundation","blog":"","location":"Portland, OR","bio":null,)"
            R"("public_repos":8,"public_gists":0,"followers":223104,"following":0,)"
            R"("created_at":"2011-09-03T15:26:22Z"})");
}

TEST_F(GithubUserTest, UnknownUserIsAPermanentFailure) {
  const JobRun run = harness_->run(R"({"username":"no-such-user"})");
  EXPECT_EQ(run.outcome.kind, JobOutcome::Kind::kFailed);
  EXPECT_EQ(run.outcome.error_code, "user_not_found");
  EXPECT_EQ(run.outcome.error_message, "user not found: no-such-user");
  EXPECT_FALSE(run.outcome.retryable);
  EXPECT_THAT(run.percents(), ElementsAre(0));
}

TEST_F(GithubUserTest, SendsTheTokenAsBearerAndNeverShowsIt) {
  setenv("DTQ_GITHUB_TOKEN", kToken, 1);
  const PluginHarness harness("github_user");
  const LogCapture logs;
  const JobRun found = harness.run(R"({"username":"octocat"})");
  const JobRun missing = harness.run(R"({"username":"nobody"})");
  add_user_fault(R"("kind":"status","status":403)");
  const JobRun forbidden = harness.run(R"({"username":"octocat"})");
  add_user_fault(R"("kind":"rate_limit","status":403,"reset_in":3600)");
  const JobRun limited = harness.run(R"({"username":"octocat"})");

  EXPECT_EQ(found.outcome.output_json, kOctocat);
  EXPECT_EQ(missing.outcome.error_code, "user_not_found");
  EXPECT_EQ(forbidden.outcome.error_code, "forbidden");
  EXPECT_EQ(limited.outcome.error_code, "rate_limited");
  for (const JobRun* run : {&found, &missing, &forbidden, &limited}) {
    EXPECT_THAT(run->outcome.error_message, Not(HasSubstr(kToken)));
  }
  EXPECT_THAT(logs.text(), HasSubstr("fetching GitHub user 'octocat' (with a token)"));
  EXPECT_THAT(logs.text(), Not(HasSubstr(kToken)));
  const std::string requests = shared_fake_provider().requests_json();
  EXPECT_THAT(requests, HasSubstr(R"("authorization":"Bearer ***")"));
  EXPECT_THAT(requests, Not(HasSubstr(kToken)));
}

TEST_F(GithubUserTest, FallsBackToGithubToken) {
  setenv("GITHUB_TOKEN", kToken, 1);
  const JobRun run = PluginHarness("github_user").run(R"({"username":"octocat"})");
  EXPECT_EQ(run.outcome.kind, JobOutcome::Kind::kCompleted) << run.outcome.error_message;
  EXPECT_THAT(shared_fake_provider().requests_json(), HasSubstr(R"("authorization":"Bearer ***")"));
}

TEST_F(GithubUserTest, WaitsForARateLimitThatResetsBeforeTheDeadline) {
  const LogCapture logs;
  add_user_fault(R"("kind":"rate_limit","status":403,"reset_in":1)");
  const JobRun run = harness_->run(R"({"username":"octocat"})");
  ASSERT_EQ(run.outcome.kind, JobOutcome::Kind::kCompleted) << run.outcome.error_message;
  EXPECT_EQ(run.outcome.output_json, kOctocat);
  EXPECT_GE(run.elapsed, milliseconds(900));
  EXPECT_EQ(shared_fake_provider().request_count("/users/"), 2U);
  EXPECT_THAT(logs.text(), HasSubstr("GitHub API rate limit exceeded; waiting"));
}

TEST_F(GithubUserTest, WaitsOutA429RateLimitTheHostCouldNotRetryAway) {
  // The host retries a 429 itself (3 attempts); the plugin then waits for the reset.
  add_user_fault(R"("kind":"rate_limit","status":429,"reset_in":1,"times":3)");
  const JobRun run = harness_->run(R"({"username":"octocat"})");
  ASSERT_EQ(run.outcome.kind, JobOutcome::Kind::kCompleted) << run.outcome.error_message;
  EXPECT_EQ(shared_fake_provider().request_count("/users/"), 4U);
}

TEST_F(GithubUserTest, RateLimitResettingAfterTheDeadlineFailsAtOnce) {
  add_user_fault(R"("kind":"rate_limit","status":403,"reset_in":3600)");
  const JobRun run = harness_->run(R"({"username":"octocat"})");
  EXPECT_EQ(run.outcome.kind, JobOutcome::Kind::kFailed);
  EXPECT_EQ(run.outcome.error_code, "rate_limited");
  EXPECT_THAT(run.outcome.error_message,
              MatchesRegex("GitHub API rate limit exceeded until "
                           "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z, "
                           "after the job's deadline"));
  EXPECT_FALSE(run.outcome.retryable);
  EXPECT_LT(run.elapsed, milliseconds(2000));
  EXPECT_EQ(shared_fake_provider().request_count("/users/"), 1U);
}

TEST_F(GithubUserTest, RateLimitIsMeasuredAgainstThisJobsDeadline) {
  add_user_fault(R"("kind":"rate_limit","status":403,"reset_in":5)");
  const JobRun run = harness_->run(R"({"username":"octocat"})", {.timeout = milliseconds(2000)});
  EXPECT_EQ(run.outcome.error_code, "rate_limited");
  EXPECT_LT(run.elapsed, milliseconds(1000));
}

TEST_F(GithubUserTest, WaitsForTheRateLimitAtMostTwice) {
  add_user_fault(R"("kind":"rate_limit","status":403,"reset_in":1,"times":-1)");
  const JobRun run = harness_->run(R"({"username":"octocat"})");
  EXPECT_EQ(run.outcome.error_code, "rate_limited");
  EXPECT_THAT(run.outcome.error_message,
              HasSubstr("GitHub API rate limit still exceeded after waiting 2 times"));
  EXPECT_EQ(shared_fake_provider().request_count("/users/"), 3U);
}

TEST_F(GithubUserTest, CancellationWhileWaitingForTheRateLimitEndsCancelled) {
  add_user_fault(R"("kind":"rate_limit","status":403,"reset_in":10)");
  const JobRun run =
      harness_->run(R"({"username":"octocat"})", {.cancel_after = milliseconds(300)});
  EXPECT_EQ(run.outcome.kind, JobOutcome::Kind::kCancelled) << run.outcome.error_message;
  EXPECT_LT(run.elapsed, milliseconds(3000));
  EXPECT_EQ(shared_fake_provider().request_count("/users/"), 1U);
}

TEST_F(GithubUserTest, ForbiddenWithoutRateLimitIsPermanent) {
  add_user_fault(
      R"("kind":"status","status":403,"body":"{\"message\":\"Resource not accessible\"}")");
  const JobRun run = harness_->run(R"({"username":"octocat"})");
  EXPECT_EQ(run.outcome.error_code, "forbidden");
  EXPECT_EQ(run.outcome.error_message,
            "GitHub refused the request (HTTP 403): Resource not accessible");
  EXPECT_FALSE(run.outcome.retryable);
  EXPECT_EQ(shared_fake_provider().request_count("/users/"), 1U);
}

TEST_F(GithubUserTest, RefusedTokenIsPermanent) {
  add_user_fault(R"("kind":"status","status":401,"body":"{\"message\":\"Bad credentials\"}")");
  const JobRun run = harness_->run(R"({"username":"octocat"})");
  EXPECT_EQ(run.outcome.error_code, "unauthorized");
  EXPECT_FALSE(run.outcome.retryable);
}

INSTANTIATE_TEST_SUITE_P(GithubUser, ProviderFaultTest,
                         ::testing::Values(ProviderFault{"github_user", R"({"username":"octocat"})",
                                                         "/users/"}),
                         provider_fault_name);

}  // namespace
}  // namespace dtq::testing
