// Helpers of the tests that drive a JobQueue: taking with a deadline (a
// broker may need a moment before it hands anything out) and comparing what
// came out with what went in.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <string_view>
#include <vector>

#include "dtq/core/ports/job_queue.hpp"

namespace dtq::testing {

// Takes until `count` deliveries of `job_type` arrived or `limit` passed; a
// failed take fails the test.
inline std::vector<Delivery> take_within(JobQueue& queue, size_t count,
                                         std::chrono::milliseconds limit = std::chrono::seconds(30),
                                         std::string_view job_type = "echo") {
  std::vector<Delivery> taken;
  const auto until = std::chrono::steady_clock::now() + limit;
  while (taken.size() < count && std::chrono::steady_clock::now() < until) {
    auto more = queue.take(job_type, count - taken.size(), std::chrono::milliseconds(200));
    if (!more.ok()) {
      ADD_FAILURE() << "take: " << more.status().message();
      return taken;
    }
    for (auto& delivery : *more) taken.push_back(std::move(delivery));
  }
  return taken;
}

inline void expect_same(const JobMessage& actual, const JobMessage& expected) {
  EXPECT_EQ(actual.job_id, expected.job_id);
  EXPECT_EQ(actual.job_type, expected.job_type);
  EXPECT_EQ(actual.submitted_at, expected.submitted_at);
  EXPECT_EQ(actual.trace_id, expected.trace_id);
  EXPECT_EQ(actual.payload, expected.payload);
}

}  // namespace dtq::testing
