// The StatusStore conformance suite: what core/include/dtq/core/ports/
// status_store.hpp promises (the merge rules, events, cancellation, listing),
// checked the same way on every adapter (embedded SQLite, Redis) and on the
// in-memory fake. An adapter's own behaviour (its hash and TTL, write-behind,
// restarts) stays in its own test file.
//
// To run it over a store, write a harness and instantiate the suite in a
// test binary of the adapter's folder (its label and server fixture):
//
//   struct MyStatusHarness {
//     // The store a worker writes through, over this test's own data (the
//     // first call opens it; called again after it was destroyed, opens it
//     // again).
//     std::shared_ptr<StatusStore> open();
//     // A store of another process on the same data (the API, the CLI).
//     std::shared_ptr<StatusStore> open_client();
//     // Another store that may update the same jobs at the same time as
//     // open()'s, and watch every job.
//     std::shared_ptr<StatusStore> open_peer();
//     // Whether statuses outlive the store that wrote them.
//     static constexpr bool kDurable = true;
//   };
//   INSTANTIATE_TYPED_TEST_SUITE_P(Mine, StatusStoreConformance, MyStatusHarness);
//
// The data may be shared with other tests (one server for a whole run):
// every case uses job ids, and for listing job types, of its own.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "dtq/core/ids.hpp"
#include "dtq/core/ports/status_store.hpp"
#include "support/eventually.hpp"
#include "support/model_factories.hpp"
#include "support/status_helpers.hpp"

namespace dtq::testing {

template <class Harness>
class StatusStoreConformance : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = harness_.open();
    ASSERT_TRUE(store_);
  }

  // The merge rules of merge_status(), through `store`.
  static void check_merge_rules(StatusStore& store) {
    const std::string id = new_uuid4();
    EXPECT_EQ(update_ok(store, status_of(id, JobState::kQueued, 0, "queued")).state,
              JobState::kQueued);
    const JobStatus running = update_ok(store, status_of(id, JobState::kRunning, 50, "halfway"));
    EXPECT_EQ(running.state, JobState::kRunning);
    EXPECT_EQ(running.progress_percent, 50);
    EXPECT_EQ(running.trace_id, kTraceId);
    EXPECT_EQ(running.job_type, "echo");

    EXPECT_EQ(update_ok(store, status_of(id, JobState::kRunning, 20, "late")).progress_percent, 50);
    const JobStatus not_back =
        update_ok(store, status_of(id, JobState::kQueued, 0, "queued again"));
    EXPECT_EQ(not_back.state, JobState::kRunning);
    EXPECT_EQ(not_back.progress_percent, 50);
    // The late "running" update's message; the stale "queued" one changed nothing.
    EXPECT_EQ(not_back.message, "late");

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
    EXPECT_EQ(got->updated_at, failed.updated_at);

    // Completed means 100 %, whatever the update said.
    const std::string done = new_uuid4();
    EXPECT_EQ(update_ok(store, status_of(done, JobState::kCompleted, 80, "done")).progress_percent,
              100);
  }

  Harness harness_;
  std::shared_ptr<StatusStore> store_;
};

TYPED_TEST_SUITE_P(StatusStoreConformance);

TYPED_TEST_P(StatusStoreConformance, MergeRules) {
  this->check_merge_rules(*this->store_);
}

TYPED_TEST_P(StatusStoreConformance, MergeRulesInAnotherProcess) {
  auto client = this->harness_.open_client();
  ASSERT_TRUE(client);
  this->check_merge_rules(*client);
}

