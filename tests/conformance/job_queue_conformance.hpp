// The JobQueue conformance suite: what core/include/dtq/core/ports/
// job_queue.hpp promises, checked the same way on every adapter (embedded
// SQLite, Kafka) and on the in-memory fake. An adapter's own behaviour (its
// wire format, crash recovery, roles) stays in its own test file.
//
// To run it over a queue, write a harness and instantiate the suite in a test
// binary of the adapter's folder (so that it gets the adapter's label and
// server fixture):
//
//   struct MyQueueHarness {
//     // A queue over this test's own namespace (data folder, topic prefix).
//     // Called again after every queue it opened is destroyed, it opens the
//     // same queue again.
//     std::shared_ptr<JobQueue> open();
//     // Whether a queue opened again holds what the last one left.
//     static constexpr bool kDurable = true;
//     // How long a take() must wait before "empty" means "nothing is there".
//     static constexpr std::chrono::milliseconds kSettle{0};
//     // Messages each of four producers enqueues in the concurrency case.
//     static constexpr size_t kMessagesPerProducer = 5'000;
//   };
//   INSTANTIATE_TYPED_TEST_SUITE_P(Mine, JobQueueConformance, MyQueueHarness);
//
// A harness is constructed per test; its destructor cleans the namespace.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "dtq/core/ids.hpp"
#include "dtq/core/ports/job_queue.hpp"
#include "dtq/core/time.hpp"
#include "support/eventually.hpp"
#include "support/model_factories.hpp"
#include "support/queue_helpers.hpp"

namespace dtq::testing {

// What every queue answers for a delivery it does not hold: the port's own
// error, word for word.
inline void expect_not_leased(const Status& answer, const Delivery& delivery) {
  EXPECT_EQ(answer.code(), StatusCode::kFailedPrecondition) << answer.message();
  EXPECT_EQ(answer.message(), not_leased(delivery).message());
}

template <class Harness>
class JobQueueConformance : public ::testing::Test {
 protected:
  void SetUp() override {
    queue_ = harness_.open();
    ASSERT_TRUE(queue_);
  }

  // The queue closed and opened again, as after a restart.
  void reopen() {
    queue_.reset();
    queue_ = harness_.open();
    ASSERT_TRUE(queue_);
  }

  // Exactly one delivery of `job_type`, or a failure.
  Delivery take_one(std::string_view job_type = "echo") {
    auto taken = take_within(*queue_, 1, std::chrono::seconds(30), job_type);
    EXPECT_EQ(taken.size(), 1U);
    return taken.empty() ? Delivery{} : taken.front();
  }

  // Nothing of `job_type` is ready.
  void expect_nothing(std::string_view job_type = "echo") {
    auto taken = queue_->take(job_type, 1000, Harness::kSettle);
    ASSERT_TRUE(taken.ok()) << taken.status().message();
    EXPECT_TRUE(taken->empty()) << taken->size() << " unexpected, the first "
                                << taken->front().message.job_id;
  }

