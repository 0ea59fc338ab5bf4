// The embedded StatusStore: the merge rules through update(), persistence
// (also of coalesced writes), subscriptions, and what crosses between a
// client process and the owner (cancellation, client-side watching).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <vector>

#include "dtq/core/ports/status_store.hpp"
#include "embedded_test_util.hpp"

namespace dtq::embedded::testing {
namespace {

class StatusTest : public EmbeddedTest {};

JobStatus status_of(const std::string& job_id, JobState state, int progress, std::string message = "") {
  return JobStatus{.job_id = job_id,
                   .state = state,
                   .progress_percent = progress,
                   .updated_at = now_rfc3339(),
                   .message = std::move(message),
                   .trace_id = "7b0a7a52-5a4e-4f43-9d4c-0e1b2c3d4e5f",
                   .job_type = "echo"};
}

JobStatus update_ok(StatusStore& store, const JobStatus& update) {
  auto stored = store.update(update);
  EXPECT_TRUE(stored.ok()) << stored.status().message();
  return stored.ok() ? *stored : JobStatus{};
}

// The merge rules hold in the owner (memory) and in a client (SQL).
void check_merge_rules(StatusStore& store) {
  const std::string id = new_uuid4();
  EXPECT_EQ(update_ok(store, status_of(id, JobState::kQueued, 0, "queued")).state, JobState::kQueued);
  JobStatus running = update_ok(store, status_of(id, JobState::kRunning, 50, "halfway"));
  EXPECT_EQ(running.state, JobState::kRunning);
  EXPECT_EQ(running.progress_percent, 50);
  EXPECT_EQ(running.trace_id, "7b0a7a52-5a4e-4f43-9d4c-0e1b2c3d4e5f");

  EXPECT_EQ(update_ok(store, status_of(id, JobState::kRunning, 20, "late")).progress_percent, 50);
  const JobStatus not_back = update_ok(store, status_of(id, JobState::kQueued, 0, "queued again"));
  EXPECT_EQ(not_back.state, JobState::kRunning);
  EXPECT_EQ(not_back.progress_percent, 50);

  JobStatus failed = status_of(id, JobState::kFailed, 60, "failed");
  failed.error_code = "boom";
  failed.error_message = "it broke";
  EXPECT_EQ(update_ok(store, failed).state, JobState::kFailed);
  const JobStatus final_one = update_ok(store, status_of(id, JobState::kCompleted, 100, "done"));
  EXPECT_EQ(final_one.state, JobState::kFailed);
  EXPECT_EQ(final_one.progress_percent, 60);
  EXPECT_EQ(final_one.error_code, "boom");

  auto got = store.get(id);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->state, JobState::kFailed);
  EXPECT_EQ(got->error_message, "it broke");
}

TEST_F(StatusTest, MergeRulesInTheOwner) {
  auto backends = open(Role::kOwner);
  check_merge_rules(*backends.statuses);
}

TEST_F(StatusTest, MergeRulesInAClient) {
  auto backends = open(Role::kClient);
  check_merge_rules(*backends.statuses);
}

TEST_F(StatusTest, ListsNewestSubmittedFirstInPages) {
  auto backends = open();
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(new_uuid4());
    update_ok(*backends.statuses, status_of(ids.back(), JobState::kQueued, 0, "queued"));
  }
  // A later update of the oldest job does not move it up the list.
  update_ok(*backends.statuses, status_of(ids[0], JobState::kRunning, 40, "busy"));

  std::vector<std::string> listed;
  StatusListQuery query{.limit = 2};
  for (int pages = 0; pages < 10; ++pages) {
    auto page = backends.statuses->list(query);
    ASSERT_TRUE(page.ok()) << page.status().message();
    for (const auto& status : page->statuses) listed.push_back(status.job_id);
    if (page->next_cursor.empty()) break;
    query.cursor = page->next_cursor;
  }
  EXPECT_THAT(listed, ::testing::ElementsAre(ids[4], ids[3], ids[2], ids[1], ids[0]));

  auto running = backends.statuses->list({.state = JobState::kRunning});
  ASSERT_TRUE(running.ok());
  ASSERT_EQ(running->statuses.size(), 1u);
  EXPECT_EQ(running->statuses[0].job_id, ids[0]);

