#include "fakes/memory_job_queue.hpp"

#include <algorithm>

#include "dtq/core/ids.hpp"
#include "dtq/core/model_json.hpp"
#include "dtq/core/time.hpp"

namespace dtq::fakes {

Status MemoryJobQueue::enqueue(const JobMessage& message) {
  return enqueue_batch({&message, 1});
}

Status MemoryJobQueue::enqueue_batch(std::span<const JobMessage> messages) {
  if (Status s = check_job_batch(messages); !s.ok()) return s;
  {
    std::lock_guard lock(mutex_);
    if (!enqueue_failure_.ok()) return enqueue_failure_;
    insert(messages);
  }
  available_.notify_all();
  return {};
}

void MemoryJobQueue::insert(std::span<const JobMessage> messages) {
  for (const auto& message : messages) {
    auto it = ready_.find(message.job_type);
    if (it == ready_.end()) it = ready_.try_emplace(message.job_type).first;
    it->second.push_back(Queued{.message = message});
  }
}

StatusOr<std::vector<Delivery>> MemoryJobQueue::take(std::string_view job_type, size_t max,
                                                     std::chrono::milliseconds wait) {
  std::vector<Delivery> taken;
  std::unique_lock lock(mutex_);
  const auto has_ready = [&] {
    const auto it = ready_.find(job_type);
    return it != ready_.end() && !it->second.empty();
  };
  // Bounded so that now + wait cannot overflow.
  available_.wait_for(lock, std::min<std::chrono::milliseconds>(wait, std::chrono::hours(24)),
                      [&] { return closed_ || has_ready(); });
  if (closed_ || !has_ready()) return taken;
  auto& line = ready_.find(job_type)->second;
  while (!line.empty() && taken.size() < max) {
    Queued item = std::move(line.front());
    line.pop_front();
    ++item.deliveries;
    const uint64_t receipt = next_receipt_++;
    taken.push_back(Delivery{item.message, item.deliveries, receipt});
    leased_.emplace(receipt, std::move(item));
  }
  return taken;
}

StatusOr<MemoryJobQueue::Queued> MemoryJobQueue::end_lease(const Delivery& delivery) {
  const auto it = leased_.find(delivery.receipt);
  if (it == leased_.end() || it->second.message.job_id != delivery.message.job_id) {
    return not_leased(delivery);
  }
  Queued item = std::move(it->second);
  leased_.erase(it);
  return item;
}

Status MemoryJobQueue::ack(const Delivery& delivery) {
  std::lock_guard lock(mutex_);
  auto item = end_lease(delivery);
  if (!item.ok()) return item.status();
  return {};
}

Status MemoryJobQueue::release(const Delivery& delivery) {
  {
    std::lock_guard lock(mutex_);
    auto item = end_lease(delivery);
    if (!item.ok()) return item.status();
    Queued released = std::move(item).value();
    ready_[released.message.job_type].push_front(std::move(released));
  }
  available_.notify_all();
  return {};
}

Status MemoryJobQueue::dead_letter(const Delivery& delivery, const JobError& error,
                                   uint32_t attempts) {
  std::lock_guard lock(mutex_);
  auto item = end_lease(delivery);
  if (!item.ok()) return item.status();
  dead_.push_back(DeadLetter{.message = std::move(item->message),
                             .error = error,
                             .attempts = attempts,
                             .failed_at = now_rfc3339()});
  return {};
}

StatusOr<std::vector<DeadLetter>> MemoryJobQueue::dead_letters(std::string_view job_type,
                                                               size_t limit) {
  std::lock_guard lock(mutex_);
  std::vector<DeadLetter> letters;
  for (auto it = dead_.rbegin(); it != dead_.rend() && letters.size() < limit; ++it) {
    if (job_type.empty() || it->message.job_type == job_type) letters.push_back(*it);
  }
  return letters;
}

StatusOr<std::string> MemoryJobQueue::replay(std::string_view job_id) {
  if (!is_uuid(job_id)) return invalid_argument("malformed job id \"" + std::string(job_id) + "\"");
  JobMessage again;
  {
    std::lock_guard lock(mutex_);
    const auto letter = std::find_if(dead_.begin(), dead_.end(), [&](const DeadLetter& dead) {
      return dead.message.job_id == job_id;
    });
    if (letter == dead_.end()) return not_found("no dead letter of job " + std::string(job_id));
    if (!letter->replayed_as.empty()) {
      return failed_precondition("job " + std::string(job_id) + " was already replayed as " +
                                 letter->replayed_as);
    }
    // One result per job id, ever: a replay is a new job.
    again = letter->message;
    again.job_id = new_uuid4();
    again.submitted_at = now_rfc3339();
    insert({&again, 1});
    letter->replayed_as = again.job_id;
  }
  available_.notify_all();
  return again.job_id;
}

Status MemoryJobQueue::delete_dead_letter(std::string_view job_id) {
  std::lock_guard lock(mutex_);
  const auto letter = std::find_if(dead_.begin(), dead_.end(), [&](const DeadLetter& dead) {
    return dead.message.job_id == job_id;
  });
  if (letter == dead_.end()) return not_found("no dead letter of job " + std::string(job_id));
  dead_.erase(letter);
  return {};
}

void MemoryJobQueue::fail_enqueue_with(Status failure) {
  std::lock_guard lock(mutex_);
  enqueue_failure_ = std::move(failure);
}

void MemoryJobQueue::close() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  available_.notify_all();
}

}  // namespace dtq::fakes
