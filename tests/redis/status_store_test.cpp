// What only the Redis StatusStore does, against a real redis-server: the
// exact contract hash and its TTL, the event channel, scripts, settings, and
// a Redis restart in the middle. What every StatusStore does is the
// conformance suite's (status_conformance_test.cpp).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "dtq/core/model_json.hpp"
#include "dtq/core/time.hpp"
#include "dtq/redis/redis_status_store.hpp"
#include "redis_test_util.hpp"
#include "support/model_factories.hpp"
#include "support/status_helpers.hpp"

namespace dtq::redis::testing {
namespace {

[[maybe_unused]] auto* const kSharedRedis = ::testing::AddGlobalTestEnvironment(new SharedRedis);

using dtq::testing::kTraceId;
using dtq::testing::status_of;
using dtq::testing::update_ok;

class RedisStatusTest : public ::testing::Test {
 protected:
  std::unique_ptr<RedisStatusStore> open(
      RedisSettings settings = settings_for(SharedRedis::port())) {
    auto store = RedisStatusStore::connect(std::move(settings));
    EXPECT_TRUE(store.ok()) << store.status().message();
    return store.ok() ? std::move(store).value() : nullptr;
  }
};

// Other stores refuse an empty id on update() and request_cancel() (the
// conformance suite); Redis also on get().
TEST_F(RedisStatusTest, AnEmptyIdIsRefusedByGet) {
  auto store = open();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->get("").status().code(), StatusCode::kInvalidArgument);
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

TEST_F(RedisStatusTest, ThePriorityIsKeptInTheMetaHashAndPublished) {
  auto store = open();
  ASSERT_TRUE(store);
  RawRedis raw(SharedRedis::port());
  ASSERT_TRUE(raw.ok());
  const std::string id = new_uuid4();
  RawRedis watcher(SharedRedis::port());
  ASSERT_TRUE(watcher.ok());
  ASSERT_EQ(watcher.text({"SUBSCRIBE", "job:" + id + ":status"}), "subscribe");
  JobStatus queued = status_of(id, JobState::kQueued, 0, "queued");
  queued.priority = JobPriority::kHigh;
  EXPECT_EQ(update_ok(*store, queued).priority, JobPriority::kHigh);
  // A worker's update need not repeat it (nor can it change it).
  EXPECT_EQ(update_ok(*store, status_of(id, JobState::kRunning, 20, "fetching")).priority,
            JobPriority::kHigh);
  auto got = store->get(id);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->priority, JobPriority::kHigh);
  EXPECT_EQ(raw.hash(RedisStatusStore::meta_key(id))["priority"], "high");
  // Out of the contract hash, which keeps exactly its fields.
  EXPECT_EQ(raw.hash(RedisStatusStore::status_key(id)).count("priority"), 0u);
  const auto push = watcher.next_push();
  ASSERT_EQ(push.size(), 3u);
  auto event = parse_job_status(push[2]);
  ASSERT_TRUE(event.ok()) << event.status().message() << ": " << push[2];
  EXPECT_EQ(event->priority, JobPriority::kHigh);
  // A normal job stores none, and reads as normal.
  const std::string plain = new_uuid4();
  EXPECT_EQ(update_ok(*store, status_of(plain, JobState::kQueued, 0)).priority,
            JobPriority::kNormal);
  EXPECT_EQ(raw.hash(RedisStatusStore::meta_key(plain)).count("priority"), 0u);
}

TEST_F(RedisStatusTest, ASubscriptionMayOutliveItsStore) {
  auto store = open();
  ASSERT_TRUE(store);
  auto subscription = store->subscribe(new_uuid4(), [](const JobStatus&) {});
  store.reset();
  subscription.reset();
}

TEST_F(RedisStatusTest, ASecondCancelRequestKeepsTheFirstOnesTime) {
  auto api = open();
  auto worker = open();
  ASSERT_TRUE(api && worker);
  const std::string id = new_uuid4();
  ASSERT_TRUE(api->request_cancel(id).ok());
  RawRedis raw(SharedRedis::port());
  const std::string requested_at = raw.text({"GET", RedisStatusStore::cancel_key(id)});
  EXPECT_TRUE(parse_rfc3339(requested_at).has_value()) << requested_at;
  // A request made a tick later would carry another time.
  ASSERT_TRUE(eventually([&] { return now_rfc3339() != requested_at; }));
  ASSERT_TRUE(worker->request_cancel(id).ok());
  EXPECT_EQ(raw.text({"GET", RedisStatusStore::cancel_key(id)}), requested_at);
}

// The conformance suite waits for a worker to see a cancellation (a store
// may cache); in Redis every store reads the one hash, so a late worker's
// update is answered "cancelled" at once.
TEST_F(RedisStatusTest, ALateWorkersUpdateIsAnsweredCancelledAtOnce) {
  auto api = open();
  auto worker = open();
  ASSERT_TRUE(api && worker);
  const std::string id = new_uuid4();
  update_ok(*api, status_of(id, JobState::kQueued, 0, "queued"));
  ASSERT_TRUE(api->request_cancel(id).ok());
  update_ok(*api, status_of(id, JobState::kCancelled, 0, "cancelled"));
  EXPECT_TRUE(worker->cancel_requested(id));
  EXPECT_EQ(update_ok(*worker, status_of(id, JobState::kRunning, 10, "starting")).state,
            JobState::kCancelled);
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
  // A pipelined batch that meets NOSCRIPT is sent again whole, once loaded.
  ASSERT_EQ(raw.text({"SCRIPT", "FLUSH"}), "OK");
  const std::string other = new_uuid4();
  const JobStatus batch[] = {status_of(id, JobState::kRunning, 60),
                             status_of(other, JobState::kRunning, 20)};
  const auto stored = store->update_durable_batch(batch);
  ASSERT_EQ(stored.size(), 2u);
  for (const auto& one : stored) ASSERT_TRUE(one.ok()) << one.status().message();
  EXPECT_EQ(stored[0]->progress_percent, 60);
  EXPECT_EQ(stored[1]->progress_percent, 20);
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
