// What only the embedded StatusStore does: the owner's write-behind
// (coalesced writes, update_durable) and its in-memory cache. What every
// StatusStore does (merge rules, events, cancellation across processes,
// listing) is the conformance suite's (conformance_test.cpp).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "dtq/core/ports/status_store.hpp"
#include "embedded_test_util.hpp"
#include "support/status_helpers.hpp"

namespace dtq::embedded::testing {
namespace {

class StatusTest : public EmbeddedTest {};

using dtq::testing::status_of;
using dtq::testing::update_ok;

TEST_F(StatusTest, CoalescedWritesPersistTheLatestStatus) {
  constexpr int kJobs = 50;
  std::vector<std::string> ids;
  for (int i = 0; i < kJobs; ++i) ids.push_back(new_uuid4());
  {
    auto backends = open();
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int progress = 1; progress <= 100; ++progress) {
          for (int i = t; i < kJobs; i += 4) {
            (void)backends.statuses->update(
                status_of(ids[i], JobState::kRunning, progress, std::to_string(progress)));
          }
        }
      });
    }
    for (auto& thread : threads) thread.join();
    for (int i = 0; i < kJobs; i += 2)
      update_ok(*backends.statuses, status_of(ids[i], JobState::kCompleted, 100, "done"));
  }
  auto client = open(Role::kClient);
  for (int i = 0; i < kJobs; ++i) {
    auto got = client.statuses->get(ids[i]);
    ASSERT_TRUE(got.ok()) << got.status().message();
    EXPECT_EQ(got->progress_percent, 100);
    EXPECT_EQ(got->state, i % 2 == 0 ? JobState::kCompleted : JobState::kRunning);
    EXPECT_EQ(got->message, i % 2 == 0 ? "done" : "100");
  }
}

TEST_F(StatusTest, ADurableUpdateIsCommittedWhenItReturns) {
  auto owner = open(Role::kOwner);
  auto client = open(Role::kClient);
  // The client reads the file: what it sees is committed. update() writes
  // behind (up to a linger later); update_durable() must not.
  for (uint32_t attempt = 1; attempt <= 20; ++attempt) {
    const std::string id = new_uuid4();
    JobStatus running = status_of(id, JobState::kRunning, 0, "starting");
    running.attempt = attempt;
    auto stored = owner.statuses->update_durable(running);
    ASSERT_TRUE(stored.ok()) << stored.status().message();
    auto seen = client.statuses->get(id);
    ASSERT_TRUE(seen.ok()) << "attempt " << attempt << ": " << seen.status().message();
    EXPECT_EQ(seen->attempt, attempt);
  }
}

TEST_F(StatusTest, ADurableBatchIsCommittedWhenItReturnsAndAnswersEachInOrder) {
  auto owner = open(Role::kOwner);
  auto client = open(Role::kClient);
  std::vector<JobStatus> batch;
  for (uint32_t attempt = 1; attempt <= 20; ++attempt) {
    JobStatus running = status_of(new_uuid4(), JobState::kRunning, 0, "starting");
    running.attempt = attempt;
    batch.push_back(running);
  }
  // One job already ended: its answer is the stored terminal status.
  update_ok(*owner.statuses, status_of(batch[3].job_id, JobState::kCompleted, 100, "done"));
  const auto stored = owner.statuses->update_durable_batch(batch);
  ASSERT_EQ(stored.size(), batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    ASSERT_TRUE(stored[i].ok()) << stored[i].status().message();
    EXPECT_EQ(stored[i]->job_id, batch[i].job_id);
    auto seen = client.statuses->get(batch[i].job_id);
    ASSERT_TRUE(seen.ok()) << "update " << i << ": " << seen.status().message();
    if (i == 3) {
      EXPECT_EQ(stored[i]->state, JobState::kCompleted);
      EXPECT_EQ(seen->state, JobState::kCompleted);
    } else {
      EXPECT_EQ(stored[i]->attempt, batch[i].attempt);
      EXPECT_EQ(seen->attempt, batch[i].attempt);
    }
  }
}

TEST_F(StatusTest, ManyJobsBeyondTheCacheStayCorrect) {
  auto backends = open();
  std::vector<std::string> ids;
  for (int i = 0; i < 12'000; ++i) {
    ids.push_back(new_uuid4());
    update_ok(*backends.statuses, status_of(ids.back(), JobState::kCompleted, 100, "done"));
  }
  // The oldest were evicted from memory; they are still final.
  const JobStatus again =
      update_ok(*backends.statuses, status_of(ids.front(), JobState::kRunning, 0, "again"));
  EXPECT_EQ(again.state, JobState::kCompleted);
  auto got = backends.statuses->get(ids.front());
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->message, "done");
}

}  // namespace
}  // namespace dtq::embedded::testing
