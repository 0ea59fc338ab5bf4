#include "dtq/core/status.hpp"

#include <cstdio>
#include <cstdlib>

namespace dtq {

std::string_view to_string(StatusCode code) noexcept {
  switch (code) {
    case StatusCode::kOk:
      return "ok";
    case StatusCode::kInvalidArgument:
      return "invalid_argument";
    case StatusCode::kNotFound:
      return "not_found";
    case StatusCode::kAlreadyExists:
      return "already_exists";
    case StatusCode::kFailedPrecondition:
      return "failed_precondition";
    case StatusCode::kUnavailable:
      return "unavailable";
    case StatusCode::kDeadlineExceeded:
      return "deadline_exceeded";
    case StatusCode::kCancelled:
      return "cancelled";
    case StatusCode::kInternal:
      return "internal";
  }
  return "unknown";
}

std::string Status::to_string() const {
  if (ok()) return "ok";
  return std::string(dtq::to_string(code_)) + ": " + message_;
}

void abort_on_missing_value(const Status& status) noexcept {
  std::fprintf(stderr, "dtq: bug: StatusOr::value() called on an error (%s: %s)\n",
               std::string(dtq::to_string(status.code())).c_str(), status.message().c_str());
  std::abort();
}

}  // namespace dtq
