// Wall-clock helpers. Timestamps on the wire are RFC 3339 in UTC with
// millisecond precision, e.g. "2026-11-23T09:15:28.123Z".
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
inline std::string now_rfc3339() { return to_rfc3339(Clock::now()); }
std::optional<Clock::time_point> parse_rfc3339(std::string_view text);

inline int64_t to_unix_ms(Clock::time_point at) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count();
}
inline Clock::time_point from_unix_ms(int64_t ms) {
  return Clock::time_point{std::chrono::milliseconds{ms}};
}

}  // namespace dtq