TYPED_TEST_P(StatusStoreConformance, UnknownJobIsNotFoundAndAnEmptyIdIsRefused) {
  auto client = this->harness_.open_client();
  ASSERT_TRUE(client);
  EXPECT_EQ(this->store_->get(new_uuid4()).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(client->get(new_uuid4()).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(this->store_->update(JobStatus{}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(this->store_->request_cancel("").code(), StatusCode::kInvalidArgument);
}

// update_durable_batch(): each update merged as update_durable() would,
// answered in the batch's order, a refused one failing alone.
TYPED_TEST_P(StatusStoreConformance, ADurableBatchAnswersEachUpdateInOrder) {
  StatusStore& store = *this->store_;
  EXPECT_TRUE(store.update_durable_batch({}).empty());
  std::vector<JobStatus> batch;
  for (uint32_t attempt = 1; attempt <= 6; ++attempt) {
    JobStatus running = status_of(new_uuid4(), JobState::kRunning, 0, "starting");
    running.attempt = attempt;
    batch.push_back(running);
  }
  batch[4].job_id.clear();
  // One job has ended already: its answer is the stored terminal status.
  update_ok(store, status_of(batch[2].job_id, JobState::kCompleted, 100, "done"));
  const auto stored = store.update_durable_batch(batch);
  ASSERT_EQ(stored.size(), batch.size());
  auto client = this->harness_.open_client();
  ASSERT_TRUE(client);
  for (size_t i = 0; i < batch.size(); ++i) {
    if (i == 4) {
      EXPECT_EQ(stored[i].status().code(), StatusCode::kInvalidArgument);
      continue;
    }
    ASSERT_TRUE(stored[i].ok()) << "update " << i << ": " << stored[i].status().message();
    EXPECT_EQ(stored[i]->job_id, batch[i].job_id);
    // Durable: another process reads it at once.
    const auto seen = client->get(batch[i].job_id);
    ASSERT_TRUE(seen.ok()) << "update " << i << ": " << seen.status().message();
    if (i == 2) {
      EXPECT_EQ(stored[i]->state, JobState::kCompleted);
      EXPECT_EQ(seen->state, JobState::kCompleted);
    } else {
      EXPECT_EQ(stored[i]->state, JobState::kRunning);
      EXPECT_EQ(stored[i]->attempt, batch[i].attempt);
      EXPECT_EQ(seen->attempt, batch[i].attempt);
    }
  }
}

// update_batch(): each update merged as update() would, answered in the
// batch's order, a refused one failing alone.
TYPED_TEST_P(StatusStoreConformance, ABatchAnswersEachUpdateInOrder) {
  StatusStore& store = *this->store_;
  EXPECT_TRUE(store.update_batch({}).empty());
  std::vector<JobStatus> batch;
  for (int i = 0; i < 5; ++i) batch.push_back(status_of(new_uuid4(), JobState::kQueued, 0, ""));
  batch[1].job_id.clear();
  // One job has ended already: its answer is the stored terminal status.
  update_ok(store, status_of(batch[3].job_id, JobState::kCompleted, 100, "done"));
  const auto stored = store.update_batch(batch);
  ASSERT_EQ(stored.size(), batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    if (i == 1) {
      EXPECT_EQ(stored[i].status().code(), StatusCode::kInvalidArgument);
      continue;
    }
    ASSERT_TRUE(stored[i].ok()) << "update " << i << ": " << stored[i].status().message();
    EXPECT_EQ(stored[i]->job_id, batch[i].job_id);
    const JobState expected = i == 3 ? JobState::kCompleted : JobState::kQueued;
    EXPECT_EQ(stored[i]->state, expected) << "update " << i;
    const auto seen = store.get(batch[i].job_id);
    ASSERT_TRUE(seen.ok()) << "update " << i << ": " << seen.status().message();
    EXPECT_EQ(seen->state, expected) << "update " << i;
  }
}

// get_batch(): each job read as get() would, answered in the order asked,
// an unknown one NotFound alone; in the writing process and in another.
TYPED_TEST_P(StatusStoreConformance, AReadOfSeveralJobsAnswersEachInOrder) {
  StatusStore& store = *this->store_;
  auto client = this->harness_.open_client();
  ASSERT_TRUE(client);
  EXPECT_TRUE(store.get_batch({}).empty());
  const std::vector<std::string> ids = {new_uuid4(), new_uuid4(), new_uuid4(), new_uuid4()};
  // Durable: a store may write behind, and the client reads what is stored.
  const auto stored = store.update_durable_batch(
      std::vector<JobStatus>{status_of(ids[0], JobState::kQueued, 0, "queued"),
                             status_of(ids[2], JobState::kRunning, 40, "working"),
                             status_of(ids[3], JobState::kCompleted, 100, "done")});
  for (const auto& one : stored) ASSERT_TRUE(one.ok()) << one.status().message();
  for (StatusStore* reader : {&store, client.get()}) {
    const auto found = reader->get_batch(ids);
    ASSERT_EQ(found.size(), ids.size());
    EXPECT_EQ(found[1].status().code(), StatusCode::kNotFound);
    for (size_t i : {0, 2, 3}) {
      ASSERT_TRUE(found[i].ok()) << "job " << i << ": " << found[i].status().message();
      EXPECT_EQ(found[i]->job_id, ids[i]);
    }
    EXPECT_EQ(found[0]->state, JobState::kQueued);
    EXPECT_EQ(found[2]->state, JobState::kRunning);
    EXPECT_EQ(found[2]->progress_percent, 40);
    EXPECT_EQ(found[3]->state, JobState::kCompleted);
    EXPECT_EQ(found[3]->message, "done");
  }
}

TYPED_TEST_P(StatusStoreConformance, SubscriptionsToOneJobAndToAll) {
  StatusStore& store = *this->store_;
  const std::string a = new_uuid4();
  const std::string b = new_uuid4();
  std::mutex mutex;
  std::vector<JobStatus> for_a;
  std::vector<JobStatus> for_all;  // only this test's jobs: the data may be shared
  auto sub_a = store.subscribe(a, [&](const JobStatus& status) {
    std::lock_guard lock(mutex);
    for_a.push_back(status);
  });
  auto sub_all = store.subscribe("", [&](const JobStatus& status) {
    if (status.job_id != a && status.job_id != b) return;
    std::lock_guard lock(mutex);
    for_all.push_back(status);
  });
  update_ok(store, status_of(a, JobState::kRunning, 10));
  update_ok(store, status_of(b, JobState::kRunning, 10));
  update_ok(store, status_of(a, JobState::kRunning, 10));  // nothing visible changed
  update_ok(store, status_of(a, JobState::kCompleted, 100));
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mutex);
    return for_all.size() >= 3 && for_a.size() >= 2;
  }));
  {
    std::lock_guard lock(mutex);
    ASSERT_EQ(for_a.size(), 2U);
    EXPECT_EQ(for_a[0].progress_percent, 10);
    EXPECT_EQ(for_a[1].state, JobState::kCompleted);
    ASSERT_EQ(for_all.size(), 3U);
    EXPECT_EQ(for_all[0].job_id, a);
    EXPECT_EQ(for_all[1].job_id, b);
    EXPECT_EQ(for_all[2].job_id, a);
  }

  sub_a.reset();
  sub_all.reset();
  update_ok(store, status_of(b, JobState::kRunning, 90));
  update_ok(store, status_of(a, JobState::kRunning, 0, "ignored: already completed"));
  // A fresh subscriber seeing a later change proves the events are past the
  // ones above.
  std::atomic<bool> later{false};
  auto witness = store.subscribe(b, [&](const JobStatus& status) {
    if (status.progress_percent == 95) later = true;
  });
  update_ok(store, status_of(b, JobState::kRunning, 95));
  ASSERT_TRUE(eventually([&] { return later.load(); }));
  std::lock_guard lock(mutex);
  EXPECT_EQ(for_a.size(), 2U);
  EXPECT_EQ(for_all.size(), 3U);
}

