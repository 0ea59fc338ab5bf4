// The Kafka JobQueue over SASL_SSL (PLAIN), as Event Hubs' Kafka endpoint
// and managed Kafka services need it: a broker of scripts/servers/kafka.sh
// with a SASL_SSL listener whose certificate a CA made for this run signed
// (tests/support/tls_server_fixture.sh). The settings come from a kafka://
// URI as `dtq --kafka` reads it. A wrong password or an untrusted broker is
// refused by ping() with the broker's reason, within its timeout.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>

#include "dtq/core/ids.hpp"
#include "dtq/kafka/kafka_bootstrap.hpp"
#include "dtq/kafka/kafka_job_queue.hpp"
#include "support/model_factories.hpp"
#include "support/queue_helpers.hpp"
#include "tls/tls_test_util.hpp"

namespace dtq::kafka {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

// GoogleTest's documented way to register an environment, before main().
// NOLINTNEXTLINE(cert-err58-cpp)
dtq::testing::TlsServer* const kBroker =
    dynamic_cast<dtq::testing::TlsServer*>(::testing::AddGlobalTestEnvironment(
        new dtq::testing::TlsServer("DTQ_TEST_TLS_STATE", "kafka")));

// The settings of `uri` with topic and group names of the test's own.
KafkaSettings settings_of(const std::string& uri) {
  auto connection = parse_kafka_uri(uri);
  EXPECT_TRUE(connection.ok()) << connection.status().message();
  KafkaSettings settings;
  if (connection.ok()) {
    settings.bootstrap_servers = connection->bootstrap_servers;
    settings.security = connection->security;
  }
  const std::string prefix = "tls" + new_uuid4().substr(0, 8) + ".";
  settings.topic_template = prefix + "jobs.%s.v1";
  settings.dlq_topic_template = prefix + "jobs.%s.dlq.v1";
  settings.group_id_prefix = prefix + "workers.";
  settings.client_id = "dtq-tls-test";
  settings.partitions = 1;
  settings.delivery_timeout = 10s;
  settings.request_timeout = 5s;
  settings.session_timeout = 6s;  // the broker's minimum
  settings.revoke_drain = 1s;
  settings.commit_interval = 50ms;
  return settings;
}

std::string sasl_ssl_uri(const std::string& password, const std::string& ca) {
  return "kafka://" + kBroker->user() + ":" + password +
         "@127.0.0.1:" + std::to_string(kBroker->tls_port()) +
         "?ssl.ca.location=" + kBroker->cert(ca);
}

TEST(KafkaTls, AJobGoesThroughTheQueueOverSaslSsl) {
  KafkaSettings settings = settings_of(sasl_ssl_uri(kBroker->password(), "ca.pem"));
  EXPECT_EQ(settings.security.protocol, "sasl_ssl");
  auto queue = KafkaJobQueue::create(settings);
  ASSERT_TRUE(queue.ok()) << queue.status().message();
  ASSERT_TRUE((*queue)->ping(10s).ok());
  ASSERT_TRUE((*queue)->ensure_topics("echo").ok());
  const JobMessage message = dtq::testing::make_message("echo", R"({"over":"sasl_ssl"})");
  ASSERT_TRUE((*queue)->enqueue(message).ok());
  auto taken = dtq::testing::take_within(**queue, 1, 30s);
  ASSERT_EQ(taken.size(), 1U);
  dtq::testing::expect_same(taken[0].message, message);
  EXPECT_TRUE((*queue)->ack(taken[0]).ok());
}

TEST(KafkaTls, AWrongPasswordIsRefusedWithTheBrokersReason) {
  auto queue = KafkaJobQueue::create(settings_of(sasl_ssl_uri("not-the-password", "ca.pem")));
  ASSERT_TRUE(queue.ok()) << queue.status().message();
  const auto started = std::chrono::steady_clock::now();
  const Status refused = (*queue)->ping(3s);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.code(), StatusCode::kFailedPrecondition) << refused.message();
  EXPECT_THAT(refused.message(), HasSubstr("SASL authentication error"));
  EXPECT_THAT(refused.message(), Not(HasSubstr("not-the-password")));
}

TEST(KafkaTls, ABrokerSignedByAnotherCaIsRefused) {
  auto queue =
      KafkaJobQueue::create(settings_of(sasl_ssl_uri(kBroker->password(), "other-ca.pem")));
  ASSERT_TRUE(queue.ok()) << queue.status().message();
  const Status refused = (*queue)->ping(3s);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.code(), StatusCode::kFailedPrecondition) << refused.message();
  EXPECT_THAT(refused.message(), HasSubstr("certificate verify failed"));
}

}  // namespace
}  // namespace dtq::kafka
