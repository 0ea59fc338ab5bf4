// The status notices (dtq/core/status_notices.hpp): each reader finds what
// its writer put in, whatever the failed attempt's message holds, and no
// reader mistakes another notice or a plugin's progress message for its own.
#include <gtest/gtest.h>

#include <string>

#include "dtq/core/status_notices.hpp"

namespace dtq::notices {
namespace {

TEST(StatusNoticesTest, ReplayAndRetryNameTheirOriginal) {
  const std::string original = "0b3c9f4e-2d7a-4c55-9a3e-5f1d2c3b4a59";
  EXPECT_EQ(replayed_from(replay_of(original)), original);
  EXPECT_EQ(retried_from(retry_of(original)), original);
  EXPECT_EQ(replayed_from(retry_of(original)), std::nullopt);
  EXPECT_EQ(retried_from(replay_of(original)), std::nullopt);
  EXPECT_EQ(replayed_from("queued"), std::nullopt);
  EXPECT_EQ(replayed_from("queued (replay of "), std::nullopt);
}

TEST(StatusNoticesTest, ARetryNamesTheFailedAttemptsCode) {
  EXPECT_EQ(retry_code(retrying(2, "upstream", "HTTP 503 (twice): try later", "0.2s")), "upstream");
  EXPECT_EQ(retry_code(retrying(1, "timeout", "", "1s")), "timeout");
  EXPECT_EQ(retry_code("attempt 1 failed; retrying in 1s"), std::nullopt);
  // A plugin's own progress message that merely starts alike.
  EXPECT_EQ(retry_code("attempt 3 of 5 at the upstream"), std::nullopt);
  EXPECT_EQ(retry_code(released("worker stopping")), std::nullopt);
}

TEST(StatusNoticesTest, AReleaseIsToldFromOtherNotices) {
  EXPECT_TRUE(is_release(released("worker shutting down")));
  EXPECT_FALSE(is_release(retrying(1, "upstream", "down", "1s")));
  EXPECT_FALSE(is_release(replay_of("x")));
}

}  // namespace
}  // namespace dtq::notices
