#include "dtq/core/job_scheduler.hpp"

#include <spdlog/spdlog.h>

#include "dtq/core/time.hpp"

namespace dtq {

StatusOr<bool> JobScheduler::move(const ScheduledJob& job) {
  const JobMessage& message = job.message;
  if (job.claims > 1) {
    // An earlier claim's scheduler stopped mid-move: past its status
    // write, the job is on the queue already.
    auto current = statuses_.get(message.job_id);
    if (current.ok() && current->state != JobState::kScheduled) {
      if (Status done = schedule_.complete(message.job_id); !done.ok()) return done;
      return false;
    }
  }
  JobStatus update{.job_id = message.job_id,
                   .progress_percent = 0,
                   .updated_at = now_rfc3339(),
                   .trace_id = message.trace_id,
                   .job_type = message.job_type,
                   .priority = message.priority,
                   .run_at = to_rfc3339(job.run_at)};
  if (statuses_.cancel_requested(message.job_id)) {
    // Cancelled while its claim was under way: it never runs.
    update.state = JobState::kCancelled;
    update.message = "cancelled before it was due";
    update.error_code = "cancelled";
    update.error_message = "cancelled by request";
    if (auto stored = statuses_.update(update); !stored.ok()) return stored.status();
    if (Status done = schedule_.complete(message.job_id); !done.ok()) return done;
    return false;
  }
  if (Status enqueued = queue_.enqueue(message); !enqueued.ok()) return enqueued;
  update.state = JobState::kQueued;
  update.message = "queued (was scheduled for " + update.run_at + ")";
  // A worker may already have taken it: merge_status keeps its later state.
  if (auto stored = statuses_.update(update); !stored.ok()) {
    // The job is on the queue; the next claim, after the lease, sees it
    // still scheduled and enqueues a harmless second copy.
    return stored.status();
  }
  if (Status done = schedule_.complete(message.job_id); !done.ok()) return done;
  return true;
}

StatusOr<size_t> JobScheduler::run_once(Clock::time_point now) {
  auto due = schedule_.claim_due(now, settings_.lease, settings_.batch);
  if (!due.ok()) return due.status();
  size_t moved = 0;
  Status first_error;
  for (const ScheduledJob& job : *due) {
    auto outcome = move(job);
    if (outcome.ok()) {
      if (*outcome) ++moved;
      continue;
    }
    spdlog::warn("job_id={} scheduled job not moved yet (tried again in {} ms): {}",
                 job.message.job_id, settings_.lease.count(), outcome.status().message());
    if (first_error.ok()) first_error = outcome.status();
  }
  if (!first_error.ok()) return first_error;
  return moved;
}

void JobScheduler::start() {
  thread_ = std::thread([this] {
    MutexLock lock(mutex_);
    while (!stopping_) {
      lock.unlock();
      size_t claimed = 0;
      auto moved = run_once(Clock::now());
      if (!moved.ok()) {
        spdlog::warn("scheduler: {}", moved.status().message());
      } else {
        claimed = *moved;
      }
      lock.lock();
      // A full batch may have left more due jobs behind.
      if (claimed >= settings_.batch) continue;
      wake_.wait_for(lock, settings_.interval, [this]() DTQ_REQUIRES(mutex_) { return stopping_; });
    }
  });
}

void JobScheduler::stop() {
  {
    MutexLock lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace dtq
