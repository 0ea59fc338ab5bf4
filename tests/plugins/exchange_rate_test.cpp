// exchange_rate.so against the fake Frankfurter: payload contract, the exact
// output, unknown currencies, and provider faults.
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
using ::testing::HasSubstr;

constexpr const char* kCurrencyError =
    R"(must be a three-letter ISO 4217 currency code such as "USD")";

class ExchangeRateTest : public ::testing::Test {
 protected:
  void SetUp() override { shared_fake_provider().reset(); }

  std::string only_error(const std::string& payload) const {
    const host::ValidationOutcome outcome = harness_.validate(payload);
    if (outcome.errors.size() != 1) {
      return "expected 1 error, got " + std::to_string(outcome.errors.size());
    }
    return outcome.errors[0].field + ": " + outcome.errors[0].message;
  }

  PluginHarness harness_{"exchange_rate"};
};

TEST_F(ExchangeRateTest, DescribesItself) {
  const host::PluginInfo& info = harness_.plugin().info();
  EXPECT_EQ(info.job_type, "exchange_rate");
  EXPECT_EQ(info.version, "1.0.0");
  EXPECT_THAT(info.allowed_hosts, ElementsAre("api.frankfurter.app"));
  EXPECT_EQ(info.default_concurrency, 8U);
  EXPECT_EQ(info.default_timeout_ms, 15000U);
  EXPECT_EQ(info.default_max_attempts, 3U);
  EXPECT_TRUE(check_json_object(info.payload_schema_json).ok());
}

TEST_F(ExchangeRateTest, NormalizesPayloads) {
  EXPECT_EQ(harness_.validate(R"({"base":" usd ","target":"Eur"})").normalized_payload,
            R"({"base":"USD","target":"EUR","amount":1.0})");
  EXPECT_EQ(harness_.validate(R"({"amount":250,"target":"JPY","base":"GBP"})").normalized_payload,
            R"({"base":"GBP","target":"JPY","amount":250.0})");
  EXPECT_TRUE(harness_.validate(R"({"base":"EUR","target":"CHF","amount":1e12})").valid());
}

TEST_F(ExchangeRateTest, ReportsEachBadFieldByJsonPointer) {
  EXPECT_THAT(error_fields(harness_.validate("{}")), ElementsAre("/base", "/target"));
  EXPECT_EQ(only_error(R"({"target":"EUR"})"), "/base: is required");
  EXPECT_EQ(only_error(R"({"base":"US","target":"EUR"})"), std::string("/base: ") + kCurrencyError);
  EXPECT_EQ(only_error(R"({"base":"U$D","target":"EUR"})"),
            std::string("/base: ") + kCurrencyError);
  EXPECT_EQ(only_error(R"({"base":"USD","target":978})"),
            std::string("/target: ") + kCurrencyError);
  EXPECT_EQ(only_error(R"({"base":"usd","target":"USD"})"), "/target: must differ from base (USD)");
  const std::string amount = "/amount: must be greater than 0 and at most 1000000000000";
  EXPECT_EQ(only_error(R"({"base":"USD","target":"EUR","amount":0})"), amount);
  EXPECT_EQ(only_error(R"({"base":"USD","target":"EUR","amount":-5})"), amount);
  EXPECT_EQ(only_error(R"({"base":"USD","target":"EUR","amount":1.5e12})"), amount);
  EXPECT_EQ(only_error(R"({"base":"USD","target":"EUR","amount":"10"})"),
            "/amount: must be a number");
  EXPECT_EQ(only_error(R"({"base":"USD","target":"EUR","fee":1})"),
            "/fee: is not a known property (expected one of: base, target, amount)");
  EXPECT_THAT(error_fields(harness_.validate(R"({"base":"USD",)")), ElementsAre(""));
}

