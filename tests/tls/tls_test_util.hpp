// Shared by the TLS tests (tests/tls/): the server with TLS and credentials
// on that tests/support/tls_server_fixture.sh started, and what it wrote
// (ports, credentials, throwaway certificates).
//
// Under ctest a fixture of tests/CMakeLists.txt starts the server and names
// its folder in $<STATE_VARIABLE>. Run by hand, the test binary runs the
// fixture script itself in a temporary folder and removes it afterwards.
//
// Thread-safety: set up once by GoogleTest before the tests; read-only after.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "dtq/core/ids.hpp"

namespace dtq::testing {

class TlsServer : public ::testing::Environment {
 public:
  // `server`: rabbitmq, ferretdb or kafka (the fixture script's argument).
  TlsServer(const char* state_variable, std::string server)
      : state_variable_(state_variable), server_(std::move(server)) {}

  void SetUp() override {
    if (const char* state = std::getenv(state_variable_); state != nullptr && *state != '\0') {
      state_ = state;
    } else {
      own_ = true;
      state_ = std::filesystem::temp_directory_path() / ("dtq-tls-" + server_ + "-" + new_uuid4());
      ASSERT_EQ(run("start"), 0) << "the TLS fixture could not start " << server_;
    }
    ASSERT_GT(tls_port(), 0) << "no tls_port in " << state_ << ": did the ctest fixture run?";
  }
  void TearDown() override {
    if (own_) run("stop");
  }

  int port() const { return std::stoi(read("port")); }
  int tls_port() const { return std::stoi(read("tls_port")); }
  std::string user() const { return read("user"); }
  std::string password() const { return read("password"); }
  // A file of certs/: ca.pem, other-ca.pem, client.pem, client.key.
  std::string cert(const std::string& name) const { return (state_ / "certs" / name).string(); }

 private:
  std::string read(const std::string& name) const {
    std::ifstream in(state_ / name);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return text.empty() ? "0" : text;
  }
  int run(const std::string& command) const {
    const std::string line = "'" + std::string(DTQ_SOURCE_DIR) +
                             "/tests/support/tls_server_fixture.sh' " + server_ + " " + command +
                             " '" + state_.string() + "' >&2";
    return std::system(line.c_str());
  }

  const char* state_variable_;
  std::string server_;
  std::filesystem::path state_;
  bool own_ = false;
};

}  // namespace dtq::testing