TYPED_TEST_P(StatusStoreConformance, UnsubscribingWaitsForARunningCallback) {
  using namespace std::chrono_literals;
  const std::string id = new_uuid4();
  std::atomic<bool> entered{false};
  std::atomic<bool> finished{false};
  auto subscription = this->store_->subscribe(id, [&](const JobStatus&) {
    entered = true;
    // The point of the sleep: the callback is still running when the test
    // unsubscribes, and must have finished by the time that returns.
    std::this_thread::sleep_for(200ms);
    finished = true;
  });
  update_ok(*this->store_, status_of(id, JobState::kRunning, 10));
  ASSERT_TRUE(eventually([&] { return entered.load(); }));
  subscription.reset();
  EXPECT_TRUE(finished.load());
}

TYPED_TEST_P(StatusStoreConformance, AnotherProcessesSubscriptionFollowsTheUpdates) {
  auto watcher = this->harness_.open_client();
  ASSERT_TRUE(watcher);
  const std::string id = new_uuid4();
  std::mutex mutex;
  JobStatus latest;
  auto subscription = watcher->subscribe(id, [&](const JobStatus& status) {
    std::lock_guard lock(mutex);
    latest = status;
  });
  update_ok(*this->store_, status_of(id, JobState::kRunning, 50, "halfway"));
  EXPECT_TRUE(eventually([&] {
    std::lock_guard lock(mutex);
    return latest.progress_percent == 50;
  }));
  update_ok(*this->store_, status_of(id, JobState::kCompleted, 100, "done"));
  EXPECT_TRUE(eventually([&] {
    std::lock_guard lock(mutex);
    return latest.state == JobState::kCompleted;
  }));
}

