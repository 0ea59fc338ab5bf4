// MemoryPayloadValidator: the PayloadValidator port in memory, for tests that
// submit jobs (JobService, the API's routes) without loading a plugin or
// reaching a worker. A test gives each job type an owner (own): a function
// that answers a payload as a plugin's check() does. validate() and check()
// then answer as the port promises, and as LocalPayloadValidator does: an
// owner that cannot answer (an error Status) is an error from check() and a
// whole-payload error from validate(), never a pass; it passes the
// PayloadValidator conformance suite.
//
// Thread-safety: every member function is thread-safe; an owner may be
// called from many threads at once, and is never called under the fake's
// lock. Ownership: keeps copies of the owners it is given.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "dtq/core/ports/payload_validator.hpp"

namespace dtq::fakes {

class MemoryPayloadValidator final : public PayloadValidator {
 public:
  using Owner = std::function<StatusOr<ValidationOutcome>(std::string_view payload)>;

  std::optional<ValidationOutcome> validate(std::string_view job_type,
                                            std::string_view payload) override;
  StatusOr<ValidationOutcome> check(std::string_view job_type, std::string_view payload) override;

  // `owner` answers the payloads of `job_type` from now on.
  void own(std::string job_type, Owner owner);
  // Nobody owns `job_type` from now on.
  void disown(std::string_view job_type);

 private:
  // The owner of `job_type`, or an empty function.
  Owner owner_of(std::string_view job_type);

  std::mutex mutex_;
  std::map<std::string, Owner, std::less<>> owners_;
};

}  // namespace dtq::fakes
