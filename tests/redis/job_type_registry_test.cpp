// The Redis JobTypeRegistry against a real redis-server: pools registered
// and listed per job type (pools counted, in_flight summed, the newest
// version's metadata), the stored key and its TTL, the heartbeat keeping a
// pool alive and its in_flight fresh, a pool whose process dies expiring
// after its TTL, deregistration at once, and what an unreachable server
// does. Each test uses a key prefix of its own on the shared server.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "dtq/core/ids.hpp"
#include "dtq/redis/redis_job_type_registry.hpp"
#include "redis_test_util.hpp"

namespace dtq::redis::testing {
namespace {

[[maybe_unused]] auto* const kSharedRedis = ::testing::AddGlobalTestEnvironment(new SharedRedis);

using ::testing::ElementsAre;

PoolRegistration pool_of(const std::string& type, const std::string& version,
                         uint32_t concurrency = 4, const std::string& address = "") {
  PoolRegistration pool;
  pool.job_type = type;
  pool.name = type + " plugin";
  pool.version = version;
  pool.description = "the " + type + " plugin, " + version;
  pool.payload_schema_json = R"({"type":"object","properties":{"b":{},"a":{}}})";
  pool.abi_version = "1.0";
  pool.concurrency = concurrency;
  if (!address.empty()) pool.worker_addresses.push_back(address);
  return pool;
}

class RedisRegistryTest : public ::testing::Test {
 protected:
  JobTypeRegistrySettings settings(std::chrono::milliseconds interval = 2s,
                                   std::chrono::milliseconds ttl = 6s) const {
    return {.key_prefix = prefix_, .heartbeat_interval = interval, .ttl = ttl};
  }
  std::unique_ptr<RedisJobTypeRegistry> open(JobTypeRegistrySettings registry) {
    auto opened = RedisJobTypeRegistry::connect(settings_for(SharedRedis::port()), registry);
    EXPECT_TRUE(opened.ok()) << opened.status().message();
    return opened.ok() ? std::move(opened).value() : nullptr;
  }
  std::unique_ptr<RedisJobTypeRegistry> open() { return open(settings()); }

  static std::vector<JobTypeInfo> list_ok(RedisJobTypeRegistry& registry) {
    auto listed = registry.list();
    EXPECT_TRUE(listed.ok()) << listed.status().message();
    return listed.ok() ? *listed : std::vector<JobTypeInfo>{};
  }
  static std::string register_ok(RedisJobTypeRegistry& registry, PoolRegistration pool,
                                 std::function<PoolFigures()> figures = {}) {
    auto id = registry.register_pool(std::move(pool), std::move(figures));
    EXPECT_TRUE(id.ok()) << id.status().message();
    return id.ok() ? *id : std::string();
  }