  Harness harness_;
  std::shared_ptr<JobQueue> queue_;
};

TYPED_TEST_SUITE_P(JobQueueConformance);

TYPED_TEST_P(JobQueueConformance, EnqueueTakeAck) {
  JobQueue& queue = *this->queue_;
  const JobMessage message = make_message();
  ASSERT_TRUE(queue.enqueue(message).ok());
  const Delivery delivery = this->take_one();
  expect_same(delivery.message, message);
  EXPECT_EQ(delivery.delivery_count, 1U);
  ASSERT_TRUE(queue.ack(delivery).ok());
  this->expect_nothing();
  expect_not_leased(queue.ack(delivery), delivery);
}

TYPED_TEST_P(JobQueueConformance, WhatIsNotLeasedIsAnsweredNotLeased) {
  JobQueue& queue = *this->queue_;
  // Of a job type this queue never handed out.
  const Delivery never{.message = make_message("quote"), .receipt = 12345};
  expect_not_leased(queue.ack(never), never);
  expect_not_leased(queue.release(never), never);
  expect_not_leased(queue.dead_letter(never, JobError{"e", "m"}, 1), never);

  // A receipt it never gave, and a job that is not the receipt's.
  ASSERT_TRUE(queue.enqueue(make_message()).ok());
  const Delivery real = this->take_one();
  Delivery wrong_receipt = real;
  wrong_receipt.receipt += 1000;
  Delivery wrong_job = real;
  wrong_job.message.job_id = new_uuid4();
  for (const Delivery& forged : {wrong_receipt, wrong_job}) {
    expect_not_leased(queue.ack(forged), forged);
    expect_not_leased(queue.release(forged), forged);
    expect_not_leased(queue.dead_letter(forged, JobError{"e", "m"}, 1), forged);
  }
  EXPECT_TRUE(queue.ack(real).ok());

  // Released and dead-lettered ones are no longer held either.
  ASSERT_TRUE(queue.enqueue(make_message()).ok());
  const Delivery released = this->take_one();
  ASSERT_TRUE(queue.release(released).ok());
  expect_not_leased(queue.release(released), released);
  expect_not_leased(queue.dead_letter(released, JobError{"e", "m"}, 1), released);
  const Delivery again = this->take_one();
  ASSERT_TRUE(queue.dead_letter(again, JobError{"e", "m"}, 1).ok());
  expect_not_leased(queue.ack(again), again);
  expect_not_leased(queue.release(again), again);
  expect_not_leased(queue.dead_letter(again, JobError{"e", "m"}, 1), again);
}

TYPED_TEST_P(JobQueueConformance, InvalidMessagesAndBatchesAreRefused) {
  JobQueue& queue = *this->queue_;
  JobMessage bad_id = make_message();
  bad_id.job_id = "not-a-uuid";
  EXPECT_EQ(queue.enqueue(bad_id).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(queue.enqueue(make_message("Not A Type")).code(), StatusCode::kInvalidArgument);
  const JobMessage twice = make_message();
  const std::vector<JobMessage> duplicate_inside = {twice, make_message(), twice};
  const Status refused = queue.enqueue_batch(duplicate_inside);
  EXPECT_EQ(refused.code(), StatusCode::kAlreadyExists) << refused.message();
  EXPECT_THAT(refused.message(), ::testing::HasSubstr(twice.job_id));
  // All or nothing: nothing of the refused batch is queued, nor stored.
  this->expect_nothing();
  if constexpr (TypeParam::kDurable) {
    this->reopen();
    this->expect_nothing();
  }
}

TYPED_TEST_P(JobQueueConformance, JobTypesAreIsolated) {
  JobQueue& queue = *this->queue_;
  const JobMessage echo = make_message("echo");
  const JobMessage weather = make_message("weather");
  ASSERT_TRUE(queue.enqueue(echo).ok());
  ASSERT_TRUE(queue.enqueue(weather).ok());
  EXPECT_EQ(this->take_one("weather").message.job_id, weather.job_id);
  this->expect_nothing("weather");
  EXPECT_EQ(this->take_one("echo").message.job_id, echo.job_id);
  this->expect_nothing("quote");
}

TYPED_TEST_P(JobQueueConformance, TakeWaitsForAnEnqueueFromAnotherThread) {
  using namespace std::chrono_literals;
  JobQueue& queue = *this->queue_;
  const JobMessage message = make_message();
  StatusOr<std::vector<Delivery>> taken = Status{};
  std::thread taker([&] { taken = queue.take("echo", 1, 20s); });
  ASSERT_TRUE(queue.enqueue(message).ok());
  taker.join();
  ASSERT_TRUE(taken.ok()) << taken.status().message();
  ASSERT_EQ(taken->size(), 1U);
  EXPECT_EQ(taken->front().message.job_id, message.job_id);
}

TYPED_TEST_P(JobQueueConformance, TakeTimesOutEmpty) {
  using namespace std::chrono_literals;
  const auto start = std::chrono::steady_clock::now();
  auto taken = this->queue_->take("echo", 1, 50ms);
  ASSERT_TRUE(taken.ok()) << taken.status().message();
  EXPECT_TRUE(taken->empty());
  EXPECT_GE(std::chrono::steady_clock::now() - start, 45ms);
}

TYPED_TEST_P(JobQueueConformance, CloseWakesTakersAndLaterTakesReturnAtOnce) {
  using namespace std::chrono_literals;
  JobQueue& queue = *this->queue_;
  StatusOr<std::vector<Delivery>> taken = Status{};
  std::atomic<bool> returned{false};
  std::thread taker([&] {
    taken = queue.take("echo", 1, 60s);
    returned = true;
  });
  queue.close();
  EXPECT_TRUE(eventually([&] { return returned.load(); }, 20s));
  taker.join();
  ASSERT_TRUE(taken.ok()) << taken.status().message();
  EXPECT_TRUE(taken->empty());
  ASSERT_TRUE(queue.enqueue(make_message()).ok());
  const auto start = std::chrono::steady_clock::now();
  auto after = queue.take("echo", 1, 60s);
  ASSERT_TRUE(after.ok()) << after.status().message();
  EXPECT_TRUE(after->empty());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TYPED_TEST_P(JobQueueConformance, AReleasedMessageIsFirstInLine) {
  JobQueue& queue = *this->queue_;
  const JobMessage first = make_message();
  const JobMessage second = make_message();
  ASSERT_TRUE(queue.enqueue(first).ok());
  ASSERT_TRUE(queue.enqueue(second).ok());
  const Delivery delivery = this->take_one();
  ASSERT_EQ(delivery.message.job_id, first.job_id);
  ASSERT_TRUE(queue.release(delivery).ok());
  const Delivery again = this->take_one();
  EXPECT_EQ(again.message.job_id, first.job_id);
  EXPECT_EQ(again.delivery_count, 2U);
  EXPECT_EQ(this->take_one().message.job_id, second.job_id);
}

TYPED_TEST_P(JobQueueConformance, DeadLettersAreListedAndReplayedOnce) {
  JobQueue& queue = *this->queue_;
  const JobMessage message = make_message("echo", R"({"fail":true})");
  ASSERT_TRUE(queue.enqueue(message).ok());
  const Delivery delivery = this->take_one();
  ASSERT_TRUE(queue.dead_letter(delivery, JobError{"boom", "it broke"}, 3).ok());
  this->expect_nothing();

  for (const std::string_view type : {"", "echo"}) {
    auto letters = queue.dead_letters(type, 10);
    ASSERT_TRUE(letters.ok()) << letters.status().message();
    ASSERT_EQ(letters->size(), 1U) << "listing \"" << type << "\"";
    const DeadLetter& letter = letters->front();
    expect_same(letter.message, message);
    EXPECT_EQ(letter.error.code, "boom");
    EXPECT_EQ(letter.error.message, "it broke");
    EXPECT_EQ(letter.attempts, 3U);
    EXPECT_TRUE(parse_rfc3339(letter.failed_at).has_value()) << letter.failed_at;
    EXPECT_TRUE(letter.replayed_as.empty());
  }
  auto other_type = queue.dead_letters("weather", 10);
  ASSERT_TRUE(other_type.ok()) << other_type.status().message();
  EXPECT_TRUE(other_type->empty());

  auto replayed = queue.replay(message.job_id);
  ASSERT_TRUE(replayed.ok()) << replayed.status().message();
  EXPECT_NE(*replayed, message.job_id);
  EXPECT_TRUE(is_uuid(*replayed));
  const Delivery rerun = this->take_one();
  EXPECT_EQ(rerun.message.job_id, *replayed);
  EXPECT_EQ(rerun.message.payload, message.payload);
  EXPECT_EQ(rerun.message.trace_id, message.trace_id);
  EXPECT_EQ(rerun.message.job_type, message.job_type);
  EXPECT_EQ(rerun.delivery_count, 1U);
  ASSERT_TRUE(queue.ack(rerun).ok());

  const auto twice = queue.replay(message.job_id);
  EXPECT_EQ(twice.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(twice.status().message(), ::testing::HasSubstr(*replayed));
  EXPECT_EQ(queue.replay(new_uuid4()).status().code(), StatusCode::kNotFound);
  auto letters = queue.dead_letters("echo", 10);
  ASSERT_TRUE(letters.ok()) << letters.status().message();
  ASSERT_EQ(letters->size(), 1U);
  EXPECT_EQ(letters->front().replayed_as, *replayed);

  // Another process (the CLI) sees the same, replayed_as included.
  if constexpr (TypeParam::kDurable) {
    this->reopen();
    letters = this->queue_->dead_letters("", 10);
    ASSERT_TRUE(letters.ok()) << letters.status().message();
    ASSERT_EQ(letters->size(), 1U);
    EXPECT_EQ(letters->front().replayed_as, *replayed);
    EXPECT_EQ(this->queue_->replay(message.job_id).status().code(),
              StatusCode::kFailedPrecondition);
  }
}

TYPED_TEST_P(JobQueueConformance, ADeletedDeadLetterIsNeitherListedNorReplayed) {
  JobQueue& queue = *this->queue_;
  std::vector<JobMessage> messages;
  for (int i = 0; i < 2; ++i) {
    messages.push_back(make_message());
    ASSERT_TRUE(queue.enqueue(messages.back()).ok());
    ASSERT_TRUE(queue.dead_letter(this->take_one(), JobError{"e", "m"}, 1).ok());
  }
  const std::string& gone = messages[0].job_id;
  const std::string& kept = messages[1].job_id;
  ASSERT_TRUE(queue.delete_dead_letter(gone).ok());
  EXPECT_EQ(queue.delete_dead_letter(gone).code(), StatusCode::kNotFound);
  EXPECT_EQ(queue.delete_dead_letter(new_uuid4()).code(), StatusCode::kNotFound);
  EXPECT_EQ(queue.replay(gone).status().code(), StatusCode::kNotFound);
  const auto expect_only_the_kept_one = [&](JobQueue& q) {
    for (const std::string_view type : {"", "echo"}) {
      auto letters = q.dead_letters(type, 10);
      ASSERT_TRUE(letters.ok()) << letters.status().message();
      ASSERT_EQ(letters->size(), 1U) << "listing \"" << type << "\"";
      EXPECT_EQ(letters->front().message.job_id, kept);
    }
  };
  expect_only_the_kept_one(queue);
  // A replayed one may be deleted too; its replay is a job of its own.
  auto replayed = queue.replay(kept);
  ASSERT_TRUE(replayed.ok()) << replayed.status().message();
  ASSERT_TRUE(queue.delete_dead_letter(kept).ok());
  auto none = queue.dead_letters("", 10);
  ASSERT_TRUE(none.ok()) << none.status().message();
  EXPECT_TRUE(none->empty());
  EXPECT_EQ(this->take_one().message.job_id, *replayed);
  if constexpr (TypeParam::kDurable) {
    this->reopen();
    none = this->queue_->dead_letters("", 10);
    ASSERT_TRUE(none.ok()) << none.status().message();
    EXPECT_TRUE(none->empty());
    EXPECT_EQ(this->queue_->delete_dead_letter(gone).code(), StatusCode::kNotFound);
  }
}

TYPED_TEST_P(JobQueueConformance, DeadLettersAreListedNewestFirstUpToTheLimit) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    const JobMessage message = make_message();
    ids.push_back(message.job_id);
    ASSERT_TRUE(this->queue_->enqueue(message).ok());
    ASSERT_TRUE(
        this->queue_->dead_letter(this->take_one(), JobError{"e", std::to_string(i)}, 1).ok());
    // failed_at has millisecond precision: the next one fails a tick later.
    const std::string failed_by = now_rfc3339();
    ASSERT_TRUE(eventually([&] { return now_rfc3339() != failed_by; }));
  }
  const auto expect_newest_three = [&] {
    auto letters = this->queue_->dead_letters("echo", 3);
    ASSERT_TRUE(letters.ok()) << letters.status().message();
    ASSERT_EQ(letters->size(), 3U);
    EXPECT_EQ((*letters)[0].message.job_id, ids[4]);
    EXPECT_EQ((*letters)[1].message.job_id, ids[3]);
    EXPECT_EQ((*letters)[2].message.job_id, ids[2]);
  };
  expect_newest_three();
  // And so they stay, dead letters being no job to run.
  if constexpr (TypeParam::kDurable) {
    this->reopen();
    this->expect_nothing();
    expect_newest_three();
  }
}

TYPED_TEST_P(JobQueueConformance, AnUnfinishedMessageIsDeliveredAgainAfterARestart) {
  if constexpr (!TypeParam::kDurable) {
    GTEST_SKIP() << "not durable: nothing outlives the queue";
  } else {
    const JobMessage message = make_message();
    ASSERT_TRUE(this->queue_->enqueue(message).ok());
    EXPECT_EQ(this->take_one().delivery_count, 1U);
    this->reopen();
    const Delivery again = this->take_one();
    expect_same(again.message, message);
    EXPECT_EQ(again.delivery_count, 2U);
  }
}

TYPED_TEST_P(JobQueueConformance, AckedMessagesNeverComeBack) {
  if constexpr (!TypeParam::kDurable) {
    GTEST_SKIP() << "not durable: nothing outlives the queue";
  } else {
    const std::vector<JobMessage> messages = {make_message(), make_message(), make_message()};
    ASSERT_TRUE(this->queue_->enqueue_batch(messages).ok());
    auto taken = take_within(*this->queue_, 3);
    ASSERT_EQ(taken.size(), 3U);
    ASSERT_EQ(taken[1].message.job_id, messages[1].job_id);
    ASSERT_TRUE(this->queue_->ack(taken[0]).ok());
    ASSERT_TRUE(this->queue_->ack(taken[2]).ok());
    this->reopen();
    EXPECT_EQ(this->take_one().message.job_id, messages[1].job_id);
    this->expect_nothing();
  }
}

TYPED_TEST_P(JobQueueConformance, ConcurrentProducersAndConsumersDeliverEachMessageOnce) {
  using namespace std::chrono_literals;
  constexpr int kProducers = 4;
  constexpr int kConsumers = 4;
  constexpr size_t kPerProducer = TypeParam::kMessagesPerProducer;
  constexpr size_t kTotal = kProducers * kPerProducer;
  JobQueue& queue = *this->queue_;

  std::atomic<size_t> received{0};
  std::atomic<bool> failed{false};
  std::mutex mutex;
  std::vector<std::string> delivered;
  delivered.reserve(kTotal);
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      std::vector<JobMessage> batch;
      for (size_t i = 0; i < kPerProducer; ++i) {
        batch.push_back(make_message());
        // Half the producers enqueue one by one, half in batches.
        if (p % 2 == 0 || batch.size() == 50 || i + 1 == kPerProducer) {
          if (!queue.enqueue_batch(batch).ok()) failed = true;
          batch.clear();
        }
      }
    });
  }
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&] {
      const auto until = std::chrono::steady_clock::now() + 60s;
      while (received.load() < kTotal && std::chrono::steady_clock::now() < until) {
        auto taken = queue.take("echo", 8, 50ms);
        if (!taken.ok()) {
          failed = true;
          return;
        }
        for (const auto& delivery : *taken) {
          if (!queue.ack(delivery).ok()) failed = true;
          std::lock_guard lock(mutex);
          delivered.push_back(delivery.message.job_id);
        }
        received += taken->size();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_FALSE(failed.load());
  ASSERT_EQ(delivered.size(), kTotal);
  EXPECT_EQ(std::set<std::string>(delivered.begin(), delivered.end()).size(), kTotal);
  this->expect_nothing();
  // Every ack is durable.
  if constexpr (TypeParam::kDurable) {
    this->reopen();
    this->expect_nothing();
  }
}

REGISTER_TYPED_TEST_SUITE_P(JobQueueConformance, EnqueueTakeAck, WhatIsNotLeasedIsAnsweredNotLeased,
                            InvalidMessagesAndBatchesAreRefused, JobTypesAreIsolated,
                            TakeWaitsForAnEnqueueFromAnotherThread, TakeTimesOutEmpty,
                            CloseWakesTakersAndLaterTakesReturnAtOnce,
                            AReleasedMessageIsFirstInLine, DeadLettersAreListedAndReplayedOnce,
                            ADeletedDeadLetterIsNeitherListedNorReplayed,
                            DeadLettersAreListedNewestFirstUpToTheLimit,
                            AnUnfinishedMessageIsDeliveredAgainAfterARestart,
                            AckedMessagesNeverComeBack,
                            ConcurrentProducersAndConsumersDeliverEachMessageOnce);

}  // namespace dtq::testing
