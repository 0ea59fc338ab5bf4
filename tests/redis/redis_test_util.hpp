// Shared by the Redis adapter tests: the real redis-server, started by the
// project's own script (scripts/servers/redis.sh) and a raw hiredis client
// to look at what the adapter stored.
//
// The server: under ctest, the `redis_server` fixture (redis_fixture.sh)
// starts one for every test and names its folder in DTQ_TEST_REDIS_STATE
// (the port is in <folder>/port). Run by hand, the test binary starts its
// own and stops it at exit. A test that restarts Redis starts a private one
// (RedisServer), so that the others never see it go away.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "dtq/core/ids.hpp"
#include "dtq/redis/redis_settings.hpp"
#include "support/eventually.hpp"

namespace dtq::redis::testing {

using namespace std::chrono_literals;

inline const std::string kScript = std::string(DTQ_SOURCE_DIR) + "/scripts/servers/redis.sh";

// A port nobody listens on right now, below the kernel's ephemeral range
// (32768 on), so that no client socket takes it while a server restarts.
inline uint16_t free_port() {
  static thread_local std::mt19937 random{std::random_device{}()};
  std::uniform_int_distribution<int> ports(20000, 31999);
  for (int attempt = 0; attempt < 500; ++attempt) {
    const auto port = static_cast<uint16_t>(ports(random));
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    ::close(fd);
    if (free) return port;
  }
  return 0;
}

// One redis-server of our own, through scripts/servers/redis.sh.
class RedisServer {
 public:
  RedisServer()
      : dir_(std::filesystem::temp_directory_path() / ("dtq-redis-test-" + new_uuid4())),
        port_(free_port()) {}
  ~RedisServer() {
    stop();
    std::filesystem::remove_all(dir_);
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  bool start() { return run("start"); }
  bool stop() { return run("stop"); }
  uint16_t port() const { return port_; }

 private:
  bool run(const std::string& command) {
    const std::string line = "DTQ_SERVERS_DIR='" + dir_.string() +
                             "' DTQ_REDIS_PORT=" + std::to_string(port_) + " '" + kScript + "' " +
                             command;
    return std::system(line.c_str()) == 0;
  }

  std::filesystem::path dir_;
  uint16_t port_;
};

// The server shared by the tests of this process.
class SharedRedis : public ::testing::Environment {
 public:
  static uint16_t port() { return port_; }

  void SetUp() override {
    if (const char* state = std::getenv("DTQ_TEST_REDIS_STATE");
        state != nullptr && *state != '\0') {
      std::ifstream in(std::filesystem::path(state) / "port");
      int port = 0;
      in >> port;
      ASSERT_GT(port, 0) << "no port in " << state
                         << "/port: did the redis_server ctest fixture run?";
      port_ = static_cast<uint16_t>(port);
      return;
    }
    own_ = std::make_unique<RedisServer>();
    ASSERT_TRUE(own_->start()) << "scripts/servers/redis.sh could not start a server";
    port_ = own_->port();
  }
  void TearDown() override { own_.reset(); }

 private:
  static inline uint16_t port_ = 0;
  std::unique_ptr<RedisServer> own_;
};

inline RedisSettings settings_for(uint16_t port) {
  RedisSettings settings;
  settings.host = "127.0.0.1";
  settings.port = port;
  settings.command_timeout = 2s;
  settings.connect_timeout = 1s;
  return settings;
}

// A plain hiredis connection, to look at what the adapter stored.
class RawRedis {
 public:
  explicit RawRedis(uint16_t port) : context_(redisConnect("127.0.0.1", port)) {}
  ~RawRedis() {
    if (context_ != nullptr) redisFree(context_);
  }
  RawRedis(const RawRedis&) = delete;
  RawRedis& operator=(const RawRedis&) = delete;

  bool ok() const { return context_ != nullptr && context_->err == 0; }

  // The reply as text: a string, status or error as is, an integer in
  // decimal, nil as "(nil)", an array as its first element.
  std::string text(const std::vector<std::string>& args) {
    redisReply* reply = call(args);
    if (reply == nullptr) return "(io error)";
    const redisReply* shown =
        reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 ? reply->element[0] : reply;
    std::string out = shown->type == REDIS_REPLY_INTEGER ? std::to_string(shown->integer)
                      : shown->type == REDIS_REPLY_NIL   ? "(nil)"
                      : shown->str != nullptr            ? std::string(shown->str, shown->len)
                                                         : "";
    freeReplyObject(reply);
    return out;
  }
  long long integer(const std::vector<std::string>& args) {
    redisReply* reply = call(args);
    const long long value =
        reply != nullptr && reply->type == REDIS_REPLY_INTEGER ? reply->integer : -999;
    if (reply != nullptr) freeReplyObject(reply);
    return value;
  }
  std::map<std::string, std::string> hash(const std::string& key) {
    std::map<std::string, std::string> fields;
    redisReply* reply = call({"HGETALL", key});
    if (reply == nullptr) return fields;
    for (size_t i = 0; i + 1 < reply->elements; i += 2) {
      fields.emplace(std::string(reply->element[i]->str, reply->element[i]->len),
                     std::string(reply->element[i + 1]->str, reply->element[i + 1]->len));
    }
    freeReplyObject(reply);
    return fields;
  }
  // For a SUBSCRIBEd connection: the next push as its elements' text.
  std::vector<std::string> next_push() {
    void* raw = nullptr;
    std::vector<std::string> elements;
    if (redisGetReply(context_, &raw) != REDIS_OK || raw == nullptr) return elements;
    auto* reply = static_cast<redisReply*>(raw);
    for (size_t i = 0; i < reply->elements; ++i) {
      const redisReply* e = reply->element[i];
      elements.push_back(e->str != nullptr ? std::string(e->str, e->len)
                                           : std::to_string(e->integer));
    }
    freeReplyObject(reply);
    return elements;
  }

 private:
  redisReply* call(const std::vector<std::string>& args) {
    if (!ok()) return nullptr;
    std::vector<const char*> argv;
    std::vector<size_t> lengths;
    for (const auto& arg : args) {
      argv.push_back(arg.data());
      lengths.push_back(arg.size());
    }
    return static_cast<redisReply*>(
        redisCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lengths.data()));
  }

  redisContext* context_;
};

using dtq::testing::eventually;
using dtq::testing::throughout;

}  // namespace dtq::redis::testing
