// Job priorities: three classes (high, normal, low; normal when none is
// given), and PriorityTurns, the one rule every queue uses to choose which
// class of a job type's waiting jobs goes next, so that the embedded queue
// and Kafka's workers order alike.
//
// The rule is smooth weighted round robin (nginx's) over the classes that
// have work, weights high 6, normal 3, low 1: of every 10 takes while all
// three classes wait, 6 are high, 3 normal and 1 low, interleaved (never 6
// highs in a row when normal waits too). A class with nothing waiting
// gets no turns and keeps no credit, so a high job arriving behind a
// backlog of normal ones is the very next one taken, and a low job waiting
// under a constant high load is taken at least once every 7 takes: never
// starved. Within a class, jobs go oldest first.
//
// Thread-safety: the functions are pure; a PriorityTurns is a plain value
// its owner locks. Ownership: values only.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>

namespace dtq {

// Declared highest first; the numeric values index per-class arrays.
enum class JobPriority { kHigh = 0, kNormal = 1, kLow = 2 };
inline constexpr size_t kPriorityClasses = 3;
inline constexpr std::array<JobPriority, kPriorityClasses> kAllPriorities{
    JobPriority::kHigh, JobPriority::kNormal, JobPriority::kLow};
// The share of takes each class gets while every class has work.
inline constexpr std::array<int, kPriorityClasses> kPriorityWeights{6, 3, 1};

inline constexpr size_t index_of(JobPriority priority) noexcept {
  return static_cast<size_t>(priority);
}
std::string_view to_string(JobPriority priority) noexcept;
// "high", "normal" or "low"; nullopt for anything else (case matters).
std::optional<JobPriority> parse_job_priority(std::string_view text) noexcept;

class PriorityTurns {
 public:
  // The class whose turn it is among those with `waiting[i]` true (indexed
  // by index_of); nullopt when none waits.
  std::optional<JobPriority> next(const std::array<bool, kPriorityClasses>& waiting) noexcept;

 private:
  std::array<int, kPriorityClasses> credit_{};
};

}  // namespace dtq
