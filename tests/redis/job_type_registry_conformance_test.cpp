// The Redis JobTypeRegistry against the JobTypeRegistry conformance suite, on
// the shared redis-server: the API's registry lists what worker processes
// register, each hosted pool a registry of its own (as each `dtq worker`
// has), under a key prefix of the test's own. What only Redis does
// (heartbeats, TTLs, pools of several versions, outages) is in
// job_type_registry_test.
#include <map>

#include "conformance/job_type_registry_conformance.hpp"
#include "dtq/redis/redis_job_type_registry.hpp"
#include "redis_test_util.hpp"

namespace dtq::redis::testing {
namespace {

[[maybe_unused]] auto* const kSharedRedis = ::testing::AddGlobalTestEnvironment(new SharedRedis);

class RedisRegistryHarness {
 public:
  std::shared_ptr<JobTypeRegistry> open() { return connect(); }
  // A worker registers its pool, and keeps it registered until it stops.
  void host(const JobTypeInfo& type) {
    auto worker = connect();
    ASSERT_TRUE(worker);
    const auto registered = worker->register_pool(type);
    ASSERT_TRUE(registered.ok()) << registered.status().message();
    workers_[type.job_type] = std::move(worker);
  }
  // The worker leaves: its registry deregisters its pool as it goes.
  void stop(const std::string& job_type) { EXPECT_EQ(workers_.erase(job_type), 1U); }

 private:
  std::shared_ptr<RedisJobTypeRegistry> connect() {
    auto connected =
        RedisJobTypeRegistry::connect(settings_for(SharedRedis::port()), {.key_prefix = prefix_});
    EXPECT_TRUE(connected.ok()) << connected.status().message();
    return connected.ok() ? std::shared_ptr<RedisJobTypeRegistry>(std::move(connected).value())
                          : nullptr;
  }

  const std::string prefix_ = "dtq-conformance:" + new_uuid4() + ":";
  std::map<std::string, std::shared_ptr<RedisJobTypeRegistry>> workers_;
};

}  // namespace
}  // namespace dtq::redis::testing

namespace dtq::testing {
INSTANTIATE_TYPED_TEST_SUITE_P(RedisJobTypeRegistry, JobTypeRegistryConformance,
                               redis::testing::RedisRegistryHarness);
}  // namespace dtq::testing