TEST_F(ExchangeRateTest, ConvertsOneUnitByDefault) {
  const JobRun run = harness_.run(R"({"base":"USD","target":"EUR"})");
  ASSERT_EQ(run.outcome.kind, JobOutcome::Kind::kCompleted) << run.outcome.error_message;
  EXPECT_EQ(run.outcome.output_json,
            R"({"base":"USD","target":"EUR","amount":1.0,"rate":0.96043,"converted":0.96043,)"
            R"("date":"2024-11-22","source":"frankfurter"})");
  EXPECT_THAT(run.percents(), ElementsAre(0, 50, 100));
  EXPECT_THAT(shared_fake_provider().requests_json(),
              HasSubstr(R"("path":"/latest","query":{"from":"USD","to":"EUR","amount":"1"})"));
}

TEST_F(ExchangeRateTest, ConvertsAnAmount) {
  const JobRun run = harness_.run(R"({"base":"gbp","target":"jpy","amount":250})");
  ASSERT_EQ(run.outcome.kind, JobOutcome::Kind::kCompleted) << run.outcome.error_message;
  EXPECT_EQ(run.outcome.output_json,
            R"({"base":"GBP","target":"JPY","amount":250.0,"rate":193.764,"converted":48441.0,)"
            R"("date":"2024-11-22","source":"frankfurter"})");
}

TEST_F(ExchangeRateTest, SendsAmountsInPlainDecimals) {
  ASSERT_EQ(harness_.run(R"({"base":"USD","target":"EUR","amount":0.5})").outcome.kind,
            JobOutcome::Kind::kCompleted);
  ASSERT_EQ(harness_.run(R"({"base":"EUR","target":"CHF","amount":1e12})").outcome.kind,
            JobOutcome::Kind::kCompleted);
  const std::string requests = shared_fake_provider().requests_json();
  EXPECT_THAT(requests, HasSubstr(R"("amount":"0.5")"));
  EXPECT_THAT(requests, HasSubstr(R"("amount":"1000000000000")"));
}

TEST_F(ExchangeRateTest, UnknownCurrencyIsAPermanentFailure) {
  const JobRun run = harness_.run(R"({"base":"USD","target":"XYZ"})");
  EXPECT_EQ(run.outcome.kind, JobOutcome::Kind::kFailed);
  EXPECT_EQ(run.outcome.error_code, "unknown_currency");
  EXPECT_EQ(run.outcome.error_message,
            "Frankfurter has no rate from USD to XYZ (unknown currency)");
  EXPECT_FALSE(run.outcome.retryable);
  EXPECT_THAT(run.percents(), ElementsAre(0));
}

TEST_F(ExchangeRateTest, UnprocessableRequestIsPermanent) {
  shared_fake_provider().add_fault(R"({"path":"/latest","kind":"status","status":422,)"
                                   R"("body":"{\"message\":\"invalid amount\"}"})");
  const JobRun run = harness_.run(R"({"base":"USD","target":"EUR"})");
  EXPECT_EQ(run.outcome.error_code, "provider_rejected");
  EXPECT_EQ(run.outcome.error_message,
            "Frankfurter rejected the request: HTTP 422 (invalid amount)");
  EXPECT_FALSE(run.outcome.retryable);
}

TEST_F(ExchangeRateTest, AnswerWithoutTheTargetRateIsProviderBadResponse) {
  shared_fake_provider().add_fault(
      R"({"path":"/latest","kind":"status","status":200,)"
      R"("body":"{\"amount\":1.0,\"base\":\"USD\",\"date\":\"2024-11-22\",\"rates\":{}}"})");
  const JobRun run = harness_.run(R"({"base":"USD","target":"EUR"})");
  EXPECT_EQ(run.outcome.error_code, "provider_bad_response");
  EXPECT_EQ(run.outcome.error_message,
            "Frankfurter answered with an unexpected body: 'EUR' is missing");
  EXPECT_TRUE(run.outcome.retryable);
}

INSTANTIATE_TEST_SUITE_P(ExchangeRate, ProviderFaultTest,
                         ::testing::Values(ProviderFault{
                             "exchange_rate", R"({"base":"USD","target":"EUR"})", "/latest"}),
                         provider_fault_name);

}  // namespace
}  // namespace dtq::testing