  for (const std::string bad : {"x", "-3", "12abc", "2026-11-23T10:00:00Z_abc"}) {
    auto refused = backends.statuses->list({.cursor = bad});
    EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST_F(StatusTest, UnknownJobIsNotFound) {
  auto owner = open(Role::kOwner);
  EXPECT_EQ(owner.statuses->get(new_uuid4()).status().code(), StatusCode::kNotFound);
  auto client = open(Role::kClient);
  EXPECT_EQ(client.statuses->get(new_uuid4()).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(owner.statuses->update(JobStatus{}).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(StatusTest, SubscriptionsToOneJobAndToAll) {
  auto backends = open();
  const std::string a = new_uuid4();
  const std::string b = new_uuid4();
  std::mutex mutex;
  std::vector<JobStatus> for_a;
  std::vector<JobStatus> for_all;
  auto sub_a = backends.statuses->subscribe(a, [&](const JobStatus& status) {
    std::lock_guard lock(mutex);
    for_a.push_back(status);
  });
  auto sub_all = backends.statuses->subscribe("", [&](const JobStatus& status) {
    std::lock_guard lock(mutex);
    for_all.push_back(status);
  });
  update_ok(*backends.statuses, status_of(a, JobState::kRunning, 10));
  update_ok(*backends.statuses, status_of(b, JobState::kRunning, 10));
  update_ok(*backends.statuses, status_of(a, JobState::kRunning, 10));  // nothing visible changed
  update_ok(*backends.statuses, status_of(a, JobState::kCompleted, 100));
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mutex);
    return for_all.size() >= 3;
  }));
  {
    std::lock_guard lock(mutex);
    ASSERT_EQ(for_a.size(), 2u);
    EXPECT_EQ(for_a[0].progress_percent, 10);
    EXPECT_EQ(for_a[1].state, JobState::kCompleted);
    ASSERT_EQ(for_all.size(), 3u);
    EXPECT_EQ(for_all[0].job_id, a);
    EXPECT_EQ(for_all[1].job_id, b);
    EXPECT_EQ(for_all[2].job_id, a);
  }

  sub_a.reset();
  sub_all.reset();
  update_ok(*backends.statuses, status_of(b, JobState::kRunning, 90));
  update_ok(*backends.statuses, status_of(a, JobState::kRunning, 0, "ignored: already completed"));
  // A fresh subscriber seeing a later change proves the dispatcher is past
  // the one above.
  std::atomic<bool> later{false};
  auto witness = backends.statuses->subscribe(b, [&](const JobStatus& status) {
    if (status.progress_percent == 95) later = true;
  });
  update_ok(*backends.statuses, status_of(b, JobState::kRunning, 95));
  ASSERT_TRUE(eventually([&] { return later.load(); }));
  std::lock_guard lock(mutex);
  EXPECT_EQ(for_a.size(), 2u);
  EXPECT_EQ(for_all.size(), 3u);
}

TEST_F(StatusTest, UnsubscribingWaitsForARunningCallback) {
  auto backends = open();
  const std::string id = new_uuid4();
  std::atomic<bool> entered{false};
  std::atomic<bool> finished{false};
  auto subscription = backends.statuses->subscribe(id, [&](const JobStatus&) {
    entered = true;
    std::this_thread::sleep_for(200ms);
    finished = true;
  });
  update_ok(*backends.statuses, status_of(id, JobState::kRunning, 10));
  ASSERT_TRUE(eventually([&] { return entered.load(); }));
  subscription.reset();
  EXPECT_TRUE(finished.load());
}

TEST_F(StatusTest, StatusSurvivesReopen) {
  const std::string id = new_uuid4();
  JobStatus failed = status_of(id, JobState::kFailed, 40, "failed: it broke");
  failed.error_code = "boom";
  failed.error_message = "it broke";
  failed.attempt = 3;
  {
    auto backends = open();
    update_ok(*backends.statuses, status_of(id, JobState::kRunning, 40, "working"));
    update_ok(*backends.statuses, failed);
  }
  for (const Role role : {Role::kClient, Role::kOwner}) {
    auto backends = open(role);
    auto got = backends.statuses->get(id);
    ASSERT_TRUE(got.ok()) << got.status().message();
    EXPECT_EQ(got->state, JobState::kFailed);
    EXPECT_EQ(got->progress_percent, 40);
    EXPECT_EQ(got->message, "failed: it broke");
    EXPECT_EQ(got->error_code, "boom");
    EXPECT_EQ(got->error_message, "it broke");
    EXPECT_EQ(got->attempt, 3u);
    EXPECT_EQ(got->job_type, "echo");
    EXPECT_EQ(got->trace_id, failed.trace_id);
    EXPECT_EQ(got->updated_at, failed.updated_at);
  }
}

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
            (void)backends.statuses->update(status_of(ids[i], JobState::kRunning, progress, std::to_string(progress)));
          }
        }
      });
    }
    for (auto& thread : threads) thread.join();
    for (int i = 0; i < kJobs; i += 2) update_ok(*backends.statuses, status_of(ids[i], JobState::kCompleted, 100, "done"));
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