TYPED_TEST_P(StatusStoreConformance, CancelRequestsReachEveryProcess) {
  using namespace std::chrono_literals;
  StatusStore& worker = *this->store_;
  auto api = this->harness_.open_client();
  ASSERT_TRUE(api);
  const std::string id = new_uuid4();
  EXPECT_FALSE(worker.cancel_requested(id));
  ASSERT_TRUE(api->request_cancel(id).ok());
  EXPECT_TRUE(api->cancel_requested(id));
  EXPECT_TRUE(eventually([&] { return worker.cancel_requested(id); }, 5s));

  const std::string own = new_uuid4();
  ASSERT_TRUE(worker.request_cancel(own).ok());
  EXPECT_TRUE(worker.cancel_requested(own));
  EXPECT_TRUE(api->cancel_requested(own));
  EXPECT_FALSE(api->cancel_requested(new_uuid4()));
}

TYPED_TEST_P(StatusStoreConformance, CancellingAQueuedJobCannotBeUndoneByALateWorker) {
  using namespace std::chrono_literals;
  StatusStore& worker = *this->store_;
  auto api = this->harness_.open_client();
  ASSERT_TRUE(api);
  const std::string id = new_uuid4();
  update_ok(worker, status_of(id, JobState::kQueued, 0, "queued"));
  std::atomic<bool> notified{false};
  auto subscription = worker.subscribe(id, [&](const JobStatus& status) {
    if (status.state == JobState::kCancelled) notified = true;
  });
  // A store may write behind.
  ASSERT_TRUE(eventually([&] { return api->get(id).ok(); }));
  // What JobService::cancel does for a queued job.
  ASSERT_TRUE(api->request_cancel(id).ok());
  EXPECT_EQ(update_ok(*api, status_of(id, JobState::kCancelled, 0, "cancelled")).state,
            JobState::kCancelled);

  EXPECT_TRUE(eventually([&] { return worker.cancel_requested(id); }, 5s));
  // A worker that has not noticed yet cannot undo it.
  EXPECT_TRUE(worker.update(status_of(id, JobState::kRunning, 10, "starting")).ok());
  EXPECT_TRUE(eventually(
      [&] {
        auto got = worker.get(id);
        return got.ok() && got->state == JobState::kCancelled;
      },
      5s));
  EXPECT_TRUE(eventually([&] { return notified.load(); }, 5s));
  subscription.reset();
  this->store_.reset();
  auto got = api->get(id);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->state, JobState::kCancelled);
}

