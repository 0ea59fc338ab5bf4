// dtq::kafka::parse_bootstrap_servers and parse_kafka_uri: the broker list
// and the connection's security, no broker needed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "dtq/kafka/kafka_bootstrap.hpp"

namespace dtq::kafka {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

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

TEST(KafkaUri, ABareListOrAPlainUriHasNoSecurity) {
  for (const char* text : {"k1:9092,k2:9093", "kafka://k1:9092,k2:9093"}) {
    auto connection = parse_kafka_uri(text);
    ASSERT_TRUE(connection.ok()) << connection.status().message();
    EXPECT_EQ(connection->bootstrap_servers, "k1:9092,k2:9093");
    EXPECT_EQ(connection->security.protocol, "");
    EXPECT_EQ(connection->security.sasl_username, "");
  }
}

TEST(KafkaUri, CredentialsMeanSaslSslPlainByDefault) {
  auto connection = parse_kafka_uri("kafka://app:s3cret%2Bx@k1:9093,k2:9093");
  ASSERT_TRUE(connection.ok()) << connection.status().message();
  EXPECT_EQ(connection->bootstrap_servers, "k1:9093,k2:9093");
  EXPECT_EQ(connection->security.protocol, "sasl_ssl");
  EXPECT_EQ(connection->security.sasl_mechanism, "PLAIN");
  EXPECT_EQ(connection->security.sasl_username, "app");
  EXPECT_EQ(connection->security.sasl_password, "s3cret+x");
}

TEST(KafkaUri, EventHubsConnectionStringAsThePassword) {
  auto connection = parse_kafka_uri(
      "kafka://%24ConnectionString:Endpoint%3Dsb%3A%2F%2Fns.servicebus.windows.net%2F%3B"
      "SharedAccessKeyName%3Ddtq%3BSharedAccessKey%3Dab%2Bc%2Fd%3D@ns.servicebus.windows.net:9093"
      "?security.protocol=SASL_SSL&sasl.mechanism=PLAIN");
  ASSERT_TRUE(connection.ok()) << connection.status().message();
  EXPECT_EQ(connection->bootstrap_servers, "ns.servicebus.windows.net:9093");
  EXPECT_EQ(connection->security.sasl_username, "$ConnectionString");
  EXPECT_EQ(connection->security.sasl_password,
            "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=dtq;"
            "SharedAccessKey=ab+c/d=");
  EXPECT_EQ(connection->security.protocol, "sasl_ssl");
}

TEST(KafkaUri, ReadsLibrdkafkasOptions) {
  auto connection = parse_kafka_uri(
      "kafka://dtq:pw@127.0.0.1:9093?security.protocol=sasl_ssl&sasl.mechanism=scram-sha-512"
      "&ssl.ca.location=/etc/dtq/ca.pem&ssl.certificate.location=/etc/dtq/c.pem"
      "&ssl.key.location=/etc/dtq/c.key&ssl.key.password=kp");
  ASSERT_TRUE(connection.ok()) << connection.status().message();
  const KafkaSecurity& security = connection->security;
  EXPECT_EQ(security.sasl_mechanism, "SCRAM-SHA-512");
  EXPECT_EQ(security.ssl_ca_location, "/etc/dtq/ca.pem");
  EXPECT_EQ(security.ssl_certificate_location, "/etc/dtq/c.pem");
  EXPECT_EQ(security.ssl_key_location, "/etc/dtq/c.key");
  EXPECT_EQ(security.ssl_key_password, "kp");
  auto tls_only = parse_kafka_uri("kafka://k1:9093?security.protocol=ssl&ssl.ca.location=/ca.pem");
  ASSERT_TRUE(tls_only.ok()) << tls_only.status().message();
  EXPECT_EQ(tls_only->security.protocol, "ssl");
  EXPECT_EQ(tls_only->security.sasl_mechanism, "");
}

TEST(KafkaUri, RefusesWhatItCannotHonourWithoutEchoingThePassword) {
  const std::pair<const char*, const char*> refused[] = {
      {"kafka://u:s3cret@k1:9093?security.protocol=plaintext", "has credentials but"},
      {"kafka://k1:9093?security.protocol=sasl_ssl", "without USER:PASSWORD@"},
      {"kafka://u:s3cret@k1:9093?security.protocol=tls", "(plaintext, ssl, sasl_plaintext"},
      {"kafka://u:s3cret@k1:9093?sasl.mechanism=GSSAPI", "(PLAIN, SCRAM-SHA-256"},
      {"kafka://u:s3cret@k1:9093?acks=all", "unknown option acks"},
      {"kafka://k1:9093?ssl.ca.location=/ca.pem", "ssl.* options without"},
      {"kafka://u:s3cret@k1:9093?ssl.key.location=/k", "only one of ssl.certificate.location"},
      {"kafka://u:s3cret/with@slash@k1", "has a broker that is not HOST:PORT"},
      {"kafka://u:s3cret@", "names no broker"},
  };
  for (const auto& [text, why] : refused) {
    auto connection = parse_kafka_uri(text);
    ASSERT_FALSE(connection.ok()) << text;
    EXPECT_EQ(connection.status().code(), StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(connection.status().message(), HasSubstr(why)) << text;
    EXPECT_THAT(connection.status().message(), Not(HasSubstr("s3cret"))) << text;
  }
}

}  // namespace
}  // namespace dtq::kafka
