// Status notices: the messages written on a job's status at the turns its
// history records — the queued status of a replay or of a retry, a retry
// after a failed attempt, a release for redelivery — and their readers.
// JobService and the worker pool write them; the history recorder, which
// sees only the statuses going by, reads them back. Both sides use these
// functions, so a change to a wording cannot silently break the history.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dtq::notices {

// "queued (replay of ORIGINAL)": a dead letter's replay.
std::string replay_of(std::string_view original_id);
// "queued (retry of ORIGINAL)": a failed job's retry.
std::string retry_of(std::string_view original_id);
// "attempt N failed (CODE: MESSAGE); retrying in DELAY".
std::string retrying(uint32_t attempt, std::string_view code, std::string_view message,
                     std::string_view delay);
// "waiting for redelivery: WHY".
std::string released(std::string_view why);

// The original job's id when `message` is replay_of()'s or retry_of()'s.
std::optional<std::string> replayed_from(std::string_view message);
std::optional<std::string> retried_from(std::string_view message);
// The failed attempt's code when `message` is retrying()'s (empty when
// it cannot be told).
std::optional<std::string> retry_code(std::string_view message);
bool is_release(std::string_view message);

}  // namespace dtq::notices
