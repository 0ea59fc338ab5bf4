// The embedded backends: JobQueue, StatusStore, ResultStore, the
// IdempotencyStore of submissions on one SQLite database, <data_dir>/dtq.db
// (WAL), and the JobHistory on another, <data_dir>/history.db, for running
// dtq on one machine with no server. `dtq worker` and
// `dtq serve` open it as the owner; CLI commands open the same folder as
// clients.
//
// How it works: one writer thread per process and file owns the write connection and
// commits whatever callers queued since its last commit in a single
// transaction (group commit). Synchronous operations (enqueue, results put,
// dead_letter, replay, request_cancel, and every status update in a client)
// return once their transaction committed; acks, releases and the owner's
// status writes are queued behind them, so they become durable in call order
// and an ack is never durable before an earlier result. Reads use their own
// connections. The owner keeps the queued messages and the live statuses in
// memory, so take() and most status reads touch no SQL.
//
// Roles:
//  - kOwner: the one process that leases jobs. Holds an exclusive flock on
//    <data_dir>/dtq.lock for as long as any of its backends lives; opening a
//    second owner fails with FailedPrecondition naming the holder's pid. On
//    open, every message still in the queue is ready again: leases die with
//    the process that held them. Every poll_interval it loads the messages
//    and cancellation requests that clients added.
//  - kClient: enqueues, reads statuses and results, requests cancellation,
//    lists and replays dead letters; never leases (take, ack, release and
//    dead_letter return FailedPrecondition). Its status subscriptions poll
//    SQL every poll_interval, and need a job id: an all-jobs subscription in
//    a client is refused (logged) and never fires.
//
// Cross-process status changes: the only status change another process is
// expected to make to a job the owner is running is cancellation, which
// travels through request_cancel(). The owner never overwrites a terminal
// status a client stored.
//
// Thread-safety: every member function of the returned ports is thread-safe.
// Ownership: the four ports share the database; it is closed, and the owner
// lock released, when the last of them is destroyed. Destroying a port waits
// for its queued writes to commit.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>

#include "dtq/core/ports/idempotency_store.hpp"
#include "dtq/core/ports/job_history.hpp"
#include "dtq/core/ports/job_queue.hpp"
#include "dtq/core/ports/job_schedule.hpp"
#include "dtq/core/ports/result_store.hpp"
#include "dtq/core/ports/status_store.hpp"
#include "dtq/core/retention.hpp"
#include "dtq/core/status.hpp"
#include "dtq/embedded/paused_job_types.hpp"

namespace dtq::embedded {

enum class Role { kOwner, kClient };

enum class Durability {
  kNormal,  // WAL + synchronous=NORMAL: a commit survives a process crash (SIGKILL)
  kFull,    // synchronous=FULL: a commit also survives power loss
};

struct EmbeddedSettings {
  std::filesystem::path data_dir;
  Role role = Role::kOwner;
  Durability durability = Durability::kNormal;
  // How often an owner looks for messages and cancel requests other processes
  // added, and how often a client's subscriptions re-read a status.
  std::chrono::milliseconds poll_interval{100};
  // How long queued writes that nobody waits for (acks, the owner's status
  // write-behind) may wait for company before they are committed. A commit
  // costs about the same whatever its size, so this sets how far throughput
  // can grow; a synchronous write ends the wait at once.
  std::chrono::microseconds write_linger{2000};
  // Owner: finished jobs (status, result, cancel request) and dead letters
  // past their retention are deleted, at most trim_batch rows of each kind
  // per write round, looking again every trim_interval (at once while a
  // round found more than that). Freed pages are reused, so under a steady
  // load the file stays at a steady size.
  RetentionPolicy retention;
  std::chrono::milliseconds trim_interval{60000};
  size_t trim_batch = 1000;
  // Owner: the queued jobs of each job type and priority class kept in
  // memory, oldest first, for take() to hand out without SQL; the rest wait
  // in the table and are loaded as these run. Bounds the queue's memory
  // whatever the backlog.
  size_t queue_window = 4096;
};

struct EmbeddedBackends {
  std::shared_ptr<JobQueue> queue;
  std::shared_ptr<StatusStore> statuses;
  std::shared_ptr<ResultStore> results;
  std::shared_ptr<IdempotencyStore> idempotency;
  std::shared_ptr<JobHistory> history;     // history.db's job_events; written in batches
  std::shared_ptr<JobSchedule> schedule;   // the job_schedule table: delayed jobs
  std::shared_ptr<PausedJobTypes> paused;  // the paused_job_types table
};

// Creates data_dir (mode 0700) and dtq.db when missing and brings the schema
// up to date. Refuses a database written by a newer dtq, and a second owner.
StatusOr<EmbeddedBackends> open_embedded(const EmbeddedSettings& settings);

}  // namespace dtq::embedded
