// Shared by the embedded backend tests: a private data folder per test (the
// message factories and bounded waiting are tests/support's).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "dtq/core/ids.hpp"
#include "dtq/embedded/embedded_backends.hpp"
#include "support/eventually.hpp"
#include "support/model_factories.hpp"

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

  std::filesystem::path dir_ =
      std::filesystem::temp_directory_path() / ("dtq-embedded-" + new_uuid4());
};

using dtq::testing::eventually;
using dtq::testing::make_message;

}  // namespace dtq::embedded::testing