  const std::string prefix_ = "dtq-test:" + new_uuid4() + ":";
};

TEST_F(RedisRegistryTest, RegistersListsAndStoresThePool) {
  auto registry = open();
  ASSERT_TRUE(registry);
  EXPECT_TRUE(list_ok(*registry).empty());
  std::atomic<uint32_t> busy{3};
  const std::string weather =
      register_ok(*registry, pool_of("weather", "1.2.0", 8, "10.0.0.7:7001"),
                  [&] { return PoolFigures{.in_flight = busy.load()}; });
  register_ok(*registry, pool_of("quote", "0.3.1", 2));
  ASSERT_TRUE(is_uuid(weather));

  const auto types = list_ok(*registry);
  ASSERT_EQ(types.size(), 2u);
  EXPECT_EQ(types[0].job_type, "quote");  // sorted by job type
  EXPECT_EQ(types[0].pools, 1u);
  EXPECT_EQ(types[0].in_flight, 0u);
  EXPECT_TRUE(types[0].worker_addresses.empty());
  const JobTypeInfo& w = types[1];
  EXPECT_EQ(w.job_type, "weather");
  EXPECT_EQ(w.name, "weather plugin");
  EXPECT_EQ(w.version, "1.2.0");
  EXPECT_EQ(w.description, "the weather plugin, 1.2.0");
  EXPECT_EQ(w.payload_schema_json, R"({"type":"object","properties":{"b":{},"a":{}}})");
  EXPECT_EQ(w.abi_version, "1.0");
  EXPECT_EQ(w.concurrency, 8u);
  EXPECT_EQ(w.pools, 1u);
  EXPECT_EQ(w.in_flight, 3u);
  EXPECT_THAT(w.worker_addresses, ElementsAre("10.0.0.7:7001"));

  // The key, its TTL, and the index that list() reads.
  RawRedis raw(SharedRedis::port());
  ASSERT_TRUE(raw.ok());
  const std::string key = registry->pool_key("weather", weather);
  EXPECT_EQ(key, prefix_ + "pool:weather:" + weather);
  const long long ttl = raw.integer({"PTTL", key});
  EXPECT_GT(ttl, 0);
  EXPECT_LE(ttl, 6000);
  EXPECT_EQ(raw.integer({"SISMEMBER", registry->index_key(), key}), 1);
  const auto stored = nlohmann::json::parse(raw.text({"GET", key}));
  EXPECT_EQ(stored["job_type"], "weather");
  EXPECT_EQ(stored["pool_id"], weather);
  EXPECT_EQ(stored["worker_address"], "10.0.0.7:7001");
  EXPECT_EQ(stored["in_flight"], 3);
  EXPECT_EQ(stored["pid"], static_cast<int64_t>(getpid()));
  EXPECT_TRUE(stored["host"].is_string());
  EXPECT_TRUE(stored["registered_at"].is_string());
  EXPECT_TRUE(stored["heartbeat_at"].is_string());
}

TEST_F(RedisRegistryTest, TwoHostsWithTheSameTypeAreTwoPoolsWithTheNewestMetadata) {
  auto first = open();
  auto second = open();
  ASSERT_TRUE(first && second);
  register_ok(*first, pool_of("weather", "1.9.0", 4, "host-a:7001"), [] {
    return PoolFigures{
        .in_flight = 2, .runner_crashes = 4, .crash_looping = true, .last_crash = "SIGSEGV"};
  });
  register_ok(*second, pool_of("weather", "1.10.0", 6, "host-b:7001"),
              [] { return PoolFigures{.in_flight = 5, .runner_crashes = 1}; });
  register_ok(*second, pool_of("quote", "1.0.0"));

  for (auto* registry : {first.get(), second.get()}) {
    const auto types = list_ok(*registry);
    ASSERT_EQ(types.size(), 2u);
    const JobTypeInfo& weather = types[1];
    EXPECT_EQ(weather.job_type, "weather");
    EXPECT_EQ(weather.pools, 2u);
    EXPECT_EQ(weather.in_flight, 7u);
    // One pool's runners keep crashing: the type says so, with that pool's crash.
    EXPECT_EQ(weather.runner_crashes, 5u);
    EXPECT_TRUE(weather.crash_looping);
    EXPECT_EQ(weather.last_crash, "SIGSEGV");
    EXPECT_FALSE(types[0].crash_looping);
    // 1.10.0 is newer than 1.9.0 (numerically, not as text).
    EXPECT_EQ(weather.version, "1.10.0");
    EXPECT_EQ(weather.description, "the weather plugin, 1.10.0");
    EXPECT_EQ(weather.concurrency, 6u);
    EXPECT_THAT(weather.worker_addresses, ElementsAre("host-b:7001", "host-a:7001"));
  }
}

TEST_F(RedisRegistryTest, TheHeartbeatKeepsAPoolAliveAndItsInFlightFresh) {
  auto registry = open(settings(100ms, 400ms));
  ASSERT_TRUE(registry);
  std::atomic<uint32_t> busy{1};
  register_ok(*registry, pool_of("weather", "1.0.0"),
              [&] { return PoolFigures{.in_flight = busy.load()}; });
  busy = 4;
  // Five TTLs: only the heartbeat can have kept it.
  EXPECT_TRUE(throughout(
      [&] {
        const auto types = list_ok(*registry);
        return types.size() == 1 && types[0].pools == 1;
      },
      2s, 50ms));
  const auto types = list_ok(*registry);
  ASSERT_EQ(types.size(), 1u);
  EXPECT_EQ(types[0].pools, 1u);
  EXPECT_EQ(types[0].in_flight, 4u);
  EXPECT_TRUE(registry->healthy());
}

TEST_F(RedisRegistryTest, APoolThatStopsBeatingExpires) {
  const JobTypeRegistrySettings short_lived = settings(100ms, 500ms);
  // A worker process that registers, beats for a while and dies without
  // deregistering (as with SIGKILL).
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(ready[0]);
    auto registry = RedisJobTypeRegistry::connect(settings_for(SharedRedis::port()), short_lived);
    if (!registry.ok() || !(*registry)->register_pool(pool_of("weather", "1.0.0")).ok()) _exit(1);
    (void)!write(ready[1], "r", 1);
    // The point of the sleep: the worker lives three TTLs, kept alive by
    // its heartbeat, and then dies.
    std::this_thread::sleep_for(1500ms);
    _exit(0);  // no destructor: nobody deregisters
  }
  close(ready[1]);
  char byte = 0;
  ASSERT_EQ(read(ready[0], &byte, 1), 1) << "the child could not register";
  close(ready[0]);

