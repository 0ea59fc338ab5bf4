// What only RedisStatusStore::list() does, against a real redis-server: the
// index that the merge script keeps (a score per job, trimmed to the TTL,
// expired statuses skipped and dropped, a clock that went back), and the
// per-call scan budget. Listing as every StatusStore lists (newest first,
// filters, cursor paging) is the conformance suite's
// (status_conformance_test.cpp).
//
// Every test gives its jobs a job type of its own, so that the other tests
// sharing the server cannot change what it lists; the unfiltered listings
// look only at this test's jobs within the whole. The shared index may hold
// more than one call's scan budget, so a test that has seen all its jobs
// checks that the pages after them hold none, not that there are none.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

#include "dtq/core/time.hpp"
#include "dtq/redis/redis_status_store.hpp"
#include "redis_test_util.hpp"
#include "support/status_helpers.hpp"

namespace dtq::redis::testing {
namespace {

[[maybe_unused]] auto* const kSharedRedis = ::testing::AddGlobalTestEnvironment(new SharedRedis);

using ::testing::ElementsAreArray;
using ::testing::IsEmpty;

using dtq::testing::ids;
using dtq::testing::list_ok;
using dtq::testing::only;
using dtq::testing::submit;
using dtq::testing::submit_concurrently;
using dtq::testing::unique_job_type;
using dtq::testing::walk;

class RedisStatusListTest : public ::testing::Test {
 protected:
  std::unique_ptr<RedisStatusStore> open(
      RedisSettings settings = settings_for(SharedRedis::port())) {
    auto store = RedisStatusStore::connect(std::move(settings));
    EXPECT_TRUE(store.ok()) << store.status().message();
    return store.ok() ? std::move(store).value() : nullptr;
  }
};

// Jobs submitted at once from several threads and two stores are paged
// exactly once (the conformance suite) because each gets a score of its own.
TEST_F(RedisStatusListTest, ConcurrentSubmissionsGetScoresOfTheirOwn) {
  auto first_store = open();
  auto second_store = open();
  ASSERT_TRUE(first_store && second_store);
  const auto submitted =
      submit_concurrently(*first_store, *second_store, unique_job_type(), 4, 100);

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
  const std::string type = unique_job_type();
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

// Malformed cursors are the conformance suite's; Redis refuses one also
// when nothing would be returned anyway.
TEST_F(RedisStatusListTest, AMalformedCursorIsRefusedEvenForAnEmptyPage) {
  auto store = open();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->list({.limit = 0, .cursor = "abc"}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(RedisStatusListTest, AnExpiredStatusIsNotListedAndLeavesTheIndex) {
  auto store = open();
  RedisSettings short_lived = settings_for(SharedRedis::port());
  short_lived.status_ttl = std::chrono::seconds(1);
  auto short_store = open(short_lived);
  ASSERT_TRUE(store && short_store);
  const std::string type = unique_job_type();
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
  // Still indexed, unless a short-lived store of a test running beside this
  // one (the server is shared) has trimmed the index meanwhile: either way
  // the listing must skip it and leave it out of the index.

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
  const std::string type = unique_job_type();
  const std::string old = submit(*store, type);
  RawRedis raw(SharedRedis::port());
  ASSERT_NE(raw.text({"ZSCORE", RedisStatusStore::index_key(), old}), "(nil)");
  // The point of the sleep: the TTL passes, with room; the trim is by time
  // and nothing in Redis shows the index's idea of it.
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
  const std::string rare = unique_job_type();
  const std::string common = unique_job_type();
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
