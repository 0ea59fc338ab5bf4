// JobScheduler: moves the jobs of a JobSchedule to the JobQueue when they
// are due. `dtq serve` runs one over the embedded schedule, each `dtq api`
// replica one over the Redis schedule; replicas may race, since a claim
// leases each job to one of them (ports/job_schedule.hpp).
//
// Moving one job: claim it (leased), enqueue its message, store its
// `queued` status, complete it in the schedule. In that order, so a crash
// never loses a job: one that stops a scheduler after the claim leaves the
// job to be claimed again when the lease ends. A claim after such a crash
// first reads the job's status: anything but `scheduled` means the earlier
// move got as far as the status, so the job is only completed. A crash
// between the enqueue and the status write leaves two copies of the
// message on the queue: harmless, because a worker that is handed a job
// whose status has already ended acks it without running it
// (WorkerPool), and the result store keeps one result per job id.
//
// A job with a cancel request is never enqueued: it ends `cancelled`.
//
// Thread-safety: run_once() is thread-safe; start() and stop() are called
// from one thread. Ownership: borrows the ports, which must outlive it;
// the destructor stops it.
#pragma once

#include <chrono>
#include <cstddef>
#include <thread>

#include "dtq/core/ports/job_queue.hpp"
#include "dtq/core/ports/job_schedule.hpp"
#include "dtq/core/ports/status_store.hpp"
#include "dtq/core/status.hpp"
#include "dtq/core/thread_annotations.hpp"

namespace dtq {

struct JobSchedulerSettings {
  // How often it looks for due jobs: a job runs at most this late.
  std::chrono::milliseconds interval{500};
  // How long a claim holds a job: longer than one move can take.
  std::chrono::milliseconds lease{30'000};
  size_t batch = 100;  // jobs claimed at once; a full batch looks again at once
};

class JobScheduler {
 public:
  JobScheduler(JobSchedule& schedule, JobQueue& queue, StatusStore& statuses,
               JobSchedulerSettings settings = {})
      : schedule_(schedule), queue_(queue), statuses_(statuses), settings_(settings) {}
  ~JobScheduler() { stop(); }
  JobScheduler(const JobScheduler&) = delete;
  JobScheduler& operator=(const JobScheduler&) = delete;

  // Moves what is due at `now`: how many jobs it enqueued. A job it could
  // not enqueue stays claimed until its lease ends, then is tried again;
  // the error of the first such job is returned after the others moved.
  StatusOr<size_t> run_once(Clock::time_point now);

  // A thread that calls run_once() every interval until stop().
  void start();
  void stop();

 private:
  // Enqueues one claimed job: true when it went on the queue.
  StatusOr<bool> move(const ScheduledJob& job);

  JobSchedule& schedule_;
  JobQueue& queue_;
  StatusStore& statuses_;
  const JobSchedulerSettings settings_;

  Mutex mutex_;
  CondVar wake_;
  bool stopping_ DTQ_GUARDED_BY(mutex_) = false;
  std::thread thread_;
};

}  // namespace dtq
