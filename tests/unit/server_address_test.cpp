// HOST:PORT and server URIs (core/host_port.hpp, core/server_uri.hpp): the
// one reading every listen flag, broker list and backend URI goes through.
#include <gtest/gtest.h>

#include "dtq/core/host_port.hpp"
#include "dtq/core/server_uri.hpp"

namespace dtq {
namespace {

TEST(ListenAddress, ReadsHostAndPortWithZeroForAnyFreePort) {
  auto address = parse_listen_address("127.0.0.1:8080");
  ASSERT_TRUE(address.ok()) << address.status().message();
  EXPECT_EQ(address->host, "127.0.0.1");
  EXPECT_EQ(address->port, 8080);
  auto any = parse_listen_address("0.0.0.0:0");
  ASSERT_TRUE(any.ok());
  EXPECT_EQ(any->port, 0);
}

TEST(ListenAddress, RefusesWhatIsNotHostColonPort) {
  for (const char* text : {"", "8080", ":8080", "host:", "host:http", "host:65536", "host:-1",
                           "host:80x", "host: 80"}) {
    auto address = parse_listen_address(text);
    ASSERT_FALSE(address.ok()) << text;
    EXPECT_EQ(address.status().code(), StatusCode::kInvalidArgument) << text;
  }
  EXPECT_EQ(parse_listen_address(":8080").status().message(), "names no host");
  EXPECT_EQ(parse_listen_address("host:x").status().message(), "has a bad port");
  EXPECT_EQ(parse_listen_address("host").status().message(), "names no port");
}

TEST(ListenAddress, ReadsABracketedIpv6HostAndPutsTheBracketsBack) {
  auto address = parse_listen_address("[::1]:9000");
  ASSERT_TRUE(address.ok()) << address.status().message();
  EXPECT_EQ(address->host, "::1");
  EXPECT_EQ(address->url_host(), "[::1]");
  EXPECT_EQ(address->authority(), "[::1]:9000");
  EXPECT_EQ(parse_listen_address("[::1").status().message(), "has an unclosed [");
  EXPECT_EQ(parse_listen_address("[::1]x:9").status().message(), "has text after the host");
  EXPECT_EQ((HostPort{.host = "example.org", .port = 443}).authority(), "example.org:443");
}

TEST(ServerAddress, NeedsAPortFromOneUnlessADefaultIsGiven) {
  EXPECT_FALSE(parse_server_address("broker:0").ok());
  EXPECT_FALSE(parse_server_address("broker").ok());
  auto defaulted = parse_server_address("broker", 6379);
  ASSERT_TRUE(defaulted.ok());
  EXPECT_EQ(defaulted->port, 6379);
  auto written = parse_server_address("broker:6380", 6379);
  ASSERT_TRUE(written.ok());
  EXPECT_EQ(written->port, 6380);
  EXPECT_FALSE(parse_server_address("broker:", 6379).ok()) << "a ':' promises a port";
}

TEST(ServerUri, SplitsEveryPartAndDecodesTheCredentials) {
  auto uri = parse_server_uri("amqp://us%40r:p%3Ass@rabbit.local:5673/my%2fvhost?heartbeat=5", 5672,
                              "FORM");
  ASSERT_TRUE(uri.ok()) << uri.status().message();
  EXPECT_EQ(uri->scheme, "amqp");
  EXPECT_EQ(uri->user, "us@r");
  EXPECT_EQ(uri->password, "p:ss");
  EXPECT_EQ(uri->address.host, "rabbit.local");
  EXPECT_EQ(uri->address.port, 5673);
  EXPECT_EQ(uri->path, "my%2fvhost");
  EXPECT_EQ(uri->query, "heartbeat=5");
}

TEST(ServerUri, TellsAbsentPartsFromEmptyOnes) {
  auto bare = parse_server_uri("redis://cache", 6379, "FORM");
  ASSERT_TRUE(bare.ok()) << bare.status().message();
  EXPECT_EQ(bare->address.port, 6379);
  EXPECT_EQ(bare->user, "");
  EXPECT_FALSE(bare->password.has_value());
  EXPECT_FALSE(bare->path.has_value());
  auto slash = parse_server_uri("redis://secret@[::1]/", 6379, "FORM");
  ASSERT_TRUE(slash.ok()) << slash.status().message();
  EXPECT_EQ(slash->user, "secret");
  EXPECT_FALSE(slash->password.has_value());
  EXPECT_EQ(slash->address.host, "::1");
  EXPECT_EQ(slash->path, "");
}

TEST(ServerUri, SaysWhatIsWrongWithoutEchoingThePassword) {
  auto bad_port = parse_server_uri("amqp://guest:s3cret@127.0.0.1:notaport/%2f", 5672, "FORM");
  ASSERT_FALSE(bad_port.ok());
  EXPECT_EQ(bad_port.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad_port.status().message(),
            "\"amqp://guest:***@127.0.0.1:notaport/%2f\" has a bad port (expected FORM)");
  EXPECT_EQ(parse_server_uri("cache:6379", 6379, "FORM").status().message(),
            "\"cache:6379\" is not a URI (expected FORM)");
  EXPECT_EQ(parse_server_uri("redis://user:pw@/0", 6379, "FORM").status().message(),
            "\"redis://user:***@/0\" names no host (expected FORM)");
}

TEST(QueryOptions, SplitsAndDecodesEachOptionInOrder) {
  const auto options = query_options("ca_file=%2Fetc%2Fca.pem&&flag&name=a+b&empty=");
  ASSERT_EQ(options.size(), 4u);
  EXPECT_EQ(options[0].name, "ca_file");
  EXPECT_EQ(options[0].value, "/etc/ca.pem");
  EXPECT_EQ(options[1].name, "flag");
  EXPECT_FALSE(options[1].value.has_value());
  EXPECT_EQ(options[2].value, "a b");
  EXPECT_EQ(options[3].value, "");
  EXPECT_TRUE(query_options("").empty());
}

TEST(RedactPassword, HidesThePasswordOfTheAuthorityOnly) {
  EXPECT_EQ(redact_password("redis://u:pw@h:1/0"), "redis://u:***@h:1/0");
  EXPECT_EQ(redact_password("redis://pw@h:1/0"), "redis://***@h:1/0") << "a password alone";
  EXPECT_EQ(redact_password("redis://h:1/a@b"), "redis://h:1/a@b") << "an '@' in the path";
  EXPECT_EQ(redact_password("not a uri"), "not a uri");
  EXPECT_EQ(redact_password("u:pw@h:1"), "u:***@h:1") << "a scheme forgotten";
}

}  // namespace
}  // namespace dtq
