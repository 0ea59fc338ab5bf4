#include "dtq/core/backoff.hpp"

#include <algorithm>
#include <random>

namespace dtq {

std::chrono::milliseconds backoff_delay(std::chrono::milliseconds min,
                                        std::chrono::milliseconds max, uint32_t failures) {
  int64_t delay = min.count();
  for (uint32_t i = 1; i < failures && delay < max.count(); ++i) delay *= 2;
  delay = std::min(delay, max.count());
  // A small engine: the static TLS block is written onto every thread's
  // stack when the thread starts, whether or not it ever runs this, so a
  // 2.5 KB Mersenne twister here cost each of a worker's fifty threads
  // 2.5 KB. Jitter needs no more than this.
  thread_local std::minstd_rand random{std::random_device{}()};
  std::uniform_int_distribution<int64_t> jitter(delay / 2, delay);
  return std::chrono::milliseconds(jitter(random));
}

}  // namespace dtq