  auto observer = open(short_lived);
  ASSERT_TRUE(observer);
  // Two TTLs after registering: still beating.
  EXPECT_TRUE(throughout(
      [&] {
        const auto types = list_ok(*observer);
        return types.size() == 1 && types[0].pools == 1;
      },
      1s, 50ms));

  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  // Dead: gone within one TTL (plus Redis's expiry granularity).
  EXPECT_TRUE(eventually([&] { return list_ok(*observer).empty(); }, 2s));
  // ...and list() took its key out of the index.
  RawRedis raw(SharedRedis::port());
  EXPECT_EQ(raw.integer({"SCARD", observer->index_key()}), 0);
}

TEST_F(RedisRegistryTest, DeregisterRemovesAtOnceAndTheDestructorDeregistersTheRest) {
  auto registry = open();
  auto observer = open();
  ASSERT_TRUE(registry && observer);
  const std::string one = register_ok(*registry, pool_of("weather", "1.0.0"));
  register_ok(*registry, pool_of("weather", "1.0.0"));
  register_ok(*registry, pool_of("quote", "1.0.0"));
  auto types = list_ok(*observer);
  ASSERT_EQ(types.size(), 2u);
  EXPECT_EQ(types[1].pools, 2u);

  ASSERT_TRUE(registry->deregister(one).ok());
  EXPECT_EQ(registry->deregister(one).code(), StatusCode::kNotFound);
  types = list_ok(*observer);
  ASSERT_EQ(types.size(), 2u);
  EXPECT_EQ(types[1].pools, 1u);

  registry.reset();  // a clean shutdown
  EXPECT_TRUE(list_ok(*observer).empty());
  RawRedis raw(SharedRedis::port());
  EXPECT_EQ(raw.integer({"SCARD", observer->index_key()}), 0);
}

TEST_F(RedisRegistryTest, AKeyLostMeanwhileIsWrittenAgainByTheNextHeartbeat) {
  auto registry = open(settings(100ms, 2s));
  ASSERT_TRUE(registry);
  const std::string id = register_ok(*registry, pool_of("weather", "1.0.0"));
  RawRedis raw(SharedRedis::port());
  // As if it had expired during an outage.
  ASSERT_EQ(raw.integer({"DEL", registry->pool_key("weather", id)}), 1);
  EXPECT_TRUE(list_ok(*registry).empty());
  EXPECT_TRUE(eventually([&] { return list_ok(*registry).size() == 1; }, 3s));
}

// The paused set: written by the API's registry, without a TTL; each
// worker's heartbeat tells its pools, and a pool registered later (a worker
// restarted) learns it at registration.
TEST_F(RedisRegistryTest, WorkersFollowThePausedSetAtTheirHeartbeatAndAtRegistration) {
  auto api = open();
  auto worker = open(settings(50ms, 1s));
  ASSERT_TRUE(api && worker);
  std::atomic<int> told{-1};  // -1: never told; else the last paused value
  ASSERT_TRUE(worker
                  ->register_pool(pool_of("weather", "1.0.0"), {},
                                  [&](bool paused) { told = paused ? 1 : 0; })
                  .ok());
  EXPECT_EQ(told.load(), -1) << "a type not paused is not paused at registration";
  register_ok(*worker, pool_of("quote", "1.0.0"));

  ASSERT_TRUE(api->set_paused("weather", true).ok());
  EXPECT_TRUE(list_ok(*api).at(1).paused);  // quote, weather
  EXPECT_FALSE(list_ok(*api).at(0).paused);
  EXPECT_TRUE(eventually([&] { return told.load() == 1; })) << "the heartbeat did not pause it";
  RawRedis raw(SharedRedis::port());
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw.integer({"PTTL", api->paused_key()}), -1) << "the pause must not expire";

