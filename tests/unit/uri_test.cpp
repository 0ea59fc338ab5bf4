#include "dtq/core/uri.hpp"

#include <gtest/gtest.h>

namespace dtq {
namespace {

TEST(PercentDecode, DecodesEscapesAndKeepsPlus) {
  EXPECT_EQ(percent_decode("a%20b"), "a b");
  EXPECT_EQ(percent_decode("p+ss"), "p+ss");  // a path's or password's '+' is a plus
  EXPECT_EQ(percent_decode("%2Fvhost%2f"), "/vhost/");
  EXPECT_EQ(percent_decode("%2B"), "+");
}

TEST(PercentDecode, KeepsAPercentThatIsNotAnEscape) {
  EXPECT_EQ(percent_decode("100%"), "100%");
  EXPECT_EQ(percent_decode("%4"), "%4");
  EXPECT_EQ(percent_decode("%zz1"), "%zz1");
  EXPECT_EQ(percent_decode("%+1"), "%+1");
  EXPECT_EQ(percent_decode("%-1"), "%-1");
  EXPECT_EQ(percent_decode(""), "");
}

TEST(QueryDecode, PlusIsASpaceAndAnEscapedPlusIsAPlus) {
  EXPECT_EQ(query_decode("new+york"), "new york");
  EXPECT_EQ(query_decode("a%2Bb"), "a+b");
  EXPECT_EQ(query_decode("caf%C3%A9"), "caf\xC3\xA9");
  EXPECT_EQ(query_decode("%"), "%");
}

}  // namespace
}  // namespace dtq
