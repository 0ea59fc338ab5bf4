// RedisStatusStore::list() against a real redis-server: the embedded
// store's listing (newest first, filters, limit, cursor paging), a cursor
// that stays right while jobs are submitted, the index that the merge script
// keeps (trimmed to the TTL, expired statuses skipped and dropped), and the
// per-call scan budget.
//
// Every test gives its jobs a job type of its own, so that the other tests
// sharing the server cannot change what it lists; the unfiltered listings
// look only at this test's jobs within the whole. The shared index may hold
// more than one call's scan budget, so a test that has seen all its jobs
// checks that the pages after them hold none, not that there are none.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <thread>
#include <vector>

#include "dtq/core/time.hpp"
#include "dtq/redis/redis_status_store.hpp"
#include "redis_test_util.hpp"

namespace dtq::redis::testing {
namespace {

[[maybe_unused]] auto* const kSharedRedis = ::testing::AddGlobalTestEnvironment(new SharedRedis);

using ::testing::ElementsAreArray;
using ::testing::IsEmpty;

class RedisStatusListTest : public ::testing::Test {
 protected:
  std::unique_ptr<RedisStatusStore> open(
      RedisSettings settings = settings_for(SharedRedis::port())) {
    auto store = RedisStatusStore::connect(std::move(settings));
    EXPECT_TRUE(store.ok()) << store.status().message();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  // A new job of `job_type`, queued (as at submission) and then moved to
  // `state`; returns its id.
  static std::string submit(StatusStore& store, const std::string& job_type,
                            JobState state = JobState::kQueued) {
    const std::string id = new_uuid4();
    JobStatus status{.job_id = id,
                     .state = JobState::kQueued,
                     .updated_at = now_rfc3339(),
                     .message = "queued",
                     .job_type = job_type};
    EXPECT_TRUE(store.update(status).ok());
    if (state != JobState::kQueued) {
      status.state = state;
      status.message = std::string(to_string(state));
      EXPECT_TRUE(store.update(status).ok());
    }
    return id;
  }

  static StatusPage list_ok(StatusStore& store, const StatusListQuery& query) {
    auto page = store.list(query);
    EXPECT_TRUE(page.ok()) << page.status().message();
    return page.ok() ? std::move(*page) : StatusPage{};
  }

  static std::vector<std::string> ids(const StatusPage& page) {
    std::vector<std::string> out;
    for (const auto& status : page.statuses) out.push_back(status.job_id);
    return out;
  }

  // Every page of `query` from its cursor on, concatenated; fails on a page
  // that repeats itself.
  static std::vector<std::string> walk(StatusStore& store, StatusListQuery query,
                                       size_t max_pages = 10'000) {
    std::vector<std::string> out;
    for (size_t pages = 0; pages < max_pages; ++pages) {
      const StatusPage page = list_ok(store, query);
      for (const auto& status : page.statuses) out.push_back(status.job_id);
      if (page.next_cursor.empty()) return out;
      EXPECT_NE(page.next_cursor, query.cursor);
      if (page.next_cursor == query.cursor) return out;
      query.cursor = page.next_cursor;
    }
    ADD_FAILURE() << "more than " << max_pages << " pages";
    return out;
  }

  // What the pages after `page` of `query` hold.
  static std::vector<std::string> after(StatusStore& store, StatusListQuery query,
                                        const StatusPage& page) {
    if (page.next_cursor.empty()) return {};
    query.cursor = page.next_cursor;
    return walk(store, query);
  }

  // `all` restricted to the ids in `mine`, in the order of `all`.
  static std::vector<std::string> only(const std::vector<std::string>& all,
                                       const std::vector<std::string>& mine) {
    std::vector<std::string> out;
    for (const auto& id : all) {
      if (std::find(mine.begin(), mine.end(), id) != mine.end()) out.push_back(id);
    }
    return out;
  }

  static std::vector<std::string> reversed(std::vector<std::string> ids) {
    std::reverse(ids.begin(), ids.end());
    return ids;
  }
};

TEST_F(RedisStatusListTest, NewestSubmittedFirst) {
  auto store = open();
  ASSERT_TRUE(store);
  const std::string type = "list-" + new_uuid4();
  std::vector<std::string> submitted;
  for (int i = 0; i < 5; ++i) submitted.push_back(submit(*store, type));
  // A later update of the oldest does not move it: the order is submission.
  JobStatus running{.job_id = submitted.front(),
                    .state = JobState::kRunning,
                    .progress_percent = 10,
                    .updated_at = now_rfc3339(),
                    .job_type = type};
  ASSERT_TRUE(store->update(running).ok());

  const StatusPage page = list_ok(*store, {.job_type = type});
  EXPECT_THAT(ids(page), ElementsAreArray(reversed(submitted)));
  EXPECT_THAT(after(*store, {.job_type = type}, page), IsEmpty());
  EXPECT_EQ(page.statuses.back().state, JobState::kRunning);
  EXPECT_EQ(page.statuses.back().progress_percent, 10);
  EXPECT_EQ(page.statuses.back().job_type, type);

  // Unfiltered, they come in the same order among everyone's jobs.
  const auto everything = walk(*store, {.limit = 500});
  EXPECT_THAT(only(everything, submitted), ElementsAreArray(reversed(submitted)));
}

TEST_F(RedisStatusListTest, FiltersByStateAndJobType) {
  auto store = open();
  ASSERT_TRUE(store);
  const std::string type = "list-" + new_uuid4();
  const std::string other_type = "list-" + new_uuid4();
  const std::string queued = submit(*store, type);
  const std::string running = submit(*store, type, JobState::kRunning);
  const std::string completed = submit(*store, type, JobState::kCompleted);
  const std::string other_running = submit(*store, other_type, JobState::kRunning);

  EXPECT_THAT(ids(list_ok(*store, {.state = JobState::kRunning, .job_type = type})),
              ElementsAreArray({running}));
  EXPECT_THAT(ids(list_ok(*store, {.state = JobState::kCompleted, .job_type = type})),
              ElementsAreArray({completed}));
  EXPECT_THAT(ids(list_ok(*store, {.state = JobState::kQueued, .job_type = type})),
              ElementsAreArray({queued}));
  EXPECT_THAT(ids(list_ok(*store, {.state = JobState::kFailed, .job_type = type})), IsEmpty());
  EXPECT_THAT(ids(list_ok(*store, {.job_type = other_type})), ElementsAreArray({other_running}));
  EXPECT_THAT(ids(list_ok(*store, {.job_type = "list-" + new_uuid4()})), IsEmpty());

  // By state alone: only running jobs, ours among them.
  const StatusPage page = list_ok(*store, {.state = JobState::kRunning, .limit = 500});
  for (const auto& status : page.statuses) EXPECT_EQ(status.state, JobState::kRunning);
  EXPECT_THAT(only(walk(*store, {.state = JobState::kRunning, .limit = 500}),
                   {queued, running, completed, other_running}),
              ElementsAreArray({other_running, running}));
}

TEST_F(RedisStatusListTest, PagesYieldEveryJobOnceInOrder) {
  auto store = open();
  ASSERT_TRUE(store);
  const std::string type = "list-" + new_uuid4();
  std::vector<std::string> submitted;
  for (int i = 0; i < 7; ++i) submitted.push_back(submit(*store, type));
  const auto newest_first = reversed(submitted);

  const StatusPage first = list_ok(*store, {.job_type = type, .limit = 3});
  EXPECT_THAT(ids(first), ElementsAreArray(newest_first.begin(), newest_first.begin() + 3));
  ASSERT_NE(first.next_cursor, "");
  const StatusPage second =
      list_ok(*store, {.job_type = type, .limit = 3, .cursor = first.next_cursor});
  EXPECT_THAT(ids(second), ElementsAreArray(newest_first.begin() + 3, newest_first.begin() + 6));
  ASSERT_NE(second.next_cursor, "");
  const StatusPage last =
      list_ok(*store, {.job_type = type, .limit = 3, .cursor = second.next_cursor});
  EXPECT_THAT(ids(last), ElementsAreArray({newest_first.back()}));
  EXPECT_THAT(after(*store, {.job_type = type}, last), IsEmpty());

  // Unfiltered with a small limit, ours come once each, in order.
  EXPECT_THAT(only(walk(*store, {.limit = 2}), submitted), ElementsAreArray(newest_first));
}

TEST_F(RedisStatusListTest, ACursorStaysRightWhileJobsAreSubmitted) {
  auto store = open();
  ASSERT_TRUE(store);
  const std::string type = "list-" + new_uuid4();
  std::vector<std::string> older;
  for (int i = 0; i < 6; ++i) older.push_back(submit(*store, type));
  const StatusPage first = list_ok(*store, {.job_type = type, .limit = 3});
  ASSERT_NE(first.next_cursor, "");

  std::vector<std::string> newer;
  for (int i = 0; i < 3; ++i) newer.push_back(submit(*store, type));
  const StatusPage second =
      list_ok(*store, {.job_type = type, .limit = 3, .cursor = first.next_cursor});
  EXPECT_THAT(ids(second), ElementsAreArray({older[2], older[1], older[0]}));
  EXPECT_THAT(after(*store, {.job_type = type}, second), IsEmpty());

  // A first page taken now starts with them.
  EXPECT_THAT(ids(list_ok(*store, {.job_type = type, .limit = 3})),
              ElementsAreArray(reversed(newer)));
}

// Jobs submitted at once from several threads (and processes: two stores)
// get scores of their own, so paging neither skips nor repeats one.
TEST_F(RedisStatusListTest, ConcurrentSubmissionsArePagedExactlyOnce) {
  auto first_store = open();
  auto second_store = open();
  ASSERT_TRUE(first_store && second_store);
  const std::string type = "list-" + new_uuid4();
  constexpr int kThreads = 4;
  constexpr int kJobsPerThread = 100;
  std::vector<std::vector<std::string>> submitted(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      StatusStore& store = t % 2 == 0 ? *first_store : *second_store;
      for (int i = 0; i < kJobsPerThread; ++i) submitted[t].push_back(submit(store, type));
    });
  }
  for (auto& thread : threads) thread.join();

