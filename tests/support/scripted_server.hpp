// Test servers started through the project's own scripts
// (scripts/servers/<name>.sh), for the tests of the distributed adapters.
//
//  - ScriptedServer: a private server of one test (its own folder and ports),
//    which the test may stop and start again; cleaned away when destroyed.
//  - SharedServer: a GoogleTest environment giving every test of a binary one
//    server: under ctest the one a fixture (tests/support/server_fixture.sh)
//    started, named by <STATE_VARIABLE>/port; run by hand, one of its own.
//
// Ports are chosen in [20000, 29000): below the kernel's ephemeral range
// (32768+), so that no client socket can hold a stopped server's port, nor
// connect to itself while retrying it, and below the Kafka tests' fixed
// 29092/29093.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "dtq/core/ids.hpp"

namespace dtq::testing {

// True when nothing listens on (or holds) 127.0.0.1:port.
inline bool port_free(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return free;
}

// A port in [20000, 29000) such that it and the `span - 1` after it are free.
inline uint16_t pick_ports(int span = 1) {
  static std::mt19937 random{std::random_device{}()};
  std::uniform_int_distribution<int> pick(20000, 29000 - span);
  for (int attempt = 0; attempt < 200; ++attempt) {
    const int first = pick(random);
    bool free = true;
    for (int i = 0; i < span && free; ++i) free = port_free(static_cast<uint16_t>(first + i));
    if (free) return static_cast<uint16_t>(first);
  }
  return 0;
}

// One server of scripts/servers/<script>.sh in a folder of its own, with the
// given environment (its ports).
class ScriptedServer {
 public:
  ScriptedServer(std::string script, std::vector<std::pair<std::string, std::string>> environment)
      : script_(std::string(DTQ_SOURCE_DIR) + "/scripts/servers/" + script + ".sh"),
        dir_(std::filesystem::temp_directory_path() / ("dtq-" + script + "-test-" + new_uuid4())),
        environment_(std::move(environment)) {}
  ~ScriptedServer() {
    run("clean");
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;

  bool start() { return run("start"); }
  bool stop() { return run("stop"); }

 private:
  bool run(const std::string& command) {
    std::string line = "DTQ_SERVERS_DIR='" + dir_.string() + "'";
    for (const auto& [name, value] : environment_) line += " " + name + "=" + value;
    line += " '" + script_ + "' " + command + " >&2";
    return std::system(line.c_str()) == 0;
  }

  std::string script_;
  std::filesystem::path dir_;
  std::vector<std::pair<std::string, std::string>> environment_;
};

// The server every test of this binary shares. `make_own` makes a server
// (and reports its port) when no fixture named one in $<state_variable>.
class SharedServer : public ::testing::Environment {
 public:
  using Factory = std::unique_ptr<ScriptedServer> (*)(uint16_t& port);

  SharedServer(const char* state_variable, Factory make_own)
      : state_variable_(state_variable), make_own_(make_own) {}

  uint16_t port() const { return port_; }

  void SetUp() override {
    if (const char* state = std::getenv(state_variable_); state != nullptr && *state != '\0') {
      std::ifstream in(std::filesystem::path(state) / "port");
      int port = 0;
      in >> port;
      ASSERT_GT(port, 0) << "no port in " << state << "/port: did the ctest fixture run?";
      port_ = static_cast<uint16_t>(port);
      return;
    }
    uint16_t port = 0;
    own_ = make_own_(port);
    ASSERT_TRUE(own_ && own_->start()) << "the test server's script could not start it";
    port_ = port;
  }
  void TearDown() override { own_.reset(); }

 private:
  const char* state_variable_;
  Factory make_own_;
  uint16_t port_ = 0;
  std::unique_ptr<ScriptedServer> own_;
};

}  // namespace dtq::testing
