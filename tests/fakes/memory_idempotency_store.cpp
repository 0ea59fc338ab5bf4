#include "fakes/memory_idempotency_store.hpp"

#include <algorithm>

namespace dtq::fakes {

StatusOr<IdempotencyClaim> MemoryIdempotencyStore::claim(std::string_view key,
                                                         const IdempotencyRecord& record,
                                                         std::chrono::milliseconds ttl) {
  const auto now = std::chrono::steady_clock::now();
  MutexLock lock(mutex_);
  if (!failure_.ok()) return failure_;
  std::erase_if(keys_, [now](const auto& entry) { return entry.second.expires <= now; });
  const auto [it, inserted] = keys_.try_emplace(std::string(key), Held{record, now + ttl});
  return IdempotencyClaim{.claimed = inserted || it->second.record == record,
                          .holder = it->second.record};
}

Status MemoryIdempotencyStore::release(std::string_view key, std::string_view job_id) {
  MutexLock lock(mutex_);
  if (!failure_.ok()) return failure_;
  const auto it = keys_.find(key);
  if (it != keys_.end() && it->second.record.job_id == job_id) keys_.erase(it);
  return {};
}

void MemoryIdempotencyStore::fail_with(Status failure) {
  MutexLock lock(mutex_);
  failure_ = std::move(failure);
}

size_t MemoryIdempotencyStore::size() {
  const auto now = std::chrono::steady_clock::now();
  MutexLock lock(mutex_);
  return static_cast<size_t>(std::count_if(
      keys_.begin(), keys_.end(), [now](const auto& entry) { return entry.second.expires > now; }));
}

}  // namespace dtq::fakes
