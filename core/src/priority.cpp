#include "dtq/core/priority.hpp"

namespace dtq {

std::string_view to_string(JobPriority priority) noexcept {
  switch (priority) {
    case JobPriority::kHigh:
      return "high";
    case JobPriority::kNormal:
      return "normal";
    case JobPriority::kLow:
      return "low";
  }
  return "normal";
}

std::optional<JobPriority> parse_job_priority(std::string_view text) noexcept {
  for (const JobPriority priority : kAllPriorities) {
    if (to_string(priority) == text) return priority;
  }
  return std::nullopt;
}

std::optional<JobPriority> PriorityTurns::next(
    const std::array<bool, kPriorityClasses>& waiting) noexcept {
  int total = 0;
  std::optional<size_t> best;
  for (size_t i = 0; i < kPriorityClasses; ++i) {
    if (!waiting[i]) {
      // No credit saved up while idle: a class that returns gets its share
      // from then on, not a burst that would starve the others.
      credit_[i] = 0;
      continue;
    }
    credit_[i] += kPriorityWeights[i];
    total += kPriorityWeights[i];
    // Ties go to the higher class (the lower index).
    if (!best || credit_[i] > credit_[*best]) best = i;
  }
  if (!best) return std::nullopt;
  credit_[*best] -= total;
  return kAllPriorities[*best];
}

}  // namespace dtq
