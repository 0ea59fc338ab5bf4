// dtq::rabbitmq::parse_uri: the AMQP URI into RabbitSettings, no broker
// needed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "dtq/rabbitmq/rabbit_uri.hpp"

namespace dtq::rabbitmq {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(RabbitUri, ReadsHostPortCredentialsAndADecodedVhost) {
  auto settings = parse_uri("amqp://app:p%2Bss@rabbit.local:5673/team%2fjobs");
  ASSERT_TRUE(settings.ok()) << settings.status().message();
  EXPECT_EQ(settings->host, "rabbit.local");
  EXPECT_EQ(settings->port, 5673);
  EXPECT_EQ(settings->username, "app");
  EXPECT_EQ(settings->password, "p+ss");
  EXPECT_EQ(settings->vhost, "team/jobs");
}

TEST(RabbitUri, TheDefaultVhostIsSlashHoweverItIsWritten) {
  for (const char* text : {"amqp://rabbit.local", "amqp://rabbit.local/", "amqp://rabbit.local/%2f",
                           "amqp://rabbit.local/%2F"}) {
    auto settings = parse_uri(text);
    ASSERT_TRUE(settings.ok()) << text << ": " << settings.status().message();
    EXPECT_EQ(settings->vhost, "/") << text;
    EXPECT_EQ(settings->port, 5672) << text;
    EXPECT_EQ(settings->username, "guest") << text;
    EXPECT_EQ(settings->password, "guest") << text;
  }
}

TEST(RabbitUri, AUserWithoutPasswordKeepsTheDefaultPassword) {
  auto settings = parse_uri("amqp://app@rabbit.local");
  ASSERT_TRUE(settings.ok()) << settings.status().message();
  EXPECT_EQ(settings->username, "app");
  EXPECT_EQ(settings->password, "guest");
}

TEST(RabbitUri, RefusesWhatItCannotHonourWithoutEchoingThePassword) {
  const std::pair<const char*, const char*> refused[] = {
      {"redis://guest:s3cret@h:5672/", "is not an amqp:// or amqps:// URI"},
      {"amqp://guest:s3cret@h:5672/?heartbeat=5", "has options"},
      {"amqp://guest:s3cret@h:5672/?cacertfile=/ca.pem", "which only amqps:// (TLS) takes"},
      {"amqps://guest:s3cret@h/?heartbeat=5", "unknown option heartbeat"},
      {"amqps://guest:s3cret@h/?verify=yes", "verify=yes (verify_peer or verify_none)"},
      {"amqps://guest:s3cret@h/?certfile=/c.pem", "only one of certfile and keyfile"},
      {"amqps://guest:s3cret@h/?cacertfile=", "empty cacertfile"},
      {"amqp://guest:s3cret@127.0.0.1:notaport/%2f", "has a bad port"},
      {"amqp://guest:s3cret@[::1/", "has an unclosed ["},
  };
  for (const auto& [text, why] : refused) {
    auto settings = parse_uri(text);
    ASSERT_FALSE(settings.ok()) << text;
    EXPECT_EQ(settings.status().code(), StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(settings.status().message(), HasSubstr(why)) << text;
    EXPECT_THAT(settings.status().message(), HasSubstr("(expected amqp://")) << text;
    EXPECT_THAT(settings.status().message(), Not(HasSubstr("s3cret"))) << text;
  }
  // The message the distributed test looks for after the flag's name.
  EXPECT_EQ(parse_uri("amqp://guest:s3cret@127.0.0.1:notaport/%2f").status().message(),
            "\"amqp://guest:***@127.0.0.1:notaport/%2f\" has a bad port (expected "
            "amqp://USER:PASS@HOST:PORT/VHOST or "
            "amqps://USER:PASS@HOST:PORT/VHOST?cacertfile=PATH)");
}

TEST(RabbitUri, PlainAmqpHasNoTls) {
  auto settings = parse_uri("amqp://rabbit.local");
  ASSERT_TRUE(settings.ok()) << settings.status().message();
  EXPECT_FALSE(settings->tls);
  EXPECT_EQ(settings->port, 5672);
}

TEST(RabbitUri, AmqpsTurnsTlsOnWithPort5671AndVerification) {
  auto settings = parse_uri("amqps://app:s3cret@rabbit.example.com/jobs");
  ASSERT_TRUE(settings.ok()) << settings.status().message();
  EXPECT_TRUE(settings->tls);
  EXPECT_TRUE(settings->tls_verify);
  EXPECT_EQ(settings->port, 5671);
  EXPECT_EQ(settings->vhost, "jobs");
  EXPECT_EQ(settings->tls_ca_file, "");  // the system's CAs
  EXPECT_THAT(settings->describe(), HasSubstr("over TLS"));
  EXPECT_THAT(settings->describe(), Not(HasSubstr("s3cret")));
}

TEST(RabbitUri, AmqpsReadsRabbitMqsTlsQueryOptions) {
  auto settings = parse_uri(
      "amqps://app:s3cret@10.0.0.5:5999/%2f?cacertfile=/etc/dtq/ca%20bundle.pem"
      "&certfile=/etc/dtq/client.pem&keyfile=/etc/dtq/client.key&verify=verify_none");
  ASSERT_TRUE(settings.ok()) << settings.status().message();
  EXPECT_TRUE(settings->tls);
  EXPECT_EQ(settings->port, 5999);
  EXPECT_EQ(settings->vhost, "/");
  EXPECT_EQ(settings->tls_ca_file, "/etc/dtq/ca bundle.pem");
  EXPECT_EQ(settings->tls_cert_file, "/etc/dtq/client.pem");
  EXPECT_EQ(settings->tls_key_file, "/etc/dtq/client.key");
  EXPECT_FALSE(settings->tls_verify);
}

}  // namespace
}  // namespace dtq::rabbitmq
