// Status: the outcome of an operation that can fail in an expected way (bad
// input, an unreachable server), LevelDB-style. Cheap to copy when ok.
//
// Error policy (docs/error-policy.md): expected failures travel as Status or
// StatusOr; exceptions are for programming errors and start-up configuration
// faults, and never cross the plugin boundary.
//
// Thread-safety: a value type; distinct objects may be used from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace dtq {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,
  kNotFound,
  kAlreadyExists,
  kFailedPrecondition,
  kUnavailable,
  kDeadlineExceeded,
  kCancelled,
  kInternal,
};

std::string_view to_string(StatusCode code) noexcept;

class Status;
// Prints `status` and aborts: what StatusOr does when asked for a value it
// does not hold.
[[noreturn]] void abort_on_missing_value(const Status& status) noexcept;

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok_status() { return {}; }
  bool ok() const noexcept { return code_ == StatusCode::kOk; }
  StatusCode code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }
  std::string to_string() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status invalid_argument(std::string message) {
  return {StatusCode::kInvalidArgument, std::move(message)};
}
inline Status not_found(std::string message) {
  return {StatusCode::kNotFound, std::move(message)};
}
inline Status already_exists(std::string message) {
  return {StatusCode::kAlreadyExists, std::move(message)};
}
inline Status failed_precondition(std::string message) {
  return {StatusCode::kFailedPrecondition, std::move(message)};
}
inline Status unavailable(std::string message) {
  return {StatusCode::kUnavailable, std::move(message)};
}
inline Status internal_error(std::string message) {
  return {StatusCode::kInternal, std::move(message)};
}

// A value or the Status that explains its absence. Both are [[nodiscard]]:
// an error can be handled or discarded with (void), never dropped unseen.
// Asking an error for its value is a programming error (docs/error-policy.md
// tier 2): it aborts with the status, never reads an empty optional.
template <class T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(T value) : value_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  // An OK status carries no value: that is the caller's bug, kept as an
  // internal error rather than an "ok" StatusOr without a value.
  StatusOr(Status status)  // NOLINT(google-explicit-constructor)
      : status_(status.ok() ? Status(StatusCode::kInternal,
                                     "StatusOr made from an OK status, without a value")
                            : std::move(status)) {}

  bool ok() const noexcept { return value_.has_value(); }
  const Status& status() const noexcept { return status_; }
  T& value() & { return *checked(); }
  const T& value() const& { return *checked(); }
  T&& value() && { return std::move(*checked()); }
  T* operator->() { return &*checked(); }
  const T* operator->() const { return &*checked(); }
  T& operator*() & { return *checked(); }
  const T& operator*() const& { return *checked(); }

 private:
  std::optional<T>& checked() {
    if (!value_) abort_on_missing_value(status_);
    return value_;
  }
  const std::optional<T>& checked() const {
    if (!value_) abort_on_missing_value(status_);
    return value_;
  }

  std::optional<T> value_;
  Status status_;
};

}  // namespace dtq
