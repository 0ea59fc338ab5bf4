// JobService's idempotent submits over the in-memory fakes: a repeat of a
// keyed submission answers the first one's job, a key reused for another
// request is refused, keys are scoped by their owner, a failed enqueue frees
// the key for a retry, and concurrent repeats make exactly one job.
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "dtq/core/ids.hpp"
#include "dtq/core/job_service.hpp"
#include "fakes/memory_idempotency_store.hpp"
#include "fakes/memory_job_queue.hpp"
#include "fakes/memory_payload_validator.hpp"
#include "fakes/memory_progress_query.hpp"
#include "fakes/memory_result_store.hpp"
#include "fakes/memory_status_store.hpp"

namespace dtq::testing {
namespace {

using namespace std::chrono_literals;

class JobServiceIdempotencyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    validator_.own("echo", [](std::string_view payload) -> StatusOr<ValidationOutcome> {
      return ValidationOutcome{.normalized_payload = std::string(payload)};
    });
  }

  // Every job on the queue, taken (the queue is empty afterwards).
  std::vector<std::string> drain_queue() {
    std::vector<std::string> ids;
    for (;;) {
      auto taken = queue_.take("echo", 100, 0ms);
      EXPECT_TRUE(taken.ok()) << taken.status().message();
      if (!taken.ok() || taken->empty()) return ids;
      for (const auto& delivery : *taken) ids.push_back(delivery.message.job_id);
    }
  }

  SubmitResult submit(std::string_view payload, std::string_view key, std::string_view owner = "",
                      std::string_view job_type = "echo") {
    return jobs_.submit(job_type, payload, {.idempotency_key = key, .key_owner = owner});
  }

  fakes::MemoryJobQueue queue_;
  fakes::MemoryStatusStore statuses_;
  fakes::MemoryResultStore results_;
  fakes::MemoryPayloadValidator validator_;
  fakes::MemoryProgressQuery progress_;
  fakes::MemoryIdempotencyStore keys_;
  JobService jobs_{queue_, statuses_, results_, validator_, progress_, &keys_};
};

TEST_F(JobServiceIdempotencyTest, RepeatAnswersTheFirstJob) {
  const auto first = submit(R"({"n":1,"s":"x"})", "order-17");
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_FALSE(first->replayed);
  // The same object written otherwise is the same request.
  const auto again = submit(R"({ "s" : "x", "n" : 1 })", "order-17");
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(again->job_id, first->job_id);
  EXPECT_EQ(again->trace_id, first->trace_id);
  EXPECT_EQ(again->status.state, JobState::kQueued);
  EXPECT_EQ(drain_queue(), std::vector<std::string>{first->job_id});
}

TEST_F(JobServiceIdempotencyTest, RepeatAnswersTheJobsCurrentStatus) {
  const auto first = submit(R"({"n":1})", "k");
  ASSERT_TRUE(first.ok());
  JobStatus running = first->status;
  running.state = JobState::kRunning;
  running.progress_percent = 40;
  ASSERT_TRUE(statuses_.update(running).ok());
  const auto again = submit(R"({"n":1})", "k");
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(again->status.state, JobState::kRunning);
  EXPECT_EQ(again->status.progress_percent, 40);
}

TEST_F(JobServiceIdempotencyTest, KeyReusedForAnotherRequestIsRefused) {
  validator_.own("other", [](std::string_view payload) -> StatusOr<ValidationOutcome> {
    return ValidationOutcome{.normalized_payload = std::string(payload)};
  });
  const auto first = submit(R"({"n":1})", "k");
  ASSERT_TRUE(first.ok());
  const auto other_payload = submit(R"({"n":2})", "k");
  EXPECT_EQ(other_payload.status().code(), StatusCode::kAlreadyExists);
  EXPECT_NE(other_payload.status().message().find(first->job_id), std::string::npos);
  const auto other_type = submit(R"({"n":1})", "k", "", "other");
  EXPECT_EQ(other_type.status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(drain_queue().size(), 1u);
}

TEST_F(JobServiceIdempotencyTest, KeysOfDifferentOwnersNeverMeet) {
  const auto mine = submit(R"({"n":1})", "k", "0123456789abcdef");
  const auto theirs = submit(R"({"n":2})", "k", "fedcba9876543210");
  const auto anonymous = submit(R"({"n":3})", "k");
  ASSERT_TRUE(mine.ok() && theirs.ok() && anonymous.ok());
  EXPECT_FALSE(theirs->replayed);
  EXPECT_FALSE(anonymous->replayed);
  EXPECT_EQ(drain_queue().size(), 3u);
}

TEST_F(JobServiceIdempotencyTest, WithoutAKeyEverySubmitIsANewJob) {
  ASSERT_TRUE(jobs_.submit("echo", R"({"n":1})").ok());
  ASSERT_TRUE(jobs_.submit("echo", R"({"n":1})").ok());
  EXPECT_EQ(drain_queue().size(), 2u);
  EXPECT_EQ(keys_.size(), 0u);
}

TEST_F(JobServiceIdempotencyTest, MalformedKeysAreRefusedBeforeAnythingElse) {
  for (const std::string& key : {std::string(256, 'k'), std::string("tab\there"),
                                 std::string("caf\xc3\xa9"), std::string("nul\0x", 5)}) {
    const auto refused = submit(R"({"n":1})", key, "", "no-such-type");
    EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument) << key;
  }
  EXPECT_TRUE(check_idempotency_key(std::string(255, '~')).ok());
  EXPECT_TRUE(check_idempotency_key(" a key with spaces ").ok());
  EXPECT_FALSE(check_idempotency_key("").ok());
  EXPECT_EQ(keys_.size(), 0u);
}

