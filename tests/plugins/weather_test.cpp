// weather.so against the fake Open-Meteo: payload contract, the exact output
// and progress milestones, Open-Meteo's own errors, and provider faults.
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
using ::testing::Not;

class WeatherTest : public ::testing::Test {
 protected:
  void SetUp() override { shared_fake_provider().reset(); }

  // The one error of a refused payload, as "field: message".
  std::string only_error(const std::string& payload) const {
    const host::ValidationOutcome outcome = harness_.validate(payload);
    if (outcome.errors.size() != 1)
      return "expected 1 error, got " + std::to_string(outcome.errors.size());
    return outcome.errors[0].field + ": " + outcome.errors[0].message;
  }

  PluginHarness harness_{"weather"};
};

TEST_F(WeatherTest, DescribesItself) {
  const host::PluginInfo& info = harness_.plugin().info();
  EXPECT_EQ(info.job_type, "weather");
  EXPECT_EQ(info.version, "1.0.0");
  EXPECT_THAT(info.allowed_hosts,
              ElementsAre("geocoding-api.open-meteo.com", "api.open-meteo.com"));
  EXPECT_EQ(info.default_concurrency, 8U);
  EXPECT_EQ(info.default_timeout_ms, 30000U);
  EXPECT_EQ(info.default_max_attempts, 3U);
  EXPECT_TRUE(check_json_object(info.payload_schema_json).ok());
  EXPECT_THAT(info.payload_schema_json,
              HasSubstr(R"("$schema": "https://json-schema.org/draft/2020-12/schema")"));
}

TEST_F(WeatherTest, NormalizesPayloads) {
  EXPECT_EQ(harness_.validate(R"({"city":"  Austin ","country_code":" us"})").normalized_payload,
            R"({"city":"Austin","country_code":"US","units":"metric"})");
  EXPECT_EQ(harness_.validate(R"({"units":"imperial","city":"Berlin"})").normalized_payload,
            R"({"city":"Berlin","units":"imperial"})");
  // 100 characters of two bytes each: the limit counts characters.
  std::string long_city;
  for (int i = 0; i < 100; ++i) long_city += "\u00e4";
  EXPECT_TRUE(harness_.validate(R"({"city":")" + long_city + R"("})").valid());
}

TEST_F(WeatherTest, ReportsEachBadFieldByJsonPointer) {
  EXPECT_EQ(only_error(R"({})"), "/city: is required");
  EXPECT_EQ(only_error(R"({"city":42})"), "/city: must be a string");
  EXPECT_EQ(only_error(R"({"city":"   "})"), "/city: must not be empty");
  EXPECT_EQ(only_error(R"({"city":")" + std::string(101, 'a') + R"("})"),
            "/city: must be at most 100 characters long");
  EXPECT_EQ(only_error(R"({"city":"Austin","country_code":"USA"})"),
            R"(/country_code: must be an ISO 3166-1 alpha-2 country code such as "US")");
  EXPECT_EQ(only_error(R"({"city":"Austin","country_code":7})"),
            R"(/country_code: must be an ISO 3166-1 alpha-2 country code such as "US")");
  EXPECT_EQ(only_error(R"({"city":"Austin","units":"kelvin"})"),
            R"(/units: must be one of: "metric", "imperial")");
  EXPECT_EQ(only_error(R"({"city":"Austin","zip":"78701"})"),
            "/zip: is not a known property (expected one of: city, country_code, units)");
  EXPECT_EQ(only_error(R"({"city":"Austin","a/b~":1})"),
            "/a~1b~0: is not a known property "
            "(expected one of: city, country_code, units)");
  EXPECT_EQ(only_error(R"({"city":"Austin","city":"Berlin"})"), "/city: appears more than once");
  EXPECT_EQ(only_error(R"({"city":"Austin","":1})"),
            "/: is not a known property (expected one of: city, country_code, units)");
}

TEST_F(WeatherTest, ReportsEveryProblemAtOnce) {
  EXPECT_THAT(error_fields(harness_.validate(R"({"city":1,"units":"x","extra":true})")),
              ElementsAre("/extra", "/city", "/units"));
}

TEST_F(WeatherTest, RefusesWhatIsNotAJsonObject) {
  for (const char* payload : {"{", "[]", "\"Austin\"", ""}) {
    EXPECT_THAT(error_fields(harness_.validate(payload)), ElementsAre("")) << payload;
  }
}

TEST_F(WeatherTest, ReportsCurrentConditions) {
  const JobRun run = harness_.run(R"({"city":"Austin","country_code":"US"})");
  ASSERT_EQ(run.outcome.kind, JobOutcome::Kind::kCompleted) << run.outcome.error_message;
  EXPECT_EQ(run.outcome.output_json,
            R"({"city":"Austin","country_code":"US","latitude":30.26715,"longitude":-97.74306,)"
            R"("temperature":22.4,"temperature_unit":"°C","condition":"Partly cloudy",)"
            R"("weather_code":2,"humidity_pct":61,"wind_kph":14.8,"units":"metric",)"
            R"("observed_at":"2024-11-22T12:00"})");
  EXPECT_THAT(run.percents(), ElementsAre(0, 20, 50, 80, 100));
  EXPECT_THAT(run.messages(), ElementsAre("resolving city", "city resolved: Austin, Texas, US",
                                          "forecast received", "conditions mapped", "done"));

  const std::string requests = shared_fake_provider().requests_json();
  EXPECT_THAT(requests, HasSubstr(R"("query":{"name":"Austin","count":"1","countryCode":"US"})"));
  EXPECT_THAT(requests, HasSubstr(R"("latitude":"30.26715","longitude":"-97.74306",)"
                                  R"("current":"temperature_2m,relative_humidity_2m,)"
                                  R"(wind_speed_10m,weather_code","wind_speed_unit":"kmh"})"));
}

TEST_F(WeatherTest, ImperialUnitsReportFahrenheitAndKeepKilometres) {
  const JobRun run = harness_.run(R"({"city":"Austin","units":"imperial"})");
  ASSERT_EQ(run.outcome.kind, JobOutcome::Kind::kCompleted) << run.outcome.error_message;
  EXPECT_EQ(run.outcome.output_json,
            R"({"city":"Austin","country_code":"US","latitude":30.26715,"longitude":-97.74306,)"
            R"("temperature":72.3,"temperature_unit":"°F","condition":"Partly cloudy",)"
            R"("weather_code":2,"humidity_pct":61,"wind_kph":14.8,"units":"imperial",)"
            R"("observed_at":"2024-11-22T12:00"})");
  EXPECT_THAT(run.percents(), ElementsAre(0, 20, 50, 80, 100));
  EXPECT_THAT(shared_fake_provider().requests_json(),
              HasSubstr(R"("wind_speed_unit":"kmh","temperature_unit":"fahrenheit"})"));
}

TEST_F(WeatherTest, CountryCodeChoosesAmongCitiesOfOneName) {
  const JobRun run = harness_.run(R"({"city":"london","country_code":"ca"})");
  ASSERT_EQ(run.outcome.kind, JobOutcome::Kind::kCompleted) << run.outcome.error_message;
  EXPECT_EQ(run.outcome.output_json,
            R"({"city":"London","country_code":"CA","latitude":42.98339,"longitude":-81.23304,)"
            R"("temperature":-2.3,"temperature_unit":"°C","condition":"Snow",)"
            R"("weather_code":71,"humidity_pct":78,"wind_kph":16.1,"units":"metric",)"
            R"("observed_at":"2024-11-22T12:00"})");
  EXPECT_EQ(run.progress.at(1).message, "city resolved: London, Ontario, CA");
}

TEST_F(WeatherTest, UnknownCityIsAPermanentFailure) {
  JobRun run = harness_.run(R"({"city":"Atlantis"})");
  EXPECT_EQ(run.outcome.kind, JobOutcome::Kind::kFailed);
  EXPECT_EQ(run.outcome.error_code, "city_not_found");
  EXPECT_EQ(run.outcome.error_message, "no city named 'Atlantis'");
  EXPECT_FALSE(run.outcome.retryable);
  EXPECT_THAT(run.percents(), ElementsAre(0));

  // Berlin exists, but not in the United States.
  run = harness_.run(R"({"city":"Berlin","country_code":"us"})");
  EXPECT_EQ(run.outcome.error_code, "city_not_found");
  EXPECT_EQ(run.outcome.error_message, "no city named 'Berlin' (in US)");
  EXPECT_EQ(shared_fake_provider().request_count("/v1/forecast"), 0U);
}

TEST_F(WeatherTest, OpenMeteoRefusalIsPermanentWithItsReason) {
  shared_fake_provider().add_fault(
      R"({"path":"/v1/forecast","kind":"status","status":400,)"
      R"("body":"{\"error\":true,\"reason\":\"Latitude must be in range of -90 to 90\"}"})");
  const JobRun run = harness_.run(R"({"city":"Tokyo"})");
  EXPECT_EQ(run.outcome.error_code, "provider_rejected");
  EXPECT_EQ(run.outcome.error_message,
            "Open-Meteo rejected the request: Latitude must be in range of -90 to 90");
  EXPECT_FALSE(run.outcome.retryable);
  EXPECT_EQ(shared_fake_provider().request_count("/v1/forecast"), 1U);
}

TEST_F(WeatherTest, CancellationDuringForecastStopsAfterTheCityIsResolved) {
  shared_fake_provider().add_fault(R"({"path":"/v1/forecast","kind":"latency","delay_ms":5000})");
  const JobRun run =
      harness_.run(R"({"city":"Sydney"})", {.cancel_after = std::chrono::milliseconds(300)});
  EXPECT_EQ(run.outcome.kind, JobOutcome::Kind::kCancelled);
  EXPECT_THAT(run.percents(), ElementsAre(0, 20));
}

TEST_F(WeatherTest, RunRechecksThePayload) {
  const JobRun run = harness_.run_unvalidated(R"({"city":""})");
  EXPECT_EQ(run.outcome.error_code, "invalid_payload");
  EXPECT_EQ(run.outcome.error_message, "invalid payload: /city must not be empty");
  EXPECT_FALSE(run.outcome.retryable);
  EXPECT_EQ(shared_fake_provider().request_count("/"), 0U);
}

TEST_F(WeatherTest, LogsEachStepWithTheJob) {
  const LogCapture logs;
  const JobRun run = harness_.run(R"({"city":"Paris","country_code":"FR"})");
  ASSERT_EQ(run.outcome.kind, JobOutcome::Kind::kCompleted) << run.outcome.error_message;
  EXPECT_THAT(logs.text(), HasSubstr("job_type=weather"));
  EXPECT_THAT(logs.text(), HasSubstr("geocoding 'Paris' in FR"));
  EXPECT_THAT(logs.text(), HasSubstr("fetching current conditions for Paris, Île-de-France, FR"));
  EXPECT_THAT(logs.text(), HasSubstr("WMO code 45 is 'Fog'"));
}

INSTANTIATE_TEST_SUITE_P(
    Weather, ProviderFaultTest,
    ::testing::Values(ProviderFault{"weather", R"({"city":"Berlin"})", "/v1/search"},
                      ProviderFault{"weather", R"({"city":"Berlin"})", "/v1/forecast"}),
    provider_fault_name);

}  // namespace
}  // namespace dtq::testing
