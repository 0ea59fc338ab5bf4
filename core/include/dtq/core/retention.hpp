// RetentionPolicy: how long a finished job (its status, its result) and a
// dead letter are kept before the stores trim them. Finished jobs default to
// 7 days and may be kept longer or shorter per job type; dead letters
// default to 30 days, so that an operator back from a week away still finds
// what failed. Each store applies the policy its own way (the embedded one
// deletes in bounded batches on its writer thread; MongoDB documents carry
// expire_at, expired by a TTL index and by the workers' periodic trim; Kafka
// dead-letter topics get retention.ms; Redis statuses keep their own 24 h
// TTL).
//
// Durations are written as an integer and a unit: "90s", "15m", "12h", "7d".
//
// Thread-safety: a value type and pure functions.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "dtq/core/status.hpp"

namespace dtq {

struct RetentionPolicy {
  std::chrono::seconds finished = std::chrono::hours(24 * 7);
  std::chrono::seconds dead_letters = std::chrono::hours(24 * 30);
  // Overrides of `finished`, by job type.
  std::map<std::string, std::chrono::seconds, std::less<>> finished_by_type;

  [[nodiscard]] std::chrono::seconds finished_for(std::string_view job_type) const;
};

// "90s", "15m", "12h" or "7d"; InvalidArgument whose message says what a
// duration looks like.
StatusOr<std::chrono::seconds> parse_retention(std::string_view text);

// Adds "TYPE=DURATION" (a --retention-for flag) to `policy`.
Status add_type_retention(RetentionPolicy& policy, std::string_view type_equals_duration);

}  // namespace dtq
