// The Redis StatusStore against a real redis-server: the embedded store's
// behaviours (tests/embedded/status_test.cpp) where they apply, the exact
// contract hash and its TTL, the event channel, concurrent writers, and a
// Redis restart in the middle.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "dtq/core/model_json.hpp"
#include "dtq/core/time.hpp"
#include "dtq/redis/redis_status_store.hpp"
#include "redis_test_util.hpp"

namespace dtq::redis::testing {
namespace {

[[maybe_unused]] auto* const kSharedRedis = ::testing::AddGlobalTestEnvironment(new SharedRedis);

constexpr const char* kTraceId = "7b0a7a52-5a4e-4f43-9d4c-0e1b2c3d4e5f";

JobStatus status_of(const std::string& job_id, JobState state, int progress,
                    std::string message = "") {
  return JobStatus{.job_id = job_id,
                   .state = state,
                   .progress_percent = progress,
                   .updated_at = now_rfc3339(),
                   .message = std::move(message),
                   .trace_id = kTraceId,
                   .job_type = "echo"};
}

class RedisStatusTest : public ::testing::Test {
 protected:
  std::unique_ptr<RedisStatusStore> open(
      RedisSettings settings = settings_for(SharedRedis::port())) {
    auto store = RedisStatusStore::connect(std::move(settings));
    EXPECT_TRUE(store.ok()) << store.status().message();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  static JobStatus update_ok(StatusStore& store, const JobStatus& update) {
    auto stored = store.update(update);
    EXPECT_TRUE(stored.ok()) << stored.status().message();
    return stored.ok() ? *stored : JobStatus{};
  }
};

TEST_F(RedisStatusTest, MergeRules) {
  auto store = open();
  ASSERT_TRUE(store);
  const std::string id = new_uuid4();
  EXPECT_EQ(update_ok(*store, status_of(id, JobState::kQueued, 0, "queued")).state,
            JobState::kQueued);
  const JobStatus running = update_ok(*store, status_of(id, JobState::kRunning, 50, "halfway"));
  EXPECT_EQ(running.state, JobState::kRunning);
  EXPECT_EQ(running.progress_percent, 50);
  EXPECT_EQ(running.trace_id, kTraceId);
  EXPECT_EQ(running.job_type, "echo");

  EXPECT_EQ(update_ok(*store, status_of(id, JobState::kRunning, 20, "late")).progress_percent, 50);
  const JobStatus not_back = update_ok(*store, status_of(id, JobState::kQueued, 0, "queued again"));
  EXPECT_EQ(not_back.state, JobState::kRunning);
  EXPECT_EQ(not_back.progress_percent, 50);
  EXPECT_EQ(not_back.message,
            "late");  // the late "running" update's; the stale "queued" one changed nothing

  JobStatus failed = status_of(id, JobState::kFailed, 60, "failed");
  failed.error_code = "boom";
  failed.error_message = "it broke";
  EXPECT_EQ(update_ok(*store, failed).state, JobState::kFailed);
  const JobStatus final_one = update_ok(*store, status_of(id, JobState::kCompleted, 100, "done"));
  EXPECT_EQ(final_one.state, JobState::kFailed);
  EXPECT_EQ(final_one.progress_percent, 60);
  EXPECT_EQ(final_one.error_code, "boom");

  auto got = store->get(id);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->state, JobState::kFailed);
  EXPECT_EQ(got->error_message, "it broke");
  EXPECT_EQ(got->updated_at, failed.updated_at);

