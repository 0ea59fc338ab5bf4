#include "fakes/memory_job_schedule.hpp"

#include <algorithm>
#include <tuple>

namespace dtq::fakes {

Status MemoryJobSchedule::schedule(const JobMessage& message, Clock::time_point run_at) {
  MutexLock lock(mutex_);
  const bool added =
      jobs_
          .try_emplace(message.job_id,
                       Entry{.job = {.message = message, .run_at = run_at}, .due = run_at})
          .second;
  if (added) return {};
  const JobMessage& held = jobs_.find(message.job_id)->second.job.message;
  if (held.trace_id == message.trace_id && held.submitted_at == message.submitted_at) return {};
  return already_exists("job " + message.job_id + " is scheduled already");
}

StatusOr<std::vector<ScheduledJob>> MemoryJobSchedule::claim_due(Clock::time_point now,
                                                                 std::chrono::milliseconds lease,
                                                                 size_t limit) {
  MutexLock lock(mutex_);
  std::vector<Entry*> due;
  for (auto& [id, entry] : jobs_) {
    if (entry.due <= now) due.push_back(&entry);
  }
  std::sort(due.begin(), due.end(), [](const Entry* a, const Entry* b) { return a->due < b->due; });
  if (due.size() > limit) due.resize(limit);
  std::vector<ScheduledJob> claimed;
  for (Entry* entry : due) {
    entry->due = now + lease;
    ++entry->job.claims;
    claimed.push_back(entry->job);
  }
  return claimed;
}

Status MemoryJobSchedule::complete(std::string_view job_id) {
  MutexLock lock(mutex_);
  if (auto it = jobs_.find(job_id); it != jobs_.end()) jobs_.erase(it);
  return {};
}

StatusOr<bool> MemoryJobSchedule::cancel(std::string_view job_id) {
  MutexLock lock(mutex_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return false;
  jobs_.erase(it);
  return true;
}

StatusOr<ScheduledJob> MemoryJobSchedule::get(std::string_view job_id) {
  MutexLock lock(mutex_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return not_found("job " + std::string(job_id) + " is not scheduled");
  return it->second.job;
}

StatusOr<SchedulePage> MemoryJobSchedule::list(std::string_view job_type, std::string_view cursor,
                                               size_t limit) {
  std::optional<ScheduleCursor> after;
  if (!cursor.empty()) {
    after = ScheduleCursor::parse(cursor);
    if (!after) return invalid_argument("malformed cursor");
  }
  MutexLock lock(mutex_);
  std::vector<std::pair<int64_t, const Entry*>> waiting;
  for (const auto& [id, entry] : jobs_) {
    if (!job_type.empty() && entry.job.message.job_type != job_type) continue;
    const int64_t due = to_unix_ms(entry.due);
    if (after && std::tie(due, id) <= std::tie(after->due_ms, after->job_id)) continue;
    waiting.emplace_back(due, &entry);
  }
  std::sort(waiting.begin(), waiting.end(), [](const auto& a, const auto& b) {
    return std::tie(a.first, a.second->job.message.job_id) <
           std::tie(b.first, b.second->job.message.job_id);
  });
  SchedulePage page;
  const size_t take = std::min(waiting.size(), std::max<size_t>(limit, 1));
  for (size_t i = 0; i < take; ++i) page.jobs.push_back(waiting[i].second->job);
  if (take < waiting.size()) {
    page.next_cursor = ScheduleCursor{.due_ms = waiting[take - 1].first,
                                      .job_id = waiting[take - 1].second->job.message.job_id}
                           .text();
  }
  return page;
}

}  // namespace dtq::fakes
