// What a factory answered (Adapter::connect(), ::start(), ...), or null after
// failing the test with its message: for opening the thing under test in a
// helper that cannot ASSERT.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "dtq/core/status.hpp"

namespace dtq::testing {

template <class T>
std::shared_ptr<T> opened_or_null(StatusOr<std::unique_ptr<T>> opened) {
  EXPECT_TRUE(opened.ok()) << opened.status().message();
  return opened.ok() ? std::shared_ptr<T>(std::move(opened).value()) : nullptr;
}

}  // namespace dtq::testing
