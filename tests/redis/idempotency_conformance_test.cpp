// The Redis IdempotencyStore against the IdempotencyStore conformance
// suite, on the shared redis-server; each test has its own key prefix, and
// its peer (another `dtq api` replica) its own connections. What only Redis
// does (the value's shape, the expiry Redis keeps) is checked here too.
#include "conformance/idempotency_store_conformance.hpp"
#include "dtq/redis/redis_idempotency_store.hpp"
#include "redis_test_util.hpp"
#include "support/expect_ok.hpp"

namespace dtq::redis::testing {
namespace {

using dtq::testing::opened_or_null;

[[maybe_unused]] auto* const kSharedRedis = ::testing::AddGlobalTestEnvironment(new SharedRedis);

struct RedisIdempotencyHarness {
  std::shared_ptr<IdempotencyStore> open() {
    if (!store) store = open_peer();
    return store;
  }
  [[nodiscard]] std::shared_ptr<IdempotencyStore> open_peer() const {
    return opened_or_null(
        RedisIdempotencyStore::connect(settings_for(SharedRedis::port()), prefix));
  }
  std::string prefix = "test-" + new_uuid4() + ":";
  std::shared_ptr<IdempotencyStore> store;
};

TEST(RedisIdempotencyStoreTest, OneStringPerKeyWithTheTtl) {
  const std::string prefix = "test-" + new_uuid4() + ":";
  auto store = RedisIdempotencyStore::connect(settings_for(SharedRedis::port()), prefix);
  ASSERT_TRUE(store.ok()) << store.status().message();
  const IdempotencyRecord record{.fingerprint = "f00d", .job_id = new_uuid4()};
  auto claimed = (*store)->claim("abc:key 1", record, kIdempotencyTtl);
  ASSERT_TRUE(claimed.ok()) << claimed.status().message();
  ASSERT_TRUE(claimed->claimed);

  RawRedis raw(SharedRedis::port());
  const std::string key = prefix + "idempotency:abc:key 1";
  EXPECT_EQ(raw.text({"GET", key}), record.job_id + " f00d");
  const long long ttl = raw.integer({"PTTL", key});
  EXPECT_GT(ttl, 23LL * 3600 * 1000);
  EXPECT_LE(ttl, 24LL * 3600 * 1000);
}

}  // namespace
}  // namespace dtq::redis::testing

namespace dtq::testing {
INSTANTIATE_TYPED_TEST_SUITE_P(RedisIdempotencyStore, IdempotencyStoreConformance,
                               redis::testing::RedisIdempotencyHarness);
}  // namespace dtq::testing
