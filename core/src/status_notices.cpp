#include "dtq/core/status_notices.hpp"

namespace dtq::notices {
namespace {

constexpr std::string_view kReplayOf = "queued (replay of ";
constexpr std::string_view kRetryOf = "queued (retry of ";
constexpr std::string_view kAttempt = "attempt ";
constexpr std::string_view kFailed = " failed (";
constexpr std::string_view kRetryingIn = "); retrying in ";
constexpr std::string_view kReleased = "waiting for redelivery: ";

std::optional<std::string> id_after(std::string_view message, std::string_view prefix) {
  if (!message.starts_with(prefix) || !message.ends_with(')')) return std::nullopt;
  message.remove_prefix(prefix.size());
  message.remove_suffix(1);
  return std::string(message);
}

}  // namespace

std::string replay_of(std::string_view original_id) {
  return std::string(kReplayOf).append(original_id).append(")");
}

std::string retry_of(std::string_view original_id) {
  return std::string(kRetryOf).append(original_id).append(")");
}

std::string retrying(uint32_t attempt, std::string_view code, std::string_view message,
                     std::string_view delay) {
  return std::string(kAttempt)
      .append(std::to_string(attempt))
      .append(kFailed)
      .append(code)
      .append(": ")
      .append(message)
      .append(kRetryingIn)
      .append(delay);
}

std::string released(std::string_view why) {
  return std::string(kReleased).append(why);
}

std::optional<std::string> replayed_from(std::string_view message) {
  return id_after(message, kReplayOf);
}

std::optional<std::string> retried_from(std::string_view message) {
  return id_after(message, kRetryOf);
}

std::optional<std::string> retry_code(std::string_view message) {
  if (!message.starts_with(kAttempt) || message.find(kRetryingIn) == std::string_view::npos)
    return std::nullopt;
  const size_t open = message.find(kFailed);
  if (open == std::string_view::npos) return std::nullopt;
  const size_t start = open + kFailed.size();
  // A code never holds ": " (plugin codes are identifiers); the message may.
  const size_t colon = message.find(": ", start);
  if (colon == std::string_view::npos) return std::string();
  return std::string(message.substr(start, colon - start));
}

bool is_release(std::string_view message) {
  return message.starts_with(kReleased);
}

}  // namespace dtq::notices
