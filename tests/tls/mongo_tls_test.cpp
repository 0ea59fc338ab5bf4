// The MongoDB result store over TLS with a user and password, as a managed
// MongoDB (Cosmos DB for MongoDB, Atlas) needs it: FerretDB with a TLS
// listener whose certificate a CA made for this run signed, and SCRAM
// authentication on (tests/support/tls_server_fixture.sh). The options are
// the driver's own (tls=true&tlsCAFile=...), read from the connection string
// as an operator writes it; what is refused is refused at connect().
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>

#include "dtq/core/ids.hpp"
#include "dtq/mongo/mongo_result_store.hpp"
#include "dtq/mongo/mongo_uri.hpp"
#include "support/model_factories.hpp"
#include "tls/tls_test_util.hpp"

namespace dtq::mongo {
namespace {

using namespace std::chrono_literals;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Not;

// GoogleTest's documented way to register an environment, before main().
// NOLINTNEXTLINE(cert-err58-cpp)
dtq::testing::TlsServer* const kServer =
    dynamic_cast<dtq::testing::TlsServer*>(::testing::AddGlobalTestEnvironment(
        new dtq::testing::TlsServer("DTQ_TEST_TLS_STATE", "ferretdb")));

// The settings of `uri` (parse_uri, as `dtq --mongo` reads it), with a
// collection of the test's own and short timeouts.
MongoSettings settings_of(const std::string& uri) {
  auto parsed = parse_uri(uri);
  EXPECT_TRUE(parsed.ok()) << parsed.status().message();
  MongoSettings settings = parsed.ok() ? *parsed : MongoSettings{};
  settings.collection = "job_results_tls_" + new_uuid4().substr(0, 8);
  settings.write_acknowledgement = WriteAcknowledgement::kPrimary;  // one server
  settings.server_selection_timeout = 2s;
  settings.connect_timeout = 1s;
  settings.socket_timeout = 5s;
  return settings;
}

std::string tls_uri(const std::string& host, const std::string& credentials,
                    const std::string& ca) {
  return "mongodb://" + credentials + host + ":" + std::to_string(kServer->tls_port()) +
         "/?tls=true&tlsCAFile=" + kServer->cert(ca) + "&authSource=dtq";
}

std::string login() {
  return kServer->user() + ":" + kServer->password() + "@";
}

void expect_round_trip(const MongoSettings& settings) {
  auto store = MongoResultStore::connect(settings);
  ASSERT_TRUE(store.ok()) << store.status().message();
  const std::string id = new_uuid4();
  auto stored = (*store)->put(dtq::testing::result_of(id, R"({"over":"tls"})"));
  ASSERT_TRUE(stored.ok()) << stored.status().message();
  EXPECT_TRUE(*stored);
  auto got = (*store)->get(id);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->output, R"({"over":"tls"})");
}

TEST(MongoTls, StoresAndReadsAResultOverTlsWithAUserByIp) {
  expect_round_trip(settings_of(tls_uri("127.0.0.1", login(), "ca.pem")));
}

TEST(MongoTls, StoresAndReadsAResultOverTlsWithAUserByName) {
  expect_round_trip(settings_of(tls_uri("localhost", login(), "ca.pem")));
}

TEST(MongoTls, AServerSignedByAnotherCaIsRefused) {
  const auto started = std::chrono::steady_clock::now();
  auto refused =
      MongoResultStore::connect(settings_of(tls_uri("127.0.0.1", login(), "other-ca.pem")));
  ASSERT_FALSE(refused.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
  EXPECT_THAT(refused.status().message(), HasSubstr("certificate verify failed"));
  EXPECT_THAT(refused.status().message(), Not(HasSubstr(kServer->password())));
}

TEST(MongoTls, AWrongPasswordIsRefused) {
  auto refused = MongoResultStore::connect(
      settings_of(tls_uri("127.0.0.1", kServer->user() + ":not-the-password@", "ca.pem")));
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("Authentication failed"));
}

// The server really asks for the login: without one nothing is stored.
TEST(MongoTls, WithoutCredentialsNothingIsStored) {
  auto store = MongoResultStore::connect(settings_of(tls_uri("127.0.0.1", "", "ca.pem")));
  if (!store.ok()) {
    EXPECT_THAT(store.status().message(), HasSubstr("authentication"));
    return;
  }
  auto stored = (*store)->put(dtq::testing::result_of(new_uuid4(), "{}"));
  ASSERT_FALSE(stored.ok());
  EXPECT_THAT(stored.status().message(),
              AnyOf(HasSubstr("requires authentication"), HasSubstr("Unauthorized")));
}

// The TLS port speaks only TLS.
TEST(MongoTls, APlainClientOnTheTlsPortIsRefused) {
  auto refused = MongoResultStore::connect(
      settings_of("mongodb://" + login() + "127.0.0.1:" + std::to_string(kServer->tls_port()) +
                  "/?authSource=dtq"));
  EXPECT_FALSE(refused.ok());
}

}  // namespace
}  // namespace dtq::mongo
