#include "fakes/memory_payload_validator.hpp"

namespace dtq::fakes {

std::optional<ValidationOutcome> MemoryPayloadValidator::validate(std::string_view job_type,
                                                                  std::string_view payload) {
  const Owner owner = owner_of(job_type);
  if (!owner) return std::nullopt;
  auto outcome = owner(payload);
  if (outcome.ok()) return std::move(outcome).value();
  // As host::Plugin::validate(): an owner that could not answer refuses.
  return ValidationOutcome{{}, {FieldError{"", outcome.status().message()}}};
}

StatusOr<ValidationOutcome> MemoryPayloadValidator::check(std::string_view job_type,
                                                          std::string_view payload) {
  const Owner owner = owner_of(job_type);
  if (!owner) return not_found("unknown job type \"" + std::string(job_type) + "\"");
  return owner(payload);
}

void MemoryPayloadValidator::own(std::string job_type, Owner owner) {
  std::lock_guard lock(mutex_);
  owners_.insert_or_assign(std::move(job_type), std::move(owner));
}

void MemoryPayloadValidator::disown(std::string_view job_type) {
  std::lock_guard lock(mutex_);
  if (const auto it = owners_.find(job_type); it != owners_.end()) owners_.erase(it);
}

MemoryPayloadValidator::Owner MemoryPayloadValidator::owner_of(std::string_view job_type) {
  std::lock_guard lock(mutex_);
  const auto it = owners_.find(job_type);
  return it == owners_.end() ? Owner{} : it->second;
}

}  // namespace dtq::fakes