TYPED_TEST_P(StatusStoreConformance, AStatusOutlivesItsStoreAndIsMergedOnto) {
  if constexpr (!TypeParam::kDurable) {
    GTEST_SKIP() << "not durable: nothing outlives the store";
  } else {
    const std::string id = new_uuid4();
    JobStatus failed = status_of(id, JobState::kFailed, 40, "failed: it broke");
    failed.error_code = "boom";
    failed.error_message = "it broke";
    failed.attempt = 3;
    update_ok(*this->store_, status_of(id, JobState::kRunning, 40, "working"));
    update_ok(*this->store_, failed);
    this->store_.reset();
    auto client = this->harness_.open_client();
    this->store_ = this->harness_.open();
    ASSERT_TRUE(client && this->store_);
    for (StatusStore* store : {client.get(), this->store_.get()}) {
      auto got = store->get(id);
      ASSERT_TRUE(got.ok()) << got.status().message();
      EXPECT_EQ(got->state, JobState::kFailed);
      EXPECT_EQ(got->progress_percent, 40);
      EXPECT_EQ(got->message, "failed: it broke");
      EXPECT_EQ(got->error_code, "boom");
      EXPECT_EQ(got->error_message, "it broke");
      EXPECT_EQ(got->attempt, 3U);
      EXPECT_EQ(got->job_type, "echo");
      EXPECT_EQ(got->trace_id, failed.trace_id);
      EXPECT_EQ(got->updated_at, failed.updated_at);
    }
    // It merges onto what is stored, not onto nothing.
    EXPECT_EQ(update_ok(*this->store_, status_of(id, JobState::kRunning, 10, "restarted")).state,
              JobState::kFailed);

    // A status another process wrote while no worker ran.
    const std::string other = new_uuid4();
    this->store_.reset();
    JobStatus running = status_of(other, JobState::kRunning, 30, "attempt 2");
    running.attempt = 2;
    update_ok(*client, running);
    this->store_ = this->harness_.open();
    ASSERT_TRUE(this->store_);
    const JobStatus merged =
        update_ok(*this->store_, status_of(other, JobState::kRunning, 10, "restarted"));
    EXPECT_EQ(merged.progress_percent, 30);
    EXPECT_EQ(merged.attempt, 2U);
  }
}

// Several workers (two stores, four threads) update the same jobs with
// progress in random order: the stored progress ends at the maximum, no
// thread is ever answered less than it was answered before, and a watcher
// never sees progress go down or a terminal status change.
TYPED_TEST_P(StatusStoreConformance, ConcurrentUpdatesNeverRegressProgress) {
  auto second = this->harness_.open_peer();
  auto watcher = this->harness_.open_peer();
  ASSERT_TRUE(second && watcher);
  StatusStore& first = *this->store_;
  constexpr int kJobs = 8;
  constexpr int kThreads = 4;
  std::vector<std::string> ids;
  for (int i = 0; i < kJobs; ++i) ids.push_back(new_uuid4());

  std::mutex mutex;
  std::map<std::string, std::vector<JobStatus>> seen;
  for (const auto& id : ids) seen[id];
  auto subscription = watcher->subscribe("", [&](const JobStatus& status) {
    std::lock_guard lock(mutex);
    if (auto it = seen.find(status.job_id); it != seen.end()) it->second.push_back(status);
  });

  std::atomic<int> regressions{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      StatusStore& store = t % 2 == 0 ? first : *second;
      std::mt19937 random(static_cast<unsigned>(t * 7919 + 1));
      std::vector<int> answered(kJobs, 0);
      for (int round = 0; round < 150; ++round) {
        const int job = static_cast<int>(random() % kJobs);
        const int progress = static_cast<int>(random() % 100);
        auto stored = store.update(
            status_of(ids[job], JobState::kRunning, progress, std::to_string(progress)));
        if (!stored.ok()) {
          ++failures;
          continue;
        }
        if (stored->progress_percent < answered[job] || stored->progress_percent < progress) {
          ++regressions;
        }
        answered[job] = stored->progress_percent;
        // One job is completed mid-way; the other threads go on updating it.
        if (t == 0 && round == 75 &&
            !store.update(status_of(ids[0], JobState::kCompleted, 100, "done")).ok()) {
          ++failures;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(regressions.load(), 0);

  // The last event of every job is its stored status.
  std::map<std::string, JobStatus> stored;
  for (const auto& id : ids) {
    auto got = first.get(id);
    ASSERT_TRUE(got.ok()) << got.status().message();
    stored[id] = *got;
  }
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mutex);
    return std::all_of(ids.begin(), ids.end(), [&](const std::string& id) {
      const auto& events = seen[id];
      return !events.empty() && events.back().progress_percent == stored[id].progress_percent &&
             events.back().state == stored[id].state;
    });
  }));
  std::lock_guard lock(mutex);
  for (const auto& id : ids) {
    const auto& events = seen[id];
    for (size_t i = 1; i < events.size(); ++i) {
      EXPECT_GE(events[i].progress_percent, events[i - 1].progress_percent) << id << " event " << i;
      EXPECT_FALSE(is_terminal(events[i - 1].state)) << id << ": an event after the terminal one";
    }
  }
  EXPECT_EQ(stored[ids[0]].state, JobState::kCompleted);
  EXPECT_EQ(stored[ids[0]].progress_percent, 100);
}

