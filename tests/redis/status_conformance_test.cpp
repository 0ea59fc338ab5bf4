// The Redis StatusStore against the StatusStore conformance suite, on the
// shared redis-server; "another process" is another connection. What only
// Redis does (the contract hash, TTLs, the event channel, restarts) is in
// status_store_test and status_list_test.
#include "conformance/status_store_conformance.hpp"
#include "dtq/redis/redis_status_store.hpp"
#include "redis_test_util.hpp"
#include "support/expect_ok.hpp"

namespace dtq::redis::testing {
namespace {

using dtq::testing::opened_or_null;

[[maybe_unused]] auto* const kSharedRedis = ::testing::AddGlobalTestEnvironment(new SharedRedis);

struct RedisStatusHarness {
  std::shared_ptr<StatusStore> open() {
    return opened_or_null(RedisStatusStore::connect(settings_for(SharedRedis::port())));
  }
  std::shared_ptr<StatusStore> open_client() { return open(); }
  std::shared_ptr<StatusStore> open_peer() { return open(); }
  static constexpr bool kDurable = true;
};

}  // namespace
}  // namespace dtq::redis::testing

namespace dtq::testing {
INSTANTIATE_TYPED_TEST_SUITE_P(RedisStatusStore, StatusStoreConformance,
                               redis::testing::RedisStatusHarness);
}  // namespace dtq::testing
