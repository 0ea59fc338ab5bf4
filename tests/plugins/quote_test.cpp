// quote.so against the fake dummyjson: payload contract, the exact output,
// the max_length redraws, and provider faults.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "dtq/core/json.hpp"
#include "support/fake_provider.hpp"
#include "support/plugin_harness.hpp"
#include "support/provider_fault_tests.hpp"

namespace dtq::testing {
namespace {

using host::JobOutcome;
using ::testing::ElementsAre;

class QuoteTest : public ::testing::Test {
 protected:
  void SetUp() override { shared_fake_provider().reset(); }

  std::string only_error(const std::string& payload) const {
    const host::ValidationOutcome outcome = harness_.validate(payload);
    if (outcome.errors.size() != 1) {
      return "expected 1 error, got " + std::to_string(outcome.errors.size());
    }
    return outcome.errors[0].field + ": " + outcome.errors[0].message;
  }

  PluginHarness harness_{"quote"};
};

TEST_F(QuoteTest, DescribesItself) {
  const host::PluginInfo& info = harness_.plugin().info();
  EXPECT_EQ(info.job_type, "quote");
  EXPECT_EQ(info.version, "1.0.0");
  EXPECT_THAT(info.allowed_hosts, ElementsAre("dummyjson.com"));
  EXPECT_EQ(info.default_concurrency, 8U);
  EXPECT_EQ(info.default_timeout_ms, 15000U);
  EXPECT_EQ(info.default_max_attempts, 3U);
  EXPECT_TRUE(check_json_object(info.payload_schema_json).ok());
}

TEST_F(QuoteTest, NormalizesPayloads) {
  EXPECT_EQ(harness_.validate("{}").normalized_payload, "{}");
  EXPECT_EQ(harness_.validate(R"({"max_length":20})").normalized_payload, R"({"max_length":20})");
  // JSON Schema counts 140.0 as an integer.
  EXPECT_EQ(harness_.validate(R"({"max_length":140.0})").normalized_payload,
            R"({"max_length":140})");
}

TEST_F(QuoteTest, ReportsEachBadFieldByJsonPointer) {
  const std::string range = "/max_length: must be an integer from 20 to 1000";
  EXPECT_EQ(only_error(R"({"max_length":19})"), range);
  EXPECT_EQ(only_error(R"({"max_length":1001})"), range);
  EXPECT_EQ(only_error(R"({"max_length":50.5})"), range);
  EXPECT_EQ(only_error(R"({"max_length":"50"})"), range);
  EXPECT_EQ(only_error(R"({"max_length":null})"), range);
  EXPECT_EQ(only_error(R"({"max_length":18446744073709551615})"), range);
  EXPECT_EQ(only_error(R"({"author":"Rumi"})"),
            "/author: is not a known property (expected one of: max_length)");
  EXPECT_THAT(error_fields(harness_.validate("[1]")), ElementsAre(""));
  EXPECT_THAT(error_fields(harness_.validate(R"({"max_length":)")), ElementsAre(""));
}

TEST_F(QuoteTest, ReturnsAQuote) {
  const JobRun run = harness_.run("{}");
  ASSERT_EQ(run.outcome.kind, JobOutcome::Kind::kCompleted) << run.outcome.error_message;
  EXPECT_EQ(run.outcome.output_json,
            R"({"quote":"Your heart is the size of an ocean. Go find yourself in its hidden )"
            R"(depths.","author":"Rumi","id":1,"source":"dummyjson"})");
  EXPECT_THAT(run.percents(), ElementsAre(0, 50, 100));
  EXPECT_EQ(shared_fake_provider().request_count("/quotes/random"), 1U);
}

TEST_F(QuoteTest, DrawsAgainUntilAQuoteIsShortEnough) {
  // The fake serves ids 1..10 in turn; 1-3 are longer than 60 characters, 4 has 54.
  const JobRun run = harness_.run(R"({"max_length":60})");
  ASSERT_EQ(run.outcome.kind, JobOutcome::Kind::kCompleted) << run.outcome.error_message;
  EXPECT_EQ(run.outcome.output_json,
            R"({"quote":"If You Can'T Make It Good, At Least Make It Look Good.",)"
            R"("author":"Bill Gates","id":4,"source":"dummyjson"})");
  EXPECT_THAT(run.percents(), ElementsAre(0, 50, 100));
  EXPECT_EQ(shared_fake_provider().request_count("/quotes/random"), 4U);
}

TEST_F(QuoteTest, GivesUpAfterFiveTooLongQuotes) {
  const JobRun run = harness_.run(R"({"max_length":20})");
  EXPECT_EQ(run.outcome.kind, JobOutcome::Kind::kFailed);
  EXPECT_EQ(run.outcome.error_code, "no_short_quote");
  EXPECT_EQ(run.outcome.error_message, "no quote of at most 20 characters in 5 draws");
  EXPECT_FALSE(run.outcome.retryable);
  EXPECT_THAT(run.percents(), ElementsAre(0));
  EXPECT_EQ(shared_fake_provider().request_count("/quotes/random"), 5U);
}

TEST_F(QuoteTest, UnexpectedClientErrorIsPermanent) {
  shared_fake_provider().add_fault(R"({"path":"/quotes","kind":"status","status":403})");
  const JobRun run = harness_.run("{}");
  EXPECT_EQ(run.outcome.error_code, "provider_rejected");
  EXPECT_EQ(run.outcome.error_message, "dummyjson rejected the request: HTTP 403 (Forbidden)");
  EXPECT_FALSE(run.outcome.retryable);
}

TEST_F(QuoteTest, BodyOfTheWrongShapeIsProviderBadResponse) {
  shared_fake_provider().add_fault(
      R"({"path":"/quotes","kind":"status","status":200,"body":"{\"id\":1,\"quote\":null}"})");
  const JobRun run = harness_.run("{}");
  EXPECT_EQ(run.outcome.error_code, "provider_bad_response");
  EXPECT_EQ(run.outcome.error_message,
            "dummyjson answered with an unexpected body: 'quote' is not a string");
  EXPECT_TRUE(run.outcome.retryable);
}

INSTANTIATE_TEST_SUITE_P(Quote, ProviderFaultTest,
                         ::testing::Values(ProviderFault{"quote", "{}", "/quotes/random"}),
                         provider_fault_name);

}  // namespace
}  // namespace dtq::testing