  // A worker that starts now pauses its pool at once.
  auto restarted = open();
  std::atomic<int> at_start{-1};
  ASSERT_TRUE(restarted
                  ->register_pool(pool_of("weather", "1.0.0"), {},
                                  [&](bool paused) { at_start = paused ? 1 : 0; })
                  .ok());
  EXPECT_EQ(at_start.load(), 1);

  ASSERT_TRUE(api->set_paused("weather", false).ok());
  EXPECT_FALSE(list_ok(*api).at(1).paused);
  EXPECT_TRUE(eventually([&] { return told.load() == 0; })) << "the heartbeat did not resume it";
}

TEST_F(RedisRegistryTest, RefusesBadSettingsAndRegistrations) {
  EXPECT_EQ(RedisJobTypeRegistry::connect(settings_for(SharedRedis::port()), settings(2s, 2s))
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  JobTypeRegistrySettings no_prefix = settings();
  no_prefix.key_prefix.clear();
  EXPECT_EQ(
      RedisJobTypeRegistry::connect(settings_for(SharedRedis::port()), no_prefix).status().code(),
      StatusCode::kInvalidArgument);
  auto registry = open();
  ASSERT_TRUE(registry);
  EXPECT_EQ(registry->register_pool(pool_of("", "1.0.0")).status().code(),
            StatusCode::kInvalidArgument);
  PoolRegistration two = pool_of("weather", "1.0.0", 4, "a:1");
  two.worker_addresses.push_back("b:2");
  EXPECT_EQ(registry->register_pool(two).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(RedisRegistryTest, AnUnreachableServerFailsAtConnect) {
  RedisSettings nowhere = settings_for(free_port());
  nowhere.connect_timeout = 300ms;
  auto registry = RedisJobTypeRegistry::connect(nowhere, settings());
  ASSERT_FALSE(registry.ok());
  EXPECT_EQ(registry.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(registry.status().message(), ::testing::HasSubstr("127.0.0.1:"));
}

TEST_F(RedisRegistryTest, ARedisRestartIsSurvived) {
  RedisServer server;
  ASSERT_TRUE(server.start());
  RedisSettings redis = settings_for(server.port());
  redis.reconnect_backoff_max = 200ms;
  auto registry = RedisJobTypeRegistry::connect(redis, settings(100ms, 1s));
  ASSERT_TRUE(registry.ok()) << registry.status().message();
  ASSERT_TRUE((*registry)->register_pool(pool_of("weather", "1.0.0")).ok());
  ASSERT_TRUE(server.stop());
  EXPECT_TRUE(eventually([&] { return !(*registry)->healthy(); }, 3s));
  EXPECT_FALSE((*registry)->list().ok());
  ASSERT_TRUE(server.start());
  EXPECT_TRUE(eventually([&] { return (*registry)->healthy(); }, 5s));
  EXPECT_TRUE(eventually(
      [&] {
        auto types = (*registry)->list();
        return types.ok() && types->size() == 1;
      },
      5s));
}

}  // namespace
}  // namespace dtq::redis::testing
