// Retention periods as operators write them, and the per-type overrides.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "dtq/core/retention.hpp"

namespace dtq {
namespace {

using std::chrono::hours;
using std::chrono::seconds;
using ::testing::HasSubstr;

TEST(RetentionTest, ReadsAWholeNumberAndAUnit) {
  EXPECT_EQ(parse_retention("90s").value(), seconds(90));
  EXPECT_EQ(parse_retention("15m").value(), seconds(900));
  EXPECT_EQ(parse_retention("12h").value(), hours(12));
  EXPECT_EQ(parse_retention("7d").value(), hours(24 * 7));
  EXPECT_EQ(parse_retention("0s").value(), seconds(0));
}

TEST(RetentionTest, RefusesWhatIsNotAPeriodAndSaysWhatIs) {
  for (const char* bad : {"", "7", "d", "7w", "-1d", "1.5d", " 7d", "7d ", "99999999999999d"}) {
    const auto parsed = parse_retention(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(parsed.status().message(), HasSubstr("\"7d\"")) << bad;
  }
}

TEST(RetentionTest, ATypeMayBeKeptLongerOrShorterThanTheRest) {
  RetentionPolicy policy;
  EXPECT_EQ(policy.finished_for("weather"), hours(24 * 7));
  EXPECT_EQ(policy.dead_letters, hours(24 * 30));
  ASSERT_TRUE(add_type_retention(policy, "weather=30d").ok());
  ASSERT_TRUE(add_type_retention(policy, "quote=1h").ok());
  EXPECT_EQ(policy.finished_for("weather"), hours(24 * 30));
  EXPECT_EQ(policy.finished_for("quote"), hours(1));
  EXPECT_EQ(policy.finished_for("echo"), hours(24 * 7));
  for (const char* bad : {"weather", "=7d", "weather=soon"}) {
    EXPECT_EQ(add_type_retention(policy, bad).code(), StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace dtq
