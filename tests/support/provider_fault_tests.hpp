// ProviderFaultTest: how every shipped plugin must come through the faults a
// provider produces — 5xx once (the host retries), 5xx to the end
// (provider_unavailable, retryable), 429 with Retry-After, a malformed body
// (provider_bad_response), connection resets, timeouts, and a cancellation
// while a response is slow.
//
// A value-parameterized "abstract" suite: include this header in exactly one
// source file of a test binary and instantiate it there, e.g.
//   INSTANTIATE_TEST_SUITE_P(Weather, ProviderFaultTest, ::testing::Values(
//       ProviderFault{"weather", R"({"city":"Austin"})", "/v1/forecast"}),
//       provider_fault_name);
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <ostream>
#include <string>

#include "support/fake_provider.hpp"
#include "support/plugin_harness.hpp"

namespace dtq::testing {

struct ProviderFault {
  std::string job_type;
  std::string payload;  // a payload whose job succeeds against the recordings
  std::string path;     // the provider path the faults are put on

  friend std::ostream& operator<<(std::ostream& out, const ProviderFault& fault) {
    return out << fault.job_type << " " << fault.path;
  }
};

// Names an instance after its faulted path ("/v1/forecast" -> "v1_forecast"),
// so ctest names read Weather/ProviderFaultTest.X/v1_forecast.
inline std::string provider_fault_name(const ::testing::TestParamInfo<ProviderFault>& info) {
  std::string name;
  for (const char c : info.param.path) {
    if (std::isalnum(static_cast<unsigned char>(c)) != 0) {
      name += c;
    } else if (!name.empty() && name.back() != '_') {
      name += '_';
    }
  }
  if (!name.empty() && name.back() == '_') name.pop_back();
  return name;
}

class ProviderFaultTest : public ::testing::TestWithParam<ProviderFault> {
 protected:
  void SetUp() override { shared_fake_provider().reset(); }

  // A rule for GetParam().path; `rule` holds the rest of the JSON object.
  static void add_fault(const std::string& rule) {
    shared_fake_provider().add_fault(R"({"path":")" + GetParam().path + R"(",)" + rule + "}");
  }
  static size_t requests_to_path() { return shared_fake_provider().request_count(GetParam().path); }

  static void expect_failed(const JobRun& run, const std::string& code, bool retryable) {
    EXPECT_EQ(run.outcome.kind, host::JobOutcome::Kind::kFailed) << run.outcome.output_json;
    EXPECT_EQ(run.outcome.error_code, code) << run.outcome.error_message;
    EXPECT_EQ(run.outcome.retryable, retryable) << run.outcome.error_message;
  }
};

TEST_P(ProviderFaultTest, ServerErrorOnceIsRetriedByTheHost) {
  add_fault(R"("kind":"status","status":503,"times":1)");
  const JobRun run = PluginHarness(GetParam().job_type).run(GetParam().payload);
  EXPECT_EQ(run.outcome.kind, host::JobOutcome::Kind::kCompleted) << run.outcome.error_message;
  EXPECT_EQ(requests_to_path(), 2U);
}

TEST_P(ProviderFaultTest, ServerErrorsOutlastingRetriesAreProviderUnavailable) {
  add_fault(R"("kind":"status","status":500,"times":-1)");
  const JobRun run = PluginHarness(GetParam().job_type).run(GetParam().payload);
  expect_failed(run, "provider_unavailable", true);
  EXPECT_THAT(run.outcome.error_message, ::testing::HasSubstr("HTTP 500"));
  EXPECT_EQ(requests_to_path(), fast_http_settings().max_attempts);
}

TEST_P(ProviderFaultTest, TooManyRequestsWaitsForRetryAfter) {
  add_fault(R"("kind":"rate_limit","status":429,"retry_after":1,"times":1)");
  const JobRun run = PluginHarness(GetParam().job_type).run(GetParam().payload);
  EXPECT_EQ(run.outcome.kind, host::JobOutcome::Kind::kCompleted) << run.outcome.error_message;
  EXPECT_GE(run.elapsed, std::chrono::milliseconds(900));
  EXPECT_EQ(requests_to_path(), 2U);
}

TEST_P(ProviderFaultTest, TooManyRequestsOutlastingRetriesAreProviderUnavailable) {
  add_fault(R"("kind":"rate_limit","status":429,"times":-1)");
  const JobRun run = PluginHarness(GetParam().job_type).run(GetParam().payload);
  expect_failed(run, "provider_unavailable", true);
  EXPECT_THAT(run.outcome.error_message, ::testing::HasSubstr("HTTP 429"));
}

TEST_P(ProviderFaultTest, MalformedBodyIsProviderBadResponse) {
  add_fault(R"("kind":"malformed","times":1)");
  const JobRun run = PluginHarness(GetParam().job_type).run(GetParam().payload);
  expect_failed(run, "provider_bad_response", true);
}

TEST_P(ProviderFaultTest, ConnectionResetOnceIsRetriedByTheHost) {
  add_fault(R"("kind":"reset","times":1)");
  const JobRun run = PluginHarness(GetParam().job_type).run(GetParam().payload);
  EXPECT_EQ(run.outcome.kind, host::JobOutcome::Kind::kCompleted) << run.outcome.error_message;
  EXPECT_EQ(requests_to_path(), 2U);
}

TEST_P(ProviderFaultTest, ConnectionResetsOutlastingRetriesAreHttpTransport) {
  add_fault(R"("kind":"reset","times":-1)");
  const JobRun run = PluginHarness(GetParam().job_type).run(GetParam().payload);
  expect_failed(run, "http_transport", true);
}

TEST_P(ProviderFaultTest, SilentProviderIsHttpTimeout) {
  host::HttpClientSettings http = fast_http_settings();
  http.attempt_timeout = std::chrono::milliseconds(300);
  http.max_attempts = 2;
  add_fault(R"("kind":"timeout","delay_ms":5000,"times":-1)");
  const JobRun run = PluginHarness(GetParam().job_type, http).run(GetParam().payload);
  expect_failed(run, "http_timeout", true);
  EXPECT_LT(run.elapsed, std::chrono::milliseconds(4000));
}

TEST_P(ProviderFaultTest, CancellationDuringSlowResponseEndsCancelled) {
  add_fault(R"("kind":"latency","delay_ms":5000,"times":1)");
  const JobRun run = PluginHarness(GetParam().job_type)
                         .run(GetParam().payload, {.cancel_after = std::chrono::milliseconds(300)});
  EXPECT_EQ(run.outcome.kind, host::JobOutcome::Kind::kCancelled) << run.outcome.error_message;
  EXPECT_EQ(run.outcome.error_code, "cancelled");
  EXPECT_LT(run.elapsed, std::chrono::milliseconds(4000));
  EXPECT_LT(run.outcome.progress, 100);
}

}  // namespace dtq::testing