TEST_F(StatusTest, OwnerSeesAClientsCancelRequest) {
  auto owner = open(Role::kOwner);
  auto client = open(Role::kClient);
  const std::string id = new_uuid4();
  EXPECT_FALSE(owner.statuses->cancel_requested(id));
  ASSERT_TRUE(client.statuses->request_cancel(id).ok());
  EXPECT_TRUE(client.statuses->cancel_requested(id));
  EXPECT_TRUE(eventually([&] { return owner.statuses->cancel_requested(id); }, 5s));

  const std::string own = new_uuid4();
  ASSERT_TRUE(owner.statuses->request_cancel(own).ok());
  EXPECT_TRUE(owner.statuses->cancel_requested(own));
  EXPECT_TRUE(client.statuses->cancel_requested(own));
  EXPECT_FALSE(client.statuses->cancel_requested(new_uuid4()));
}

TEST_F(StatusTest, ClientCancellingAQueuedJobReachesTheOwnersMemory) {
  auto owner = open(Role::kOwner);
  const std::string id = new_uuid4();
  update_ok(*owner.statuses, status_of(id, JobState::kQueued, 0, "queued"));
  std::atomic<bool> notified{false};
  auto subscription = owner.statuses->subscribe(id, [&](const JobStatus& status) {
    if (status.state == JobState::kCancelled) notified = true;
  });

  auto client = open(Role::kClient);
  ASSERT_TRUE(eventually([&] { return client.statuses->get(id).ok(); }));  // the owner writes behind
  // What JobService::cancel does for a queued job.
  ASSERT_TRUE(client.statuses->request_cancel(id).ok());
  EXPECT_EQ(update_ok(*client.statuses, status_of(id, JobState::kCancelled, 0, "cancelled")).state,
            JobState::kCancelled);

  EXPECT_TRUE(eventually([&] { return owner.statuses->cancel_requested(id); }, 5s));
  // A worker of the owner that has not noticed yet cannot undo it in SQL.
  (void)owner.statuses->update(status_of(id, JobState::kRunning, 10, "starting"));
  EXPECT_TRUE(eventually([&] {
    auto got = owner.statuses->get(id);
    return got.ok() && got->state == JobState::kCancelled;
  }, 5s));
  EXPECT_TRUE(eventually([&] { return notified.load(); }, 5s));
  owner = {};
  auto got = client.statuses->get(id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->state, JobState::kCancelled);
}

TEST_F(StatusTest, ClientSubscriptionFollowsTheOwnersUpdates) {
  auto owner = open(Role::kOwner);
  auto client = open(Role::kClient);
  const std::string id = new_uuid4();
  std::mutex mutex;
  JobStatus latest;
  auto subscription = client.statuses->subscribe(id, [&](const JobStatus& status) {
    std::lock_guard lock(mutex);
    latest = status;
  });
  update_ok(*owner.statuses, status_of(id, JobState::kRunning, 50, "halfway"));
  EXPECT_TRUE(eventually([&] {
    std::lock_guard lock(mutex);
    return latest.progress_percent == 50;
  }));
  update_ok(*owner.statuses, status_of(id, JobState::kCompleted, 100, "done"));
  EXPECT_TRUE(eventually([&] {
    std::lock_guard lock(mutex);
    return latest.state == JobState::kCompleted;
  }));
}

TEST_F(StatusTest, OwnerReadsStatusesItDidNotWrite) {
  const std::string id = new_uuid4();
  {
    auto client = open(Role::kClient);
    JobStatus running = status_of(id, JobState::kRunning, 30, "attempt 2");
    running.attempt = 2;
    update_ok(*client.statuses, running);
  }
  auto owner = open(Role::kOwner);
  // The owner merges onto the stored row, not onto nothing.
  const JobStatus merged = update_ok(*owner.statuses, status_of(id, JobState::kRunning, 10, "restarted"));
  EXPECT_EQ(merged.progress_percent, 30);
  EXPECT_EQ(merged.attempt, 2u);
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

TEST_F(StatusTest, ManyJobsBeyondTheCacheStayCorrect) {
  auto backends = open();
  std::vector<std::string> ids;
  for (int i = 0; i < 12'000; ++i) {
    ids.push_back(new_uuid4());
    update_ok(*backends.statuses, status_of(ids.back(), JobState::kCompleted, 100, "done"));
  }
  // The oldest were evicted from memory; they are still final.
  const JobStatus again = update_ok(*backends.statuses, status_of(ids.front(), JobState::kRunning, 0, "again"));
  EXPECT_EQ(again.state, JobState::kCompleted);
  auto got = backends.statuses->get(ids.front());
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->message, "done");
}

}  // namespace
}  // namespace dtq::embedded::testing
