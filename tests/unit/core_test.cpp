#include <gtest/gtest.h>

#include <set>

#include "dtq/core/ids.hpp"
#include "dtq/core/json.hpp"
#include "dtq/core/status.hpp"
#include "dtq/core/time.hpp"
#include "dtq/core/utf8.hpp"

namespace dtq {
namespace {

TEST(Ids, NewUuid4IsCanonicalAndVersion4) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = new_uuid4();
    ASSERT_TRUE(is_uuid(id)) << id;
    EXPECT_EQ(id[14], '4') << id;
    EXPECT_TRUE(std::string("89ab").find(id[19]) != std::string::npos) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(Ids, IsUuidRejectsMalformedIds) {
  EXPECT_TRUE(is_uuid("123e4567-e89b-42d3-a456-426614174000"));
  EXPECT_TRUE(is_uuid("123E4567-E89B-42D3-A456-426614174000"));
  EXPECT_FALSE(is_uuid(""));
  EXPECT_FALSE(is_uuid("123e4567e89b42d3a456426614174000"));
  EXPECT_FALSE(is_uuid("123e4567-e89b-42d3-a456-42661417400g"));
  EXPECT_FALSE(is_uuid("123e4567-e89b-42d3-a456-4266141740000"));
  EXPECT_FALSE(is_uuid("../../etc/passwd-aaaaaaaaaaaaaaaaaaaaa"));
}

TEST(Ids, JobTypeGrammar) {
  EXPECT_TRUE(is_valid_job_type("weather"));
  EXPECT_TRUE(is_valid_job_type("github_user"));
  EXPECT_TRUE(is_valid_job_type("a1"));
  EXPECT_FALSE(is_valid_job_type(""));
  EXPECT_FALSE(is_valid_job_type("Weather"));
  EXPECT_FALSE(is_valid_job_type("1weather"));
  EXPECT_FALSE(is_valid_job_type("weather-2"));
  EXPECT_FALSE(is_valid_job_type(std::string(65, 'a')));
  EXPECT_TRUE(is_valid_job_type(std::string(64, 'a')));
}

TEST(Time, Rfc3339RoundTripsWithMilliseconds) {
  const auto at = from_unix_ms(1732277728123);
  EXPECT_EQ(to_rfc3339(at), "2024-11-22T12:15:28.123Z");
  const auto parsed = parse_rfc3339("2024-11-22T12:15:28.123Z");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(to_unix_ms(*parsed), 1732277728123);
}

TEST(Time, ParsesOffsetsAndFractions) {
  EXPECT_EQ(to_unix_ms(*parse_rfc3339("2024-11-22T13:15:28+01:00")), 1732277728000);
  EXPECT_EQ(to_unix_ms(*parse_rfc3339("2024-11-22T12:15:28.5Z")), 1732277728500);
  EXPECT_EQ(to_unix_ms(*parse_rfc3339("2024-11-22T12:15:28.123456Z")), 1732277728123);
  EXPECT_FALSE(parse_rfc3339("2024-11-22 12:15:28Z"));
  EXPECT_FALSE(parse_rfc3339("2024-11-22T12:15:28"));
  EXPECT_FALSE(parse_rfc3339("yesterday"));
  EXPECT_FALSE(parse_rfc3339("2024-11-22T12:15:28.Z"));
}

// Found by tests/fuzz (job_codecs): a submitted_at past 2262 overflowed the
// clock's nanoseconds (undefined behaviour) instead of being refused.
TEST(Time, RefusesTimesTheClockCannotHold) {
  EXPECT_FALSE(parse_rfc3339("4052-01-01T00:00:00Z"));
  EXPECT_FALSE(parse_rfc3339("9999-12-31T23:59:59.999Z"));
  EXPECT_FALSE(parse_rfc3339("1000-01-01T00:00:00Z"));
  EXPECT_TRUE(parse_rfc3339("2200-01-01T00:00:00Z"));
}

TEST(Json, ChecksForOneObject) {
  EXPECT_TRUE(check_json_object(R"({"a":1})").ok());
  EXPECT_TRUE(check_json_object(" {} ").ok());
  const Status truncated = check_json_object(R"({"a":)");
  EXPECT_EQ(truncated.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(truncated.message().find("malformed JSON"), std::string::npos);
  EXPECT_EQ(check_json_object("[1,2]").message(), "expected a JSON object");
  EXPECT_FALSE(check_json_object("").ok());
  EXPECT_FALSE(check_json_object("{} {}").ok());
}

TEST(Utf8, ReplacesEachBrokenCharacterAndKeepsTheRest) {
  EXPECT_TRUE(is_valid_utf8("caf\xC3\xA9 \xF0\x9F\x98\x80"));
  EXPECT_EQ(to_valid_utf8("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_FALSE(is_valid_utf8("a\xFF"));
  EXPECT_EQ(to_valid_utf8("a\xFF"
                          "b"),
            "a\xEF\xBF\xBD"
            "b");
  // A lead byte whose continuation is cut short, a lone continuation byte,
  // an overlong form, a surrogate and a truncated tail.
  EXPECT_EQ(to_valid_utf8("\xC3(x"), "\xEF\xBF\xBD(x");
  EXPECT_EQ(to_valid_utf8("\x80x"), "\xEF\xBF\xBDx");
  EXPECT_EQ(to_valid_utf8("\xC0\xAFx"), "\xEF\xBF\xBDx");
  EXPECT_EQ(to_valid_utf8("\xED\xA0\x80x"), "\xEF\xBF\xBDx");
  EXPECT_EQ(to_valid_utf8("x\xE2\x82"), "x\xEF\xBF\xBD");
  EXPECT_TRUE(is_valid_utf8(to_valid_utf8("\xF5\xF4\x90\x80\x80\xE0\x80")));
}

TEST(Status, CarriesCodeAndMessage) {
  EXPECT_TRUE(Status().ok());
  const Status s = not_found("job 1 not found");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.to_string(), "not_found: job 1 not found");
  StatusOr<int> value = 7;
  EXPECT_TRUE(value.ok());
  EXPECT_EQ(*value, 7);
  StatusOr<int> error = invalid_argument("nope");
  EXPECT_FALSE(error.ok());
  EXPECT_EQ(error.status().code(), StatusCode::kInvalidArgument);
}

TEST(StatusOr, AnOkStatusWithoutAValueIsAnInternalError) {
  const StatusOr<int> odd = Status();
  EXPECT_FALSE(odd.ok());
  EXPECT_EQ(odd.status().code(), StatusCode::kInternal);
}

TEST(StatusOrDeathTest, AskingAnErrorForItsValueAbortsWithTheStatus) {
  const StatusOr<int> error = not_found("no such job");
  EXPECT_DEATH((void)error.value(),
               "StatusOr::value\\(\\) called on an error \\(not_found: no such job\\)");
  EXPECT_DEATH((void)*error, "no such job");
}

}  // namespace
}  // namespace dtq
