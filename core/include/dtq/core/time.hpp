// Wall-clock helpers, and deadlines. Timestamps on the wire are RFC 3339 in
// UTC with millisecond precision, e.g. "2026-11-23T09:15:28.123Z". A
// deadline is kept on the steady clock, so that a step of the wall clock
// (NTP, an operator) can neither expire nor extend a running job; it is
// turned into wall-clock time only where a contract says so (the plugin
// ABI's deadline_unix_ms).
//
// Thread-safety: every function is safe to call from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dtq {

using Clock = std::chrono::system_clock;

std::string to_rfc3339(Clock::time_point at);
inline std::string now_rfc3339() {
  return to_rfc3339(Clock::now());
}
std::optional<Clock::time_point> parse_rfc3339(std::string_view text);

inline int64_t to_unix_ms(Clock::time_point at) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count();
}
inline Clock::time_point from_unix_ms(int64_t ms) {
  return Clock::time_point{std::chrono::milliseconds{ms}};
}

using Deadline = std::chrono::steady_clock::time_point;
inline constexpr Deadline kNoDeadline = Deadline::max();

// The deadline as wall-clock milliseconds since the epoch, as of now; 0 for
// none.
inline int64_t deadline_to_unix_ms(Deadline deadline) {
  if (deadline == kNoDeadline) return 0;
  const auto left = deadline - std::chrono::steady_clock::now();
  return to_unix_ms(Clock::now() + std::chrono::duration_cast<Clock::duration>(left));
}
// The deadline that wall-clock `ms` (since the epoch) names, as of now; 0
// for none.
inline Deadline deadline_from_unix_ms(int64_t ms) {
  if (ms == 0) return kNoDeadline;
  const auto left = from_unix_ms(ms) - Clock::now();
  return std::chrono::steady_clock::now() +
         std::chrono::duration_cast<std::chrono::steady_clock::duration>(left);
}

}  // namespace dtq