  // Completed means 100 %, whatever the update said.
  const std::string done = new_uuid4();
  EXPECT_EQ(update_ok(*store, status_of(done, JobState::kCompleted, 80, "done")).progress_percent,
            100);
}

TEST_F(RedisStatusTest, UnknownJobIsNotFoundAndAnEmptyIdIsRefused) {
  auto store = open();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->get(new_uuid4()).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store->update(JobStatus{}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store->get("").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store->request_cancel("").code(), StatusCode::kInvalidArgument);
}

TEST_F(RedisStatusTest, HashHoldsExactlyTheContractFieldsWithA24HourTtl) {
  auto store = open();
  ASSERT_TRUE(store);
  RawRedis raw(SharedRedis::port());
  ASSERT_TRUE(raw.ok());
  const std::string id = new_uuid4();
  const std::string key = "job:" + id + ":status";

  JobStatus queued = status_of(id, JobState::kQueued, 0, "queued");
  queued.trace_id.clear();
  update_ok(*store, queued);
  EXPECT_EQ(raw.hash(key), (std::map<std::string, std::string>{{"state", "queued"},
                                                               {"progress_percent", "0"},
                                                               {"updated_at", queued.updated_at},
                                                               {"message", "queued"},
                                                               {"job_id", id}}));

  JobStatus failed = status_of(id, JobState::kFailed, 40, "failed: it broke");
  failed.error_code = "boom";
  failed.error_message = "it broke";
  failed.attempt = 3;
  update_ok(*store, failed);
  EXPECT_EQ(raw.hash(key), (std::map<std::string, std::string>{{"state", "failed"},
                                                               {"progress_percent", "40"},
                                                               {"updated_at", failed.updated_at},
                                                               {"message", "failed: it broke"},
                                                               {"job_id", id},
                                                               {"trace_id", kTraceId},
                                                               {"error_code", "boom"},
                                                               {"error_message", "it broke"}}));
  EXPECT_TRUE(parse_rfc3339(raw.hash(key)["updated_at"]).has_value());
  // dtq's own fields live beside the contract hash.
  EXPECT_EQ(raw.hash("job:" + id + ":meta"),
            (std::map<std::string, std::string>{{"job_type", "echo"}, {"attempt", "3"}}));

  constexpr long long kDay = 24 * 3600;
  for (const std::string& k : {key, "job:" + id + ":meta"}) {
    const long long ttl = raw.integer({"TTL", k});
    EXPECT_GT(ttl, kDay - 60) << k;
    EXPECT_LE(ttl, kDay) << k;
  }

  // A status written by another program (the API, in any language) with
  // only the required fields is read and merged onto.
  const std::string foreign = new_uuid4();
  raw.text({"HSET", "job:" + foreign + ":status", "state", "queued", "progress_percent", "0",
            "updated_at", "2026-11-23T09:15:28.123Z", "message", "queued by the API"});
  auto got = store->get(foreign);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->message, "queued by the API");
  EXPECT_EQ(
      update_ok(*store, status_of(foreign, JobState::kRunning, 20, "started")).progress_percent,
      20);
}

TEST_F(RedisStatusTest, TtlFollowsTheSettings) {
  RedisSettings settings = settings_for(SharedRedis::port());
  settings.status_ttl = std::chrono::seconds(90);
  auto store = open(settings);
  ASSERT_TRUE(store);
  RawRedis raw(SharedRedis::port());
  const std::string id = new_uuid4();
  update_ok(*store, status_of(id, JobState::kRunning, 10));
  ASSERT_TRUE(store->request_cancel(id).ok());
  for (const std::string& key : {RedisStatusStore::status_key(id), RedisStatusStore::meta_key(id),
                                 RedisStatusStore::cancel_key(id)}) {
    const long long ttl = raw.integer({"TTL", key});
    EXPECT_GT(ttl, 80) << key;
    EXPECT_LE(ttl, 90) << key;
  }
}

TEST_F(RedisStatusTest, UnreadableStoredStatusIsReplaced) {
  auto store = open();
  ASSERT_TRUE(store);
  RawRedis raw(SharedRedis::port());
  const std::string id = new_uuid4();
  raw.text(
      {"HSET", RedisStatusStore::status_key(id), "state", "exploded", "progress_percent", "250"});
  EXPECT_EQ(store->get(id).status().code(), StatusCode::kNotFound);
  const JobStatus merged = update_ok(*store, status_of(id, JobState::kRunning, 5, "restarted"));
  EXPECT_EQ(merged.state, JobState::kRunning);
  EXPECT_EQ(merged.progress_percent, 5);
  EXPECT_EQ(raw.hash(RedisStatusStore::status_key(id))["state"], "running");
}

TEST_F(RedisStatusTest, EventsArePublishedAsJsonOnTheJobsChannel) {
  auto store = open();
  ASSERT_TRUE(store);
  const std::string id = new_uuid4();
  RawRedis watcher(SharedRedis::port());
  ASSERT_TRUE(watcher.ok());
  ASSERT_EQ(watcher.text({"SUBSCRIBE", "job:" + id + ":status"}), "subscribe");
  update_ok(*store, status_of(id, JobState::kRunning, 20, "fetching"));
  update_ok(*store,
            status_of(id, JobState::kRunning, 20, "fetching"));  // nothing visible: no event
  update_ok(*store, status_of(id, JobState::kRunning, 50, "parsing"));
  for (const int expected : {20, 50}) {
    const auto push = watcher.next_push();
    ASSERT_EQ(push.size(), 3u);
    EXPECT_EQ(push[0], "message");
    EXPECT_EQ(push[1], "job:" + id + ":status");
    auto event = parse_job_status(push[2]);
    ASSERT_TRUE(event.ok()) << event.status().message() << ": " << push[2];
    EXPECT_EQ(event->job_id, id);
    EXPECT_EQ(event->state, JobState::kRunning);
    EXPECT_EQ(event->progress_percent, expected);
    EXPECT_EQ(event->trace_id, kTraceId);
    EXPECT_EQ(event->job_type, "echo");
  }
}

TEST_F(RedisStatusTest, SubscriptionsToOneJobAndToAll) {
  auto store = open();
  ASSERT_TRUE(store);
  const std::string a = new_uuid4();
  const std::string b = new_uuid4();
  std::mutex mutex;
  std::vector<JobStatus> for_a;
  std::vector<JobStatus> for_all;  // only this test's jobs: the server is shared
  auto sub_a = store->subscribe(a, [&](const JobStatus& status) {
    std::lock_guard lock(mutex);
    for_a.push_back(status);
  });
  auto sub_all = store->subscribe("", [&](const JobStatus& status) {
    if (status.job_id != a && status.job_id != b) return;
    std::lock_guard lock(mutex);
    for_all.push_back(status);
  });
  update_ok(*store, status_of(a, JobState::kRunning, 10));
  update_ok(*store, status_of(b, JobState::kRunning, 10));
  update_ok(*store, status_of(a, JobState::kRunning, 10));  // nothing visible changed
  update_ok(*store, status_of(a, JobState::kCompleted, 100));
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mutex);
    return for_all.size() >= 3 && for_a.size() >= 2;
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
  update_ok(*store, status_of(b, JobState::kRunning, 90));
  update_ok(*store, status_of(a, JobState::kRunning, 0, "ignored: already completed"));
  // A fresh subscriber seeing a later change proves the events are past
  // the ones above.
  std::atomic<bool> later{false};
  auto witness = store->subscribe(b, [&](const JobStatus& status) {
    if (status.progress_percent == 95) later = true;
  });
  update_ok(*store, status_of(b, JobState::kRunning, 95));
  ASSERT_TRUE(eventually([&] { return later.load(); }));
  std::lock_guard lock(mutex);
  EXPECT_EQ(for_a.size(), 2u);
  EXPECT_EQ(for_all.size(), 3u);
}

