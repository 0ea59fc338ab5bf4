#include "dtq/core/retention.hpp"

#include <charconv>
#include <cstdint>

namespace dtq {

std::chrono::seconds RetentionPolicy::finished_for(std::string_view job_type) const {
  const auto found = finished_by_type.find(job_type);
  return found == finished_by_type.end() ? finished : found->second;
}

StatusOr<std::chrono::seconds> parse_retention(std::string_view text) {
  const auto refuse = [&] {
    return invalid_argument("\"" + std::string(text) +
                            "\" is not a retention period: write a whole number and a unit, s, m, "
                            "h or d (\"12h\", \"7d\")");
  };
  if (text.size() < 2) return refuse();
  int64_t unit = 0;
  switch (text.back()) {
    case 's':
      unit = 1;
      break;
    case 'm':
      unit = 60;
      break;
    case 'h':
      unit = 3600;
      break;
    case 'd':
      unit = 86400;
      break;
    default:
      return refuse();
  }
  const std::string_view digits = text.substr(0, text.size() - 1);
  int64_t count = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), count);
  // A century is plenty, and keeps every later sum far from overflow.
  constexpr int64_t kMaxSeconds = int64_t{100} * 365 * 86400;
  if (error != std::errc() || end != digits.data() + digits.size() || count < 0 ||
      count > kMaxSeconds / unit) {
    return refuse();
  }
  return std::chrono::seconds(count * unit);
}

Status add_type_retention(RetentionPolicy& policy, std::string_view type_equals_duration) {
  const size_t equals = type_equals_duration.find('=');
  if (equals == std::string_view::npos || equals == 0) {
    return invalid_argument("\"" + std::string(type_equals_duration) +
                            "\" should be TYPE=DURATION, such as weather=30d");
  }
  auto period = parse_retention(type_equals_duration.substr(equals + 1));
  if (!period.ok()) return period.status();
  policy.finished_by_type.insert_or_assign(std::string(type_equals_duration.substr(0, equals)),
                                           *period);
  return {};
}

}  // namespace dtq