TEST_F(JobServiceIdempotencyTest, RefusedPayloadDoesNotTakeTheKey) {
  validator_.own("echo", [](std::string_view payload) -> StatusOr<ValidationOutcome> {
    ValidationOutcome outcome{.normalized_payload = std::string(payload)};
    if (payload.find("bad") != std::string_view::npos) {
      outcome.errors.push_back({.field = "/bad", .message = "no"});
    }
    return outcome;
  });
  EXPECT_EQ(submit(R"({"bad":1})", "k").status().code(), StatusCode::kInvalidArgument);
  const auto fixed = submit(R"({"good":1})", "k");
  ASSERT_TRUE(fixed.ok()) << fixed.status().message();
  EXPECT_FALSE(fixed->replayed);
}

TEST_F(JobServiceIdempotencyTest, FailedEnqueueFreesTheKeyForARetry) {
  queue_.fail_enqueue_with(unavailable("broker down"));
  const auto failed = submit(R"({"n":1})", "k");
  EXPECT_EQ(failed.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(keys_.size(), 0u) << "the failed submission's claim must be released";

  queue_.fail_enqueue_with({});
  const auto retried = submit(R"({"n":1})", "k");
  ASSERT_TRUE(retried.ok()) << retried.status().message();
  EXPECT_FALSE(retried->replayed);
  EXPECT_EQ(drain_queue(), std::vector<std::string>{retried->job_id});
  const auto repeat = submit(R"({"n":1})", "k");
  ASSERT_TRUE(repeat.ok());
  EXPECT_EQ(repeat->job_id, retried->job_id);
}

TEST_F(JobServiceIdempotencyTest, StoreThatDoesNotAnswerRefusesTheSubmit) {
  keys_.fail_with(unavailable("redis down"));
  EXPECT_EQ(submit(R"({"n":1})", "k").status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(drain_queue().empty()) << "no job without its key";
}

TEST_F(JobServiceIdempotencyTest, WithoutAStoreKeyedSubmitsAreRefused) {
  JobService keyless{queue_, statuses_, results_, validator_, progress_};
  const auto refused =
      keyless.submit("echo", R"({"n":1})", {.idempotency_key = "k", .key_owner = ""});
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(drain_queue().empty());
}

TEST_F(JobServiceIdempotencyTest, ConcurrentRepeatsMakeExactlyOneJob) {
  constexpr int kThreads = 16;
  for (int round = 0; round < 10; ++round) {
    const std::string key = "concurrent-" + std::to_string(round);
    std::vector<SubmitResult> answers(kThreads, SubmitResult(internal_error("not run")));
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        ready.fetch_add(1);
        while (ready.load() < kThreads) std::this_thread::yield();
        answers[t] = submit(R"({"n":1})", key);
      });
    }
    for (auto& thread : threads) thread.join();
    std::set<std::string> ids;
    int fresh = 0;
    for (const auto& answer : answers) {
      ASSERT_TRUE(answer.ok()) << answer.status().message();
      ids.insert(answer->job_id);
      fresh += answer->replayed ? 0 : 1;
    }
    EXPECT_EQ(ids.size(), 1u);
    EXPECT_EQ(fresh, 1);
    EXPECT_EQ(drain_queue(), std::vector<std::string>(ids.begin(), ids.end()));
  }
}

TEST(SubmitFingerprintTest, CanonicalPayloadAndJobType) {
  EXPECT_EQ(submit_fingerprint("echo", R"({"a":1,"b":[1,2]})"),
            submit_fingerprint("echo", R"({ "b": [1, 2], "a": 1 })"));
  EXPECT_NE(submit_fingerprint("echo", R"({"a":1})"), submit_fingerprint("echo", R"({"a":2})"));
  EXPECT_NE(submit_fingerprint("echo", R"({"a":1})"), submit_fingerprint("other", R"({"a":1})"));
  EXPECT_EQ(submit_fingerprint("echo", "{}").size(), 64u);
  // SHA-256 of "echo\0{}".
  EXPECT_EQ(submit_fingerprint("echo", "{}"),
            "8f6b7d95884dd9fffffd24fae50d3e10f92b393cdc63181249af37b2891bbc1f");
}

}  // namespace
}  // namespace dtq::testing
