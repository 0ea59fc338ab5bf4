#include "dtq/core/backoff.hpp"

#include <algorithm>
#include <random>

namespace dtq {

std::chrono::milliseconds backoff_delay(std::chrono::milliseconds min,
                                        std::chrono::milliseconds max, uint32_t failures) {
  int64_t delay = min.count();
  for (uint32_t i = 1; i < failures && delay < max.count(); ++i) delay *= 2;
  delay = std::min(delay, max.count());
  thread_local std::mt19937_64 random{std::random_device{}()};
  std::uniform_int_distribution<int64_t> jitter(delay / 2, delay);
  return std::chrono::milliseconds(jitter(random));
}

}  // namespace dtq
