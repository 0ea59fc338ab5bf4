// dtq::redis::parse_uri: the Redis URI into RedisSettings, no server needed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "dtq/redis/redis_uri.hpp"

namespace dtq::redis {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(RedisUri, ReadsHostPortCredentialsAndDatabase) {
  auto settings = parse_uri("redis://app:p%40ss@cache.local:6380/3");
  ASSERT_TRUE(settings.ok()) << settings.status().message();
  EXPECT_EQ(settings->host, "cache.local");
  EXPECT_EQ(settings->port, 6380);
  EXPECT_EQ(settings->username, "app");
  EXPECT_EQ(settings->password, "p@ss");
  EXPECT_EQ(settings->db, 3);
}

TEST(RedisUri, DefaultsThePortTheDatabaseAndTheCredentials) {
  for (const char* text : {"redis://cache.local", "redis://cache.local/"}) {
    auto settings = parse_uri(text);
    ASSERT_TRUE(settings.ok()) << text << ": " << settings.status().message();
    EXPECT_EQ(settings->port, 6379) << text;
    EXPECT_EQ(settings->db, 0) << text;
    EXPECT_EQ(settings->username, "") << text;
    EXPECT_EQ(settings->password, "") << text;
  }
}

TEST(RedisUri, ReadsAUserinfoWithoutColonAsAPasswordAlone) {
  auto alone = parse_uri("redis://s3cret@127.0.0.1:6379");
  ASSERT_TRUE(alone.ok()) << alone.status().message();
  EXPECT_EQ(alone->username, "");
  EXPECT_EQ(alone->password, "s3cret");
  auto empty_user = parse_uri("redis://:s3cret@127.0.0.1:6379");
  ASSERT_TRUE(empty_user.ok()) << empty_user.status().message();
  EXPECT_EQ(empty_user->username, "");
  EXPECT_EQ(empty_user->password, "s3cret");
}

TEST(RedisUri, ReadsRedissAsTlsWithItsOptions) {
  auto plain = parse_uri("rediss://:s3cret@cache.redis.cache.windows.net:6380");
  ASSERT_TRUE(plain.ok()) << plain.status().message();
  EXPECT_TRUE(plain->tls.enabled);
  EXPECT_EQ(plain->port, 6380);
  EXPECT_EQ(plain->tls.ca_file, "");  // the system's trust store
  EXPECT_THAT(plain->describe(), HasSubstr("over TLS"));
  auto options = parse_uri(
      "rediss://h/0?ca_file=%2Fetc%2Fdtq%2Fca.pem&cert_file=/c.pem&key_file=/"
      "k.pem&server_name=redis.internal");
  ASSERT_TRUE(options.ok()) << options.status().message();
  EXPECT_EQ(options->tls.ca_file, "/etc/dtq/ca.pem");
  EXPECT_EQ(options->tls.cert_file, "/c.pem");
  EXPECT_EQ(options->tls.key_file, "/k.pem");
  EXPECT_EQ(options->tls.server_name, "redis.internal");
  EXPECT_FALSE(parse_uri("redis://h:6379")->tls.enabled);
}

TEST(RedisUri, RefusesWhatItCannotHonourWithoutEchoingThePassword) {
  const std::pair<const char*, const char*> refused[] = {
      {"rediss://u:s3cret@h:6379?verify=none",
       "not ca_file=, cert_file=, key_file= or server_name="},
      {"rediss://u:s3cret@h:6379?ca_file", "not ca_file="},
      {"rediss://u:s3cret@h:6379?cert_file=/c.pem", "needs its key"},
      {"http://u:s3cret@h:6379", "is not a redis:// or rediss:// URI"},
      {"redis://u:s3cret@h:6379?timeout=1", "only rediss:// takes"},
      {"redis://u:s3cret@h:6379/zero", "has a database that is not a number"},
      {"redis://u:s3cret@h:6379/-1", "has a database that is not a number"},
      {"redis://u:s3cret@h:99999", "has a bad port"},
      {"redis://u:s3cret@:6379", "names no host"},
      {"u:s3cret@h:6379", "is not a URI"},
  };
  for (const auto& [text, why] : refused) {
    auto settings = parse_uri(text);
    ASSERT_FALSE(settings.ok()) << text;
    EXPECT_EQ(settings.status().code(), StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(settings.status().message(), HasSubstr(why)) << text;
    EXPECT_THAT(settings.status().message(), HasSubstr("(expected redis://")) << text;
    EXPECT_THAT(settings.status().message(), Not(HasSubstr("s3cret"))) << text;
  }
}

}  // namespace
}  // namespace dtq::redis
