// The API keys of `dtq api` in a real redis-server (RedisApiKeyStore): a key
// added is found and listed oldest first, an id is never taken twice, a
// revocation is seen by every replica's store at once, only hashes are
// stored, and an unreachable server is Unavailable (the API answers 503),
// never "unknown key". Each test uses a key prefix of its own.
#include "dtq/redis/redis_api_key_store.hpp"

#include <gtest/gtest.h>

#include "dtq/core/ids.hpp"
#include "redis_test_util.hpp"

namespace dtq::redis::testing {
namespace {

[[maybe_unused]] auto* const kSharedRedis = ::testing::AddGlobalTestEnvironment(new SharedRedis);

class RedisApiKeyStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<RedisApiKeyStore> open() {
    auto store = RedisApiKeyStore::connect(settings_for(SharedRedis::port()), prefix_);
    EXPECT_TRUE(store.ok()) << store.status().message();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  const std::string prefix_ = "dtq-test-" + new_uuid4() + ":";
};

TEST_F(RedisApiKeyStoreTest, AKeyIsFoundListedAndRefusedOnceRevokedByAnyReplica) {
  auto replica_a = open();
  auto replica_b = open();
  ASSERT_TRUE(replica_a && replica_b);
  const auto reader = new_api_key("dashboard", Scope::kRead);
  const auto writer = new_api_key("ci", Scope::kSubmit);
  ASSERT_TRUE(reader.ok() && writer.ok());
  ASSERT_TRUE(replica_a->add(reader->record).ok());
  ASSERT_TRUE(replica_a->add(writer->record).ok());
  EXPECT_EQ(replica_b->add(reader->record).code(), StatusCode::kAlreadyExists);

  const ApiKeys keys_b(*replica_b, "");
  EXPECT_EQ(*keys_b.authenticate(reader->key), Scope::kRead);
  EXPECT_EQ(*keys_b.authenticate(writer->key), Scope::kSubmit);
  EXPECT_EQ(keys_b.authenticate(reader->key + "0").status().code(), StatusCode::kNotFound);

  const auto listed = replica_b->list();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2U);
  for (const auto& record : *listed) {
    EXPECT_NE(to_json(record).find(record.hash), std::string::npos);
    EXPECT_EQ(to_json(record).find(reader->key.substr(21)), std::string::npos);
    EXPECT_EQ(to_json(record).find(writer->key.substr(21)), std::string::npos);
  }

  ASSERT_TRUE(replica_a->revoke(reader->record.id).ok());
  EXPECT_EQ(keys_b.authenticate(reader->key).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(replica_b->find(reader->record.id)->revoked);
  EXPECT_EQ(*keys_b.authenticate(writer->key), Scope::kSubmit);
  EXPECT_EQ(replica_b->revoke("0000000000000000").code(), StatusCode::kNotFound);
}

TEST_F(RedisApiKeyStoreTest, AnUnreachableServerIsUnavailableNotAnUnknownKey) {
  EXPECT_EQ(RedisApiKeyStore::connect(settings_for(free_port()), prefix_).status().code(),
            StatusCode::kUnavailable);
}

}  // namespace
}  // namespace dtq::redis::testing