TEST_F(RedisStatusTest, AnotherStoresUpdatesReachASubscriber) {
  auto watcher = open();
  auto worker = open();
  ASSERT_TRUE(watcher && worker);
  const std::string id = new_uuid4();
  std::mutex mutex;
  JobStatus latest;
  auto subscription = watcher->subscribe(id, [&](const JobStatus& status) {
    std::lock_guard lock(mutex);
    latest = status;
  });
  update_ok(*worker, status_of(id, JobState::kRunning, 50, "halfway"));
  EXPECT_TRUE(eventually([&] {
    std::lock_guard lock(mutex);
    return latest.progress_percent == 50;
  }));
  update_ok(*worker, status_of(id, JobState::kCompleted, 100, "done"));
  EXPECT_TRUE(eventually([&] {
    std::lock_guard lock(mutex);
    return latest.state == JobState::kCompleted;
  }));
}

TEST_F(RedisStatusTest, UnsubscribingWaitsForARunningCallback) {
  auto store = open();
  ASSERT_TRUE(store);
  const std::string id = new_uuid4();
  std::atomic<bool> entered{false};
  std::atomic<bool> finished{false};
  auto subscription = store->subscribe(id, [&](const JobStatus&) {
    entered = true;
    std::this_thread::sleep_for(200ms);
    finished = true;
  });
  update_ok(*store, status_of(id, JobState::kRunning, 10));
  ASSERT_TRUE(eventually([&] { return entered.load(); }));
  subscription.reset();
  EXPECT_TRUE(finished.load());
}

TEST_F(RedisStatusTest, ASubscriptionMayOutliveItsStore) {
  auto store = open();
  ASSERT_TRUE(store);
  auto subscription = store->subscribe(new_uuid4(), [](const JobStatus&) {});
  store.reset();
  subscription.reset();
}

TEST_F(RedisStatusTest, StatusIsSharedBetweenStores) {
  const std::string id = new_uuid4();
  JobStatus failed = status_of(id, JobState::kFailed, 40, "failed: it broke");
  failed.error_code = "boom";
  failed.error_message = "it broke";
  failed.attempt = 3;
  {
    auto store = open();
    ASSERT_TRUE(store);
    update_ok(*store, status_of(id, JobState::kRunning, 40, "working"));
    update_ok(*store, failed);
  }
  auto other = open();
  ASSERT_TRUE(other);
  auto got = other->get(id);
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
  // It merges onto what is stored, not onto nothing.
  EXPECT_EQ(update_ok(*other, status_of(id, JobState::kRunning, 10, "restarted")).state,
            JobState::kFailed);
}

