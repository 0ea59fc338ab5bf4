// dtq::kafka::parse_bootstrap_servers: the broker list, no broker needed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "dtq/kafka/kafka_bootstrap.hpp"

namespace dtq::kafka {
namespace {

using ::testing::HasSubstr;

TEST(KafkaBootstrap, TakesAListOfBrokersWithOrWithoutTheScheme) {
  auto plain = parse_bootstrap_servers("k1:9092,k2:9093");
  ASSERT_TRUE(plain.ok()) << plain.status().message();
  EXPECT_EQ(*plain, "k1:9092,k2:9093");
  auto prefixed = parse_bootstrap_servers("kafka://[::1]:9092");
  ASSERT_TRUE(prefixed.ok()) << prefixed.status().message();
  EXPECT_EQ(*prefixed, "[::1]:9092");
}

TEST(KafkaBootstrap, EveryBrokerNeedsAHostAndAPort) {
  EXPECT_THAT(parse_bootstrap_servers("kafka://").status().message(), HasSubstr("names no broker"));
  for (const char* text : {"k1", "k1:9092,k2", "k1:9092,,k2:9092", ":9092", "k1:0", "k1:port"}) {
    auto servers = parse_bootstrap_servers(text);
    ASSERT_FALSE(servers.ok()) << text;
    EXPECT_EQ(servers.status().code(), StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(servers.status().message(), HasSubstr("has a broker that is not HOST:PORT"))
        << text;
    EXPECT_THAT(servers.status().message(), HasSubstr("(expected HOST:PORT")) << text;
  }
}

}  // namespace
}  // namespace dtq::kafka