  RawRedis raw(SharedRedis::port());
  std::set<std::string> scores;
  std::set<std::string> all;
  for (const auto& ids_of_thread : submitted) {
    for (const auto& id : ids_of_thread) {
      scores.insert(raw.text({"ZSCORE", RedisStatusStore::index_key(), id}));
      all.insert(id);
    }
  }
  EXPECT_EQ(scores.size(), all.size());

  const auto listed = walk(*first_store, {.job_type = type, .limit = 7});
  EXPECT_EQ(listed.size(), all.size());
  EXPECT_EQ(std::set<std::string>(listed.begin(), listed.end()), all);
  // Each thread's jobs come newest first.
  for (const auto& ids_of_thread : submitted) {
    EXPECT_THAT(only(listed, ids_of_thread), ElementsAreArray(reversed(ids_of_thread)));
  }
}

// A job indexed with a score ahead of the Redis clock (written while the
// clock was ahead, before a failover to a lagging replica): jobs submitted
// after it are still listed before it. In a database of its own, so that
// the other tests' scores stay untouched.
TEST_F(RedisStatusListTest, ALaterJobIsListedFirstEvenWhenTheClockWentBack) {
  RedisSettings settings = settings_for(SharedRedis::port());
  settings.db = 9;
  auto store = open(settings);
  ASSERT_TRUE(store);
  RawRedis raw(SharedRedis::port());
  ASSERT_EQ(raw.text({"SELECT", "9"}), "OK");
  ASSERT_EQ(raw.text({"FLUSHDB"}), "OK");
  const std::string type = "list-" + new_uuid4();
  const std::string ahead = submit(*store, type);
  const std::string hour_ahead = std::to_string(
      std::stoll(raw.text({"ZSCORE", RedisStatusStore::index_key(), ahead})) + 3'600'000'000LL);
  ASSERT_EQ(raw.integer({"ZADD", RedisStatusStore::index_key(), hour_ahead, ahead}), 0);

  const std::string later = submit(*store, type);
  const std::string latest = submit(*store, type);
  EXPECT_THAT(ids(list_ok(*store, {.job_type = type})), ElementsAreArray({latest, later, ahead}));
  EXPECT_THAT(walk(*store, {.job_type = type, .limit = 1}),
              ElementsAreArray({latest, later, ahead}));

  // Here the index holds these three only, so the last page says so.
  EXPECT_NE(list_ok(*store, {.limit = 2}).next_cursor, "");
  const StatusPage exact = list_ok(*store, {.limit = 3});
  EXPECT_EQ(exact.statuses.size(), 3u);
  EXPECT_EQ(exact.next_cursor, "");
}

TEST_F(RedisStatusListTest, AMalformedCursorIsInvalidArgument) {
  auto store = open();
  ASSERT_TRUE(store);
  for (const std::string cursor : {"abc", "-5", "0", "12x", " 12", "99999999999999999999999"}) {
    EXPECT_EQ(store->list({.cursor = cursor}).status().code(), StatusCode::kInvalidArgument)
        << cursor;
  }
  // Also when nothing would be returned anyway.
  EXPECT_EQ(store->list({.limit = 0, .cursor = "abc"}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(list_ok(*store, {.limit = 0}).statuses.empty());
}

TEST_F(RedisStatusListTest, AnExpiredStatusIsNotListedAndLeavesTheIndex) {
  auto store = open();
  RedisSettings short_lived = settings_for(SharedRedis::port());
  short_lived.status_ttl = std::chrono::seconds(1);
  auto short_store = open(short_lived);
  ASSERT_TRUE(store && short_store);
  const std::string type = "list-" + new_uuid4();
  const std::string kept = submit(*store, type);
  const std::string expiring = submit(*short_store, type);
  const std::string newest = submit(*store, type);

  RawRedis raw(SharedRedis::port());
  ASSERT_NE(raw.text({"ZSCORE", RedisStatusStore::index_key(), expiring}), "(nil)");
  ASSERT_TRUE(eventually(
      [&] {
        return raw.integer({"EXISTS", RedisStatusStore::status_key(expiring)}) == 0;
      },
      5s));
  // Still indexed: nothing newer came from the short-lived store to trim it.
  ASSERT_NE(raw.text({"ZSCORE", RedisStatusStore::index_key(), expiring}), "(nil)");

  EXPECT_THAT(ids(list_ok(*store, {.job_type = type})), ElementsAreArray({newest, kept}));
  EXPECT_THAT(only(walk(*store, {.limit = 500}), {kept, expiring, newest}),
              ElementsAreArray({newest, kept}));
  EXPECT_EQ(raw.text({"ZSCORE", RedisStatusStore::index_key(), expiring}), "(nil)");
}

TEST_F(RedisStatusListTest, TheIndexIsTrimmedToTheTtl) {
  RedisSettings short_lived = settings_for(SharedRedis::port());
  short_lived.status_ttl = std::chrono::seconds(1);
  auto store = open(short_lived);
  ASSERT_TRUE(store);
  const std::string type = "list-" + new_uuid4();
  const std::string old = submit(*store, type);
  RawRedis raw(SharedRedis::port());
  ASSERT_NE(raw.text({"ZSCORE", RedisStatusStore::index_key(), old}), "(nil)");
  std::this_thread::sleep_for(1200ms);
  const std::string fresh = submit(*store, type);
  EXPECT_EQ(raw.text({"ZSCORE", RedisStatusStore::index_key(), old}), "(nil)");
  EXPECT_NE(raw.text({"ZSCORE", RedisStatusStore::index_key(), fresh}), "(nil)");
}

// A filter that matches nothing among the newest few thousand jobs gives an
// empty page with a cursor rather than a walk through the whole index.
TEST_F(RedisStatusListTest, OneCallReadsABoundedPartOfTheIndex) {
  auto store = open();
  ASSERT_TRUE(store);
  const std::string rare = "list-" + new_uuid4();
  const std::string common = "list-" + new_uuid4();
  const std::string wanted = submit(*store, rare);
  for (int i = 0; i < 4200; ++i) submit(*store, common);

  const StatusPage first = list_ok(*store, {.job_type = rare});
  EXPECT_THAT(ids(first), IsEmpty());
  ASSERT_NE(first.next_cursor, "");
  EXPECT_THAT(walk(*store, {.job_type = rare, .cursor = first.next_cursor}),
              ElementsAreArray({wanted}));
}

}  // namespace
}  // namespace dtq::redis::testing
