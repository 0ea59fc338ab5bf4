// RabbitMQ over TLS (amqps://): the progress request-reply through a broker
// whose AMQPS listener has a certificate of a CA made for this run
// (tests/support/tls_server_fixture.sh), and the refusals: a CA that did not
// sign it, a plain client on the TLS port.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>

#include "dtq/core/ids.hpp"
#include "dtq/core/time.hpp"
#include "dtq/rabbitmq/progress_responder.hpp"
#include "dtq/rabbitmq/rabbit_progress_query.hpp"
#include "dtq/rabbitmq/rabbit_uri.hpp"
#include "fakes/memory_status_store.hpp"
#include "tls/tls_test_util.hpp"

namespace dtq::rabbitmq {
namespace {

using namespace std::chrono_literals;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Not;

// GoogleTest's documented way to register an environment, before main().
// NOLINTNEXTLINE(cert-err58-cpp)
dtq::testing::TlsServer* const kBroker =
    dynamic_cast<dtq::testing::TlsServer*>(::testing::AddGlobalTestEnvironment(
        new dtq::testing::TlsServer("DTQ_TEST_TLS_STATE", "rabbitmq")));

// The settings an operator's amqps:// URI gives, with a queue of the test's own.
RabbitSettings settings_from(const std::string& host, const std::string& options) {
  const std::string uri =
      "amqps://guest:guest@" + host + ":" + std::to_string(kBroker->tls_port()) + "/%2f" + options;
  auto parsed = parse_uri(uri);
  EXPECT_TRUE(parsed.ok()) << parsed.status().message();
  RabbitSettings settings = parsed.ok() ? *parsed : RabbitSettings{};
  settings.request_queue = "progress.check.request.v1.tls-" + new_uuid4().substr(0, 8);
  settings.connect_timeout = 2s;
  settings.reconnect_backoff_min = 50ms;
  settings.reconnect_backoff_max = 500ms;
  settings.reply_timeout = 5s;
  return settings;
}

JobStatus running(const std::string& id) {
  return JobStatus{.job_id = id,
                   .state = JobState::kRunning,
                   .progress_percent = 42,
                   .updated_at = now_rfc3339(),
                   .message = "over TLS",
                   .trace_id = "7b0a7a52-5a4e-4f43-9d4c-0e1b2c3d4e5f",
                   .job_type = "weather"};
}

// A worker answers the API's progress request, both over AMQPS.
void expect_round_trip(const RabbitSettings& settings) {
  fakes::MemoryStatusStore store;
  const std::string id = new_uuid4();
  ASSERT_TRUE(store.update(running(id)).ok());
  auto responder = ProgressResponder::start(settings, store);
  ASSERT_TRUE(responder.ok()) << responder.status().message();
  auto query = RabbitProgressQuery::connect(settings);
  ASSERT_TRUE(query.ok()) << query.status().message();
  EXPECT_TRUE((*query)->healthy());
  auto got = (*query)->progress(id);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->progress_percent, 42);
  EXPECT_EQ(got->message, "over TLS");
}

TEST(RabbitTls, ProgressRoundTripOverAmqpsVerifyingTheBrokerByIp) {
  expect_round_trip(settings_from("127.0.0.1", "?cacertfile=" + kBroker->cert("ca.pem")));
}

TEST(RabbitTls, ProgressRoundTripOverAmqpsVerifyingTheBrokerByName) {
  expect_round_trip(settings_from("localhost", "?cacertfile=" + kBroker->cert("ca.pem")));
}

TEST(RabbitTls, ProgressRoundTripWithAClientCertificate) {
  expect_round_trip(settings_from("127.0.0.1", "?cacertfile=" + kBroker->cert("ca.pem") +
                                                   "&certfile=" + kBroker->cert("client.pem") +
                                                   "&keyfile=" + kBroker->cert("client.key")));
}

TEST(RabbitTls, ABrokerSignedByAnotherCaIsRefusedAtOnce) {
  const auto started = std::chrono::steady_clock::now();
  auto refused = RabbitProgressQuery::connect(
      settings_from("127.0.0.1", "?cacertfile=" + kBroker->cert("other-ca.pem")));
  ASSERT_FALSE(refused.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  EXPECT_THAT(refused.status().code(),
              AnyOf(StatusCode::kFailedPrecondition, StatusCode::kUnavailable));
  EXPECT_THAT(refused.status().message(), HasSubstr("over TLS"));
  EXPECT_THAT(refused.status().message(), AnyOf(HasSubstr("SSL"), HasSubstr("TLS handshake")));
  EXPECT_THAT(refused.status().message(), Not(HasSubstr("guest:guest")));
}

TEST(RabbitTls, WithoutTheCaFileTheSystemsCasDoNotTrustATestCa) {
  auto refused = RabbitProgressQuery::connect(settings_from("127.0.0.1", ""));
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("over TLS"));
}

TEST(RabbitTls, VerifyNoneConnectsWhateverTheCa) {
  expect_round_trip(settings_from(
      "127.0.0.1", "?cacertfile=" + kBroker->cert("other-ca.pem") + "&verify=verify_none"));
}

TEST(RabbitTls, AMissingCaFileIsAConfigurationFault) {
  auto refused = RabbitProgressQuery::connect(
      settings_from("127.0.0.1", "?cacertfile=" + kBroker->cert("no-such-ca.pem")));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("cannot read the CA file"));
}

TEST(RabbitTls, PlainAmqpOnTheTlsPortFailsWithinTheConnectTimeout) {
  RabbitSettings plain = settings_from("127.0.0.1", "");
  plain.tls = false;
  const auto started = std::chrono::steady_clock::now();
  auto refused = RabbitProgressQuery::connect(plain);
  EXPECT_FALSE(refused.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
}

}  // namespace
}  // namespace dtq::rabbitmq