TYPED_TEST_P(StatusStoreConformance, ListsNewestSubmittedFirst) {
  using ::testing::ElementsAreArray;
  using ::testing::IsEmpty;
  StatusStore& store = *this->store_;
  const std::string type = unique_job_type();
  std::vector<std::string> submitted;
  for (int i = 0; i < 5; ++i) submitted.push_back(submit(store, type));
  // A later update of the oldest does not move it: the order is submission.
  update_ok(store, status_of(submitted.front(), JobState::kRunning, 10, "busy", type));

  const StatusPage page = list_ok(store, {.job_type = type});
  EXPECT_THAT(ids(page), ElementsAreArray(reversed(submitted)));
  EXPECT_THAT(after(store, {.job_type = type}, page), IsEmpty());
  ASSERT_FALSE(page.statuses.empty());
  EXPECT_EQ(page.statuses.back().state, JobState::kRunning);
  EXPECT_EQ(page.statuses.back().progress_percent, 10);
  EXPECT_EQ(page.statuses.back().job_type, type);

  // Unfiltered, they come in the same order among everyone's jobs.
  EXPECT_THAT(only(walk(store, {.limit = 500}), submitted), ElementsAreArray(reversed(submitted)));
}

TYPED_TEST_P(StatusStoreConformance, ListsFilteredByStateAndJobType) {
  using ::testing::ElementsAreArray;
  using ::testing::IsEmpty;
  StatusStore& store = *this->store_;
  const std::string type = unique_job_type();
  const std::string other_type = unique_job_type();
  const std::string queued = submit(store, type);
  const std::string running = submit(store, type, JobState::kRunning);
  const std::string completed = submit(store, type, JobState::kCompleted);
  const std::string other_running = submit(store, other_type, JobState::kRunning);

  EXPECT_THAT(ids(list_ok(store, {.state = JobState::kRunning, .job_type = type})),
              ElementsAreArray({running}));
  EXPECT_THAT(ids(list_ok(store, {.state = JobState::kCompleted, .job_type = type})),
              ElementsAreArray({completed}));
  EXPECT_THAT(ids(list_ok(store, {.state = JobState::kQueued, .job_type = type})),
              ElementsAreArray({queued}));
  EXPECT_THAT(ids(list_ok(store, {.state = JobState::kFailed, .job_type = type})), IsEmpty());
  EXPECT_THAT(ids(list_ok(store, {.job_type = other_type})), ElementsAreArray({other_running}));
  EXPECT_THAT(ids(list_ok(store, {.job_type = unique_job_type()})), IsEmpty());

  // By state alone: only running jobs, ours among them.
  const StatusPage page = list_ok(store, {.state = JobState::kRunning, .limit = 500});
  for (const auto& status : page.statuses) EXPECT_EQ(status.state, JobState::kRunning);
  EXPECT_THAT(only(walk(store, {.state = JobState::kRunning, .limit = 500}),
                   {queued, running, completed, other_running}),
              ElementsAreArray({other_running, running}));
}

TYPED_TEST_P(StatusStoreConformance, PagesYieldEveryJobOnceInOrder) {
  using ::testing::ElementsAreArray;
  using ::testing::IsEmpty;
  StatusStore& store = *this->store_;
  const std::string type = unique_job_type();
  std::vector<std::string> submitted;
  for (int i = 0; i < 7; ++i) submitted.push_back(submit(store, type));
  const auto newest_first = reversed(submitted);

  const StatusPage first = list_ok(store, {.job_type = type, .limit = 3});
  EXPECT_THAT(ids(first), ElementsAreArray(newest_first.begin(), newest_first.begin() + 3));
  ASSERT_NE(first.next_cursor, "");
  const StatusPage second =
      list_ok(store, {.job_type = type, .limit = 3, .cursor = first.next_cursor});
  EXPECT_THAT(ids(second), ElementsAreArray(newest_first.begin() + 3, newest_first.begin() + 6));
  ASSERT_NE(second.next_cursor, "");
  const StatusPage last =
      list_ok(store, {.job_type = type, .limit = 3, .cursor = second.next_cursor});
  EXPECT_THAT(ids(last), ElementsAreArray({newest_first.back()}));
  EXPECT_THAT(after(store, {.job_type = type}, last), IsEmpty());

  // Unfiltered with a small limit, ours come once each, in order.
  EXPECT_THAT(only(walk(store, {.limit = 2}), submitted), ElementsAreArray(newest_first));
}

