// dtq's Redis client over TLS with AUTH, as managed Redis (Azure Cache for
// Redis) wants it, against a redis-server of its own with TLS on: a
// throwaway CA and a server certificate for 127.0.0.1 made here with the
// openssl tool. Statuses and live events go through; a server whose
// certificate another CA signed, or that names another host, a plaintext
// client, and a wrong password are each refused with their own clear error
// within the connect timeout.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "dtq/core/ids.hpp"
#include "dtq/redis/redis_status_store.hpp"
#include "dtq/redis/redis_uri.hpp"
#include "redis_test_util.hpp"
#include "support/model_factories.hpp"

namespace dtq::redis::testing {
namespace {

using ::testing::HasSubstr;

constexpr std::string_view kPassword = "s3cret-for-tls";

bool sh(const std::string& command) {
  return std::system(command.c_str()) == 0;
}

// A CA in `dir`/NAME.crt and its key.
bool make_ca(const std::filesystem::path& dir, const std::string& name) {
  return sh("cd '" + dir.string() +
            "' && openssl req -x509 -newkey rsa:2048 -nodes -days 1 -keyout " + name +
            ".key -out " + name + ".crt -subj '/CN=dtq test " + name + "' 2>/dev/null");
}

class RedisTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::filesystem::temp_directory_path() / ("dtq-redis-tls-" + new_uuid4());
    std::filesystem::create_directories(dir_);
    const std::string in = "cd '" + dir_.string() + "' && ";
    ASSERT_TRUE(make_ca(dir_, "ca") && make_ca(dir_, "other-ca"));
    std::ofstream(dir_ / "san.cnf") << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
    ASSERT_TRUE(sh(
        in +
        "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "
        "/CN=localhost "
        "2>/dev/null && openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
        "-days 1 -out server.crt -extfile san.cnf 2>/dev/null"));
    port_ = free_port();
    ASSERT_NE(port_, 0);
    ASSERT_TRUE(sh(
        "redis-server --port 0 --bind 127.0.0.1 --tls-port " + std::to_string(port_) +
        " --tls-cert-file '" + (dir_ / "server.crt").string() + "' --tls-key-file '" +
        (dir_ / "server.key").string() + "' --tls-ca-cert-file '" + (dir_ / "ca.crt").string() +
        "' --tls-auth-clients no --requirepass " + std::string(kPassword) +
        " --save '' --appendonly no --daemonize yes --pidfile '" + (dir_ / "redis.pid").string() +
        "' --dir '" + dir_.string() + "' --logfile '" + (dir_ / "redis.log").string() + "'"));
    ASSERT_TRUE(eventually([] { return RedisStatusStore::connect(tls_settings()).ok(); }))
        << "the TLS redis-server did not come up; see " << (dir_ / "redis.log").string();
  }
  static void TearDownTestSuite() {
    std::ifstream pidfile(dir_ / "redis.pid");
    pid_t pid = 0;
    if (pidfile >> pid && pid > 0) ::kill(pid, SIGTERM);
    eventually([&] { return ::kill(pid, 0) != 0; });
    std::filesystem::remove_all(dir_);
  }

  static RedisSettings tls_settings() {
    RedisSettings settings = settings_for(port_);
    settings.password = std::string(kPassword);
    settings.tls.enabled = true;
    settings.tls.ca_file = (dir_ / "ca.crt").string();
    return settings;
  }

  static inline std::filesystem::path dir_;
  static inline uint16_t port_ = 0;
};

TEST_F(RedisTlsTest, StatusesAndLiveEventsGoThroughTlsWithAuth) {
  auto store = RedisStatusStore::connect(tls_settings());
  ASSERT_TRUE(store.ok()) << store.status().message();
  const std::string id = new_uuid4();
  std::atomic<int> seen{-1};
  auto subscription =
      (*store)->subscribe(id, [&](const JobStatus& status) { seen = status.progress_percent; });
  ASSERT_TRUE(eventually([&] {
    (void)(*store)->update(dtq::testing::status_of(id, JobState::kRunning, 40, "over TLS"));
    return seen.load() == 40;
  })) << "no live event over TLS";
  auto read = (*store)->get(id);
  ASSERT_TRUE(read.ok()) << read.status().message();
  EXPECT_EQ(read->message, "over TLS");
}

TEST_F(RedisTlsTest, TheSameFromARedissUri) {
  auto settings =
      parse_uri("rediss://:" + std::string(kPassword) + "@127.0.0.1:" + std::to_string(port_) +
                "/0?ca_file=" + (dir_ / "ca.crt").string());
  ASSERT_TRUE(settings.ok()) << settings.status().message();
  auto store = RedisStatusStore::connect(*settings);
  ASSERT_TRUE(store.ok()) << store.status().message();
  EXPECT_TRUE(
      (*store)->update(dtq::testing::status_of(new_uuid4(), JobState::kQueued, 0, "")).ok());
}

TEST_F(RedisTlsTest, ACertificateFromAnotherCaIsRefused) {
  RedisSettings settings = tls_settings();
  settings.tls.ca_file = (dir_ / "other-ca.crt").string();
  auto store = RedisStatusStore::connect(settings);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(store.status().message(), HasSubstr("certificate"));
  EXPECT_THAT(store.status().message(), HasSubstr("over TLS"));
}

TEST_F(RedisTlsTest, ACertificateForAnotherNameIsRefused) {
  RedisSettings settings = tls_settings();
  settings.tls.server_name = "redis.example.net";
  auto store = RedisStatusStore::connect(settings);
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(), HasSubstr("certificate"));
}

TEST_F(RedisTlsTest, ANameTheCertificateCarriesIsAccepted) {
  RedisSettings settings = tls_settings();
  settings.tls.server_name = "localhost";
  EXPECT_TRUE(RedisStatusStore::connect(settings).ok());
}

TEST_F(RedisTlsTest, APlaintextClientGetsAnErrorNotAHang) {
  RedisSettings settings = tls_settings();
  settings.tls = {};
  const auto started = std::chrono::steady_clock::now();
  auto store = RedisStatusStore::connect(settings);
  ASSERT_FALSE(store.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - started, settings.command_timeout + 2s);
}

TEST_F(RedisTlsTest, AWrongPasswordIsRefusedAsCredentials) {
  RedisSettings settings = tls_settings();
  settings.password = "not-the-password";
  auto store = RedisStatusStore::connect(settings);
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(), HasSubstr("refused the credentials"));
  EXPECT_THAT(store.status().message(), ::testing::Not(HasSubstr("not-the-password")));
}

}  // namespace
}  // namespace dtq::redis::testing
