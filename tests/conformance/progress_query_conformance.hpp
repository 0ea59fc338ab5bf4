// The ProgressQuery conformance suite: what core/include/dtq/core/ports/
// progress_query.hpp promises (a job's status, NotFound, Unavailable when the
// source cannot answer, each caller its own answer), checked the same way on
// every adapter (StatusProgressQuery over the embedded store, RabbitMQ's
// request-reply) and on the in-memory fake. An adapter's own behaviour (the
// wire format, timeouts, broker restarts) stays in its own test file.
//
// To run it over a query, write a harness and instantiate the suite in a
// test binary of the adapter's folder (its label and server fixture):
//
//   struct MyProgressHarness {
//     // The query, over this test's own source of statuses.
//     std::shared_ptr<ProgressQuery> open();
//     // Makes the source hold `status` for status.job_id.
//     void record(const JobStatus& status);
//     // Makes the source fail with `failure` (when kCanFailSource).
//     void fail_source(Status failure);
//     static constexpr bool kCanFailSource = true;
//     // After `answered` successful calls: the adapter's own bookkeeping
//     // agrees (nothing left in flight...); may check nothing.
//     void expect_settled(size_t answered);
//   };
//   INSTANTIATE_TYPED_TEST_SUITE_P(Mine, ProgressQueryConformance, MyProgressHarness);
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dtq/core/ids.hpp"
#include "dtq/core/ports/progress_query.hpp"
#include "support/model_factories.hpp"

namespace dtq::testing {

template <class Harness>
class ProgressQueryConformance : public ::testing::Test {
 protected:
  void SetUp() override {
    query_ = harness_.open();
    ASSERT_TRUE(query_);
  }

  Harness harness_;
  std::shared_ptr<ProgressQuery> query_;
};

TYPED_TEST_SUITE_P(ProgressQueryConformance);

TYPED_TEST_P(ProgressQueryConformance, AKnownJobIsAnsweredWithItsStatus) {
  const std::string id = new_uuid4();
  JobStatus failed = status_of(id, JobState::kFailed, 80, "fetching forecast", "weather");
  failed.error_code = "upstream_unavailable";
  failed.error_message = "503 from the provider";
  this->harness_.record(failed);

  auto got = this->query_->progress(id);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->job_id, id);
  EXPECT_EQ(got->state, JobState::kFailed);
  EXPECT_EQ(got->progress_percent, 80);
  EXPECT_EQ(got->message, "fetching forecast");
  EXPECT_EQ(got->updated_at, failed.updated_at);
  EXPECT_EQ(got->trace_id, failed.trace_id);
  EXPECT_EQ(got->error_code, "upstream_unavailable");
  EXPECT_EQ(got->error_message, "503 from the provider");
  this->harness_.expect_settled(1);
}

TYPED_TEST_P(ProgressQueryConformance, AnUnknownJobIsNotFound) {
  const std::string id = new_uuid4();
  auto got = this->query_->progress(id);
  EXPECT_EQ(got.status().code(), StatusCode::kNotFound) << got.status().message();
  EXPECT_THAT(got.status().message(), ::testing::HasSubstr(id));
}

TYPED_TEST_P(ProgressQueryConformance, ASourceThatCannotBeReadIsUnavailable) {
  if constexpr (!TypeParam::kCanFailSource) {
    GTEST_SKIP() << "this adapter's source cannot be made to fail from a test";
  } else {
    this->harness_.fail_source(unavailable("redis at 127.0.0.1:6379 is down"));
    auto got = this->query_->progress(new_uuid4());
    EXPECT_EQ(got.status().code(), StatusCode::kUnavailable);
    EXPECT_THAT(got.status().message(), ::testing::HasSubstr("redis at 127.0.0.1:6379 is down"));
  }
}

TYPED_TEST_P(ProgressQueryConformance, AThousandConcurrentRequestsEachGetTheirOwnAnswer) {
  constexpr int kJobs = 1000;
  constexpr int kThreads = 25;
  std::vector<std::string> ids;
  for (int i = 0; i < kJobs; ++i) {
    ids.push_back(new_uuid4());
    this->harness_.record(
        status_of(ids.back(), JobState::kRunning, i % 101, "job " + std::to_string(i), "weather"));
  }
  std::atomic<int> matched{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  const auto started = std::chrono::steady_clock::now();
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < kJobs; i += kThreads) {
        auto got = this->query_->progress(ids[i]);
        if (!got.ok()) {
          if (failures++ < 5) ADD_FAILURE() << got.status().message();
          continue;
        }
        if (got->job_id == ids[i] && got->progress_percent == i % 101 &&
            got->message == "job " + std::to_string(i)) {
          ++matched;
        } else if (failures++ < 5) {
          ADD_FAILURE() << "asked " << ids[i] << ", got " << got->job_id << " " << got->message;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const auto took = std::chrono::duration<double>(std::chrono::steady_clock::now() - started);
  EXPECT_EQ(matched.load(), kJobs);
  EXPECT_EQ(failures.load(), 0);
  this->harness_.expect_settled(kJobs);
  std::printf("1000 requests from %d threads in %.2f s\n", kThreads, took.count());
}

REGISTER_TYPED_TEST_SUITE_P(ProgressQueryConformance, AKnownJobIsAnsweredWithItsStatus,
                            AnUnknownJobIsNotFound, ASourceThatCannotBeReadIsUnavailable,
                            AThousandConcurrentRequestsEachGetTheirOwnAnswer);

}  // namespace dtq::testing
