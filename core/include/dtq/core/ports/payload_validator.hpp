// PayloadValidator port: asks the plugin that owns a job type whether a
// payload is acceptable. Embedded: the plugins loaded in this process.
// Distributed: the owning worker pool over gRPC.
//
// Thread-safety: every member function is thread-safe.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dtq/core/status.hpp"

namespace dtq {

struct FieldError {
  std::string field;  // JSON Pointer into the payload; "" for the whole payload
  std::string message;
};

struct ValidationOutcome {
  bool valid() const noexcept { return errors.empty(); }
  // The errors as one line, "field: message; ..." ("payload" for a
  // whole-payload error): what a failed job's error message says.
  std::string describe() const {
    std::string text;
    for (const auto& error : errors) {
      text += (text.empty() ? "" : "; ") +
              (error.field.empty() ? std::string("payload") : error.field) + ": " + error.message;
    }
    return text;
  }
  std::string normalized_payload;
  std::vector<FieldError> errors;
};

class PayloadValidator {
 public:
  virtual ~PayloadValidator() = default;
  // nullopt when no plugin owns `job_type`.
  virtual std::optional<ValidationOutcome> validate(std::string_view job_type,
                                                    std::string_view payload) = 0;

  // The whole answer, which JobService asks for: the outcome; NotFound when
  // no plugin owns `job_type`; Unavailable when its owners could not be
  // asked (distributed mode: no pool answered), so that a client hears
  // "try again" rather than "no such type".
  virtual StatusOr<ValidationOutcome> check(std::string_view job_type, std::string_view payload) {
    auto outcome = validate(job_type, payload);
    if (!outcome) return not_found("unknown job type \"" + std::string(job_type) + "\"");
    return std::move(*outcome);
  }

  // check() of each payload of one job type, answered in their order: what
  // a batch submit asks. An adapter whose owner is far away asks for them
  // all at once (an isolated plugin's runner gets them in one write); this
  // default asks one after another.
  virtual std::vector<StatusOr<ValidationOutcome>> check_batch(
      std::string_view job_type, std::span<const std::string_view> payloads) {
    std::vector<StatusOr<ValidationOutcome>> outcomes;
    outcomes.reserve(payloads.size());
    for (const std::string_view payload : payloads) outcomes.push_back(check(job_type, payload));
    return outcomes;
  }
};

}  // namespace dtq