// Several workers (two stores, four threads) update the same jobs with
// progress in random order: the stored progress ends at the maximum, no
// thread is ever answered less than it was answered before, and a watcher
// never sees progress go down or a terminal status change.
TEST_F(RedisStatusTest, ConcurrentUpdatesNeverRegressProgress) {
  auto first = open();
  auto second = open();
  auto watcher = open();
  ASSERT_TRUE(first && second && watcher);
  constexpr int kJobs = 8;
  constexpr int kThreads = 4;
  std::vector<std::string> ids;
  for (int i = 0; i < kJobs; ++i) ids.push_back(new_uuid4());

  std::mutex mutex;
  std::map<std::string, std::vector<JobStatus>> seen;
  auto subscription = watcher->subscribe("", [&](const JobStatus& status) {
    std::lock_guard lock(mutex);
    if (auto it = seen.find(status.job_id); it != seen.end()) it->second.push_back(status);
  });
  for (const auto& id : ids) seen[id];

  std::atomic<int> regressions{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      StatusStore& store = t % 2 == 0 ? static_cast<StatusStore&>(*first) : *second;
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
        if (stored->progress_percent < answered[job] || stored->progress_percent < progress)
          ++regressions;
        answered[job] = stored->progress_percent;
        // One job is completed mid-way; the other threads go on updating it.
        if (t == 0 && round == 75) {
          if (!store.update(status_of(ids[0], JobState::kCompleted, 100, "done")).ok()) ++failures;
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
    auto got = first->get(id);
    ASSERT_TRUE(got.ok()) << got.status().message();
    stored[id] = *got;
  }
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mutex);
    for (const auto& id : ids) {
      const auto& events = seen[id];
      if (events.empty() || events.back().progress_percent != stored[id].progress_percent ||
          events.back().state != stored[id].state) {
        return false;
      }
    }
    return true;
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

TEST_F(RedisStatusTest, CancelRequestsReachEveryWorker) {
  auto api = open();
  auto worker = open();
  ASSERT_TRUE(api && worker);
  const std::string id = new_uuid4();
  EXPECT_FALSE(worker->cancel_requested(id));
  ASSERT_TRUE(api->request_cancel(id).ok());
  EXPECT_TRUE(api->cancel_requested(id));
  EXPECT_TRUE(worker->cancel_requested(id));
  EXPECT_FALSE(worker->cancel_requested(new_uuid4()));
  // A second request keeps the first one's time.
  RawRedis raw(SharedRedis::port());
  const std::string requested_at = raw.text({"GET", RedisStatusStore::cancel_key(id)});
  EXPECT_TRUE(parse_rfc3339(requested_at).has_value()) << requested_at;
  std::this_thread::sleep_for(5ms);
  ASSERT_TRUE(worker->request_cancel(id).ok());
  EXPECT_EQ(raw.text({"GET", RedisStatusStore::cancel_key(id)}), requested_at);
}

TEST_F(RedisStatusTest, CancellingAQueuedJobCannotBeUndoneByALateWorker) {
  auto api = open();
  auto worker = open();
  ASSERT_TRUE(api && worker);
  const std::string id = new_uuid4();
  update_ok(*api, status_of(id, JobState::kQueued, 0, "queued"));
  std::atomic<bool> notified{false};
  auto subscription = worker->subscribe(id, [&](const JobStatus& status) {
    if (status.state == JobState::kCancelled) notified = true;
  });
  // What JobService::cancel does for a queued job.
  ASSERT_TRUE(api->request_cancel(id).ok());
  EXPECT_EQ(update_ok(*api, status_of(id, JobState::kCancelled, 0, "cancelled")).state,
            JobState::kCancelled);
  EXPECT_TRUE(worker->cancel_requested(id));
  EXPECT_EQ(update_ok(*worker, status_of(id, JobState::kRunning, 10, "starting")).state,
            JobState::kCancelled);
  EXPECT_TRUE(eventually([&] { return notified.load(); }));
}

TEST_F(RedisStatusTest, ScriptsAreReloadedAfterTheServerForgetsThem) {
  auto store = open();
  ASSERT_TRUE(store);
  const std::string id = new_uuid4();
  update_ok(*store, status_of(id, JobState::kRunning, 10));
  RawRedis raw(SharedRedis::port());
  ASSERT_EQ(raw.text({"SCRIPT", "FLUSH"}), "OK");
  EXPECT_EQ(update_ok(*store, status_of(id, JobState::kRunning, 30)).progress_percent, 30);
  ASSERT_EQ(raw.text({"SCRIPT", "FLUSH"}), "OK");
  auto got = store->get(id);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->progress_percent, 30);
}

