// What the REST and the gRPC faces of the API limit alike, so that one API
// refuses the same things on both: the submit rate, the listing's page
// sizes and the number of open streams. (Who may call: access_guard.hpp.)
//
// Thread-safety: a RateLimiter and StreamSlots may be shared by every
// thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <mutex>

namespace dtq::api {

inline constexpr size_t kMaxListLimit = 500;
inline constexpr size_t kDefaultListLimit = 50;

// A token bucket: `rate` per second on average, bursts up to one second's
// worth; a rate of 0 (or less) allows everything.
class RateLimiter {
 public:
  explicit RateLimiter(double rate) : rate_(rate), tokens_(std::max(rate, 1.0)) {}
  bool allow() {
    if (rate_ <= 0) return true;
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    const std::chrono::duration<double> elapsed = now - last_;
    last_ = now;
    tokens_ = std::min(std::max(rate_, 1.0), tokens_ + elapsed.count() * rate_);
    if (tokens_ < 1.0) return false;
    tokens_ -= 1.0;
    return true;
  }

 private:
  const double rate_;
  std::mutex mutex_;
  double tokens_;
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

// A limit on open streams (SSE streams, gRPC watches): a slot is claimed
// before a stream opens and released when it ends.
class StreamSlots {
 public:
  explicit StreamSlots(size_t max) : max_(max) {}
  // False at the limit.
  bool claim() {
    size_t now = open_.load();
    do {
      if (now >= max_) return false;
    } while (!open_.compare_exchange_weak(now, now + 1));
    return true;
  }
  void release() { open_.fetch_sub(1); }
  [[nodiscard]] size_t open() const noexcept { return open_.load(); }

 private:
  const size_t max_;
  std::atomic<size_t> open_{0};
};

}  // namespace dtq::api