TYPED_TEST_P(StatusStoreConformance, ACursorStaysRightWhileJobsAreSubmitted) {
  using ::testing::ElementsAreArray;
  using ::testing::IsEmpty;
  StatusStore& store = *this->store_;
  const std::string type = unique_job_type();
  std::vector<std::string> older;
  for (int i = 0; i < 6; ++i) older.push_back(submit(store, type));
  const StatusPage first = list_ok(store, {.job_type = type, .limit = 3});
  ASSERT_NE(first.next_cursor, "");

  std::vector<std::string> newer;
  for (int i = 0; i < 3; ++i) newer.push_back(submit(store, type));
  const StatusPage second =
      list_ok(store, {.job_type = type, .limit = 3, .cursor = first.next_cursor});
  EXPECT_THAT(ids(second), ElementsAreArray({older[2], older[1], older[0]}));
  EXPECT_THAT(after(store, {.job_type = type}, second), IsEmpty());

  // A first page taken now starts with them.
  EXPECT_THAT(ids(list_ok(store, {.job_type = type, .limit = 3})),
              ElementsAreArray(reversed(newer)));
}

// Jobs submitted at once from several threads (and processes: two stores)
// are paged neither skipped nor repeated.
TYPED_TEST_P(StatusStoreConformance, ConcurrentSubmissionsArePagedExactlyOnce) {
  using ::testing::ElementsAreArray;
  auto second_store = this->harness_.open_peer();
  ASSERT_TRUE(second_store);
  const std::string type = unique_job_type();
  const auto submitted = submit_concurrently(*this->store_, *second_store, type, 4, 100);
  std::set<std::string> all;
  for (const auto& of_thread : submitted) all.insert(of_thread.begin(), of_thread.end());

  const auto listed = walk(*this->store_, {.job_type = type, .limit = 7});
  EXPECT_EQ(listed.size(), all.size());
  EXPECT_EQ(std::set<std::string>(listed.begin(), listed.end()), all);
  // Each thread's jobs come newest first.
  for (const auto& of_thread : submitted) {
    EXPECT_THAT(only(listed, of_thread), ElementsAreArray(reversed(of_thread)));
  }
}

TYPED_TEST_P(StatusStoreConformance, AMalformedCursorIsInvalidArgument) {
  StatusStore& store = *this->store_;
  for (const std::string cursor : {"x", "abc", "-3", "-5", "0", "12abc", "12x", " 12",
                                   "99999999999999999999999", "2026-11-23T10:00:00Z_abc"}) {
    EXPECT_EQ(store.list({.cursor = cursor}).status().code(), StatusCode::kInvalidArgument)
        << cursor;
  }
  EXPECT_TRUE(list_ok(store, {.limit = 0}).statuses.empty());
}

REGISTER_TYPED_TEST_SUITE_P(
    StatusStoreConformance, MergeRules, MergeRulesInAnotherProcess,
    UnknownJobIsNotFoundAndAnEmptyIdIsRefused, ADurableBatchAnswersEachUpdateInOrder,
    ABatchAnswersEachUpdateInOrder, AReadOfSeveralJobsAnswersEachInOrder,
    SubscriptionsToOneJobAndToAll, UnsubscribingWaitsForARunningCallback,
    AnotherProcessesSubscriptionFollowsTheUpdates, CancelRequestsReachEveryProcess,
    CancellingAQueuedJobCannotBeUndoneByALateWorker, AStatusOutlivesItsStoreAndIsMergedOnto,
    ConcurrentUpdatesNeverRegressProgress, ListsNewestSubmittedFirst,
    ListsFilteredByStateAndJobType, PagesYieldEveryJobOnceInOrder,
    ACursorStaysRightWhileJobsAreSubmitted, ConcurrentSubmissionsArePagedExactlyOnce,
    AMalformedCursorIsInvalidArgument);

}  // namespace dtq::testing