TEST_F(RedisStatusTest, SettingsAreCheckedAndAnAbsentServerIsUnavailable) {
  RedisSettings bad = settings_for(SharedRedis::port());
  bad.status_ttl = std::chrono::seconds(0);
  EXPECT_EQ(RedisStatusStore::connect(bad).status().code(), StatusCode::kInvalidArgument);
  bad = settings_for(SharedRedis::port());
  bad.host.clear();
  EXPECT_EQ(RedisStatusStore::connect(bad).status().code(), StatusCode::kInvalidArgument);

  const auto started = std::chrono::steady_clock::now();
  auto absent = RedisStatusStore::connect(settings_for(free_port()));
  EXPECT_EQ(absent.status().code(), StatusCode::kUnavailable) << absent.status().message();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
}

TEST_F(RedisStatusTest, DatabaseNumberIsHonoured) {
  RedisSettings settings = settings_for(SharedRedis::port());
  settings.db = 5;
  auto store = open(settings);
  ASSERT_TRUE(store);
  const std::string id = new_uuid4();
  update_ok(*store, status_of(id, JobState::kRunning, 10));
  RawRedis raw(SharedRedis::port());
  EXPECT_EQ(raw.integer({"EXISTS", RedisStatusStore::status_key(id)}), 0);
  ASSERT_EQ(raw.text({"SELECT", "5"}), "OK");
  EXPECT_EQ(raw.integer({"EXISTS", RedisStatusStore::status_key(id)}), 1);
}

// Redis goes away and comes back (on the same port, with its data saved at
// shutdown): calls fail with a Status meanwhile, then the same store works
// again, and live events resume without a new subscription.
TEST_F(RedisStatusTest, RecoversFromARedisRestart) {
  RedisServer server;
  ASSERT_TRUE(server.start());
  RedisSettings settings = settings_for(server.port());
  settings.reconnect_backoff_min = 20ms;
  settings.reconnect_backoff_max = 200ms;
  settings.command_timeout = 1s;
  auto store = open(settings);
  auto watcher = open(settings);
  ASSERT_TRUE(store && watcher);

  const std::string id = new_uuid4();
  std::mutex mutex;
  std::vector<JobStatus> events;
  auto subscription = watcher->subscribe(id, [&](const JobStatus& status) {
    std::lock_guard lock(mutex);
    events.push_back(status);
  });
  std::atomic<int> seen_by_all{0};
  auto every = watcher->subscribe("", [&](const JobStatus& status) {
    if (status.job_id == id) ++seen_by_all;
  });
  update_ok(*store, status_of(id, JobState::kRunning, 20, "before"));
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mutex);
    return events.size() == 1;
  }));

  ASSERT_TRUE(server.stop());
  const auto down = store->update(status_of(id, JobState::kRunning, 30, "during"));
  EXPECT_FALSE(down.ok());
  EXPECT_EQ(down.status().code(), StatusCode::kUnavailable) << down.status().message();
  EXPECT_EQ(store->get(id).status().code(), StatusCode::kUnavailable);
  EXPECT_FALSE(store->cancel_requested(id));
  EXPECT_FALSE(store->request_cancel(id).ok());
  EXPECT_FALSE(store->ping().ok());

  ASSERT_TRUE(server.start());
  // The script cache is empty after the restart: EVALSHA answers NOSCRIPT.
  ASSERT_TRUE(eventually(
      [&] { return store->update(status_of(id, JobState::kRunning, 40, "after")).ok(); }, 10s));
  auto got = store->get(id);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->progress_percent, 40);
  EXPECT_EQ(got->message, "after");

  // The watcher re-subscribed by itself and caught up with what it missed.
  EXPECT_TRUE(eventually([&] {
    std::lock_guard lock(mutex);
    return !events.empty() && events.back().progress_percent == 40;
  }));
  update_ok(*store, status_of(id, JobState::kCompleted, 100, "done"));
  EXPECT_TRUE(eventually([&] {
    std::lock_guard lock(mutex);
    return !events.empty() && events.back().state == JobState::kCompleted;
  }));
  EXPECT_TRUE(eventually([&] { return seen_by_all.load() >= 2; }));
  std::lock_guard lock(mutex);
  for (size_t i = 1; i < events.size(); ++i) {
    EXPECT_GE(events[i].progress_percent, events[i - 1].progress_percent);
  }
}

}  // namespace
}  // namespace dtq::redis::testing
