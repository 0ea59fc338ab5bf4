// Shared by the embedded backend tests: a private data folder per test,
// message factories, and bounded waiting.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "dtq/core/ids.hpp"
#include "dtq/core/time.hpp"
#include "dtq/embedded/embedded_backends.hpp"

namespace dtq::embedded::testing {

using namespace std::chrono_literals;

class EmbeddedTest : public ::testing::Test {
 protected:
  void TearDown() override { std::filesystem::remove_all(dir_); }

  EmbeddedBackends open(Role role = Role::kOwner, Durability durability = Durability::kNormal) {
    auto backends = open_embedded(
        {.data_dir = dir_, .role = role, .durability = durability, .poll_interval = 20ms});
    EXPECT_TRUE(backends.ok()) << backends.status().message();
    return backends.ok() ? std::move(backends).value() : EmbeddedBackends{};
  }

  std::filesystem::path dir_ = std::filesystem::temp_directory_path() / ("dtq-embedded-" + new_uuid4());
};

inline JobMessage make_message(std::string job_type = "echo", std::string payload = R"({"n":1})") {
  return JobMessage{.job_id = new_uuid4(),
                    .job_type = std::move(job_type),
                    .submitted_at = now_rfc3339(),
                    .trace_id = new_uuid4(),
                    .payload = std::move(payload)};
}

// Polls `done` until it holds or `limit` passes; a hang fails, never blocks.
template <class Predicate>
bool eventually(Predicate done, std::chrono::milliseconds limit = 10s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return done();
}

}  // namespace dtq::embedded::testing
