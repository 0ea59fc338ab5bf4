// Recording the job history (ports/job_history.hpp) without the engine or
// the API knowing: decorators over the StatusStore and the JobQueue that
// turn the writes already made into events, and the batching writer they
// hand them to. The wiring (cli/src/local_node.cpp, distributed_node.cpp)
// builds them around the real ports.
//
// What becomes an event (docs/operators.md#job-history lists the kinds):
//  - RecordingStatusStore::update(): a new queued status is `submitted`,
//    or `replay_of` / `retry_of` when its message is the one JobService
//    writes for a replay or a retry ("queued (replay of ID)", "queued
//    (retry of ID)"; a retry also appends `retried` to the original); a
//    status whose state's name is "scheduled" is `scheduled`; a running
//    status whose message is the engine's retry notice ("attempt N failed
//    (CODE: ...); retrying in ...") is `retry`, its redelivery notice
//    ("waiting for redelivery: ...") `released`; a terminal status that
//    the update made terminal is `completed`, `failed` or `cancelled`.
//    Progress reports and other running messages are not events.
//  - update_durable() of a running status with an attempt number (the
//    engine records each attempt so before the plugin runs): `started`.
//  - request_cancel(): `cancel_requested`.
//  - RecordingJobQueue::dead_letter(): `dead_lettered`; replay():
//    `replayed` (with the new job's id).
// Attempt events carry the recorder's `worker` (host/pid and role).
//
// Cost: a decorator does a few string comparisons per write and, for an
// event, one push onto the writer's buffer under its mutex; the writer's
// own thread appends a batch per `linger` (or per `max_batch` events), so
// no job waits for the history to be stored.
//
// Thread-safety: every member function is thread-safe. Ownership: the
// decorators borrow the port they wrap and the writer, which must outlive
// them; the writer borrows the JobHistory it writes to.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dtq/core/ports/job_history.hpp"
#include "dtq/core/ports/job_queue.hpp"
#include "dtq/core/ports/status_store.hpp"
#include "dtq/core/thread_annotations.hpp"

namespace dtq {

struct HistoryWriterSettings {
  std::chrono::milliseconds linger{20};  // how long an event may wait for company
  size_t max_batch = 1000;               // events per append()
  // Events waiting beyond this are dropped (counted and logged) rather than
  // letting a stalled store grow memory without bound or block a job.
  size_t max_pending = 200'000;
};

// Buffers events and appends them to `history` in batches on a thread of
// its own. Also a JobHistory itself: list() first stores what is waiting,
// so a reader in this process sees every event recorded before its call.
class HistoryWriter final : public JobHistory {
 public:
  explicit HistoryWriter(JobHistory& history, HistoryWriterSettings settings = {});
  ~HistoryWriter() override;  // stores what is waiting, then stops
  HistoryWriter(const HistoryWriter&) = delete;
  HistoryWriter& operator=(const HistoryWriter&) = delete;

  // Queues one event; its `at` is set to now when empty. Never blocks on
  // the store.
  void record(JobEvent event);
  // Returns once every event recorded before the call was appended (or
  // failed to be).
  Status flush();
  uint64_t dropped() const { return dropped_.load(); }

  // JobHistory: append() queues like record(); list() flushes first.
  Status append(std::span<const JobEvent> events) override;
  StatusOr<std::vector<JobEvent>> list(std::string_view job_id, size_t limit) override;

 private:
  void run();

  JobHistory& history_;
  const HistoryWriterSettings settings_;
  Mutex mutex_;
  CondVar changed_;
  std::vector<JobEvent> pending_ DTQ_GUARDED_BY(mutex_);
  uint64_t recorded_ DTQ_GUARDED_BY(mutex_) = 0;  // events ever queued
  uint64_t written_ DTQ_GUARDED_BY(mutex_) = 0;   // of those, handed to append()
  Status last_error_ DTQ_GUARDED_BY(mutex_);
  bool stopping_ DTQ_GUARDED_BY(mutex_) = false;
  bool flush_wanted_ DTQ_GUARDED_BY(mutex_) = false;  // a flush() waits: no lingering
  std::atomic<uint64_t> dropped_{0};
  std::thread thread_;
};

// This process as attempt events name it: "HOST/PID" plus `role` when given
// ("worker", "serve").
std::string history_worker_identity(std::string_view role = {});

class RecordingStatusStore final : public StatusStore {
 public:
  RecordingStatusStore(StatusStore& inner, HistoryWriter& writer, std::string worker)
      : inner_(inner), writer_(writer), worker_(std::move(worker)) {}

  StatusOr<JobStatus> update(const JobStatus& update) override;
  std::vector<StatusOr<JobStatus>> update_batch(std::span<const JobStatus> updates) override;
  StatusOr<JobStatus> update_durable(const JobStatus& update) override;
  std::vector<StatusOr<JobStatus>> update_durable_batch(
      std::span<const JobStatus> updates) override;
  StatusOr<JobStatus> get(std::string_view job_id) override { return inner_.get(job_id); }
  std::vector<StatusOr<JobStatus>> get_batch(std::span<const std::string> job_ids) override {
    return inner_.get_batch(job_ids);
  }
  std::unique_ptr<StatusSubscription> subscribe(
      std::string job_id, std::function<void(const JobStatus&)> on_change) override {
    return inner_.subscribe(std::move(job_id), std::move(on_change));
  }
  Status request_cancel(std::string_view job_id) override;
  bool cancel_requested(std::string_view job_id) override {
    return inner_.cancel_requested(job_id);
  }
  StatusOr<StatusPage> list(const StatusListQuery& query) override { return inner_.list(query); }

 private:
  void record_update(const JobStatus& update, const JobStatus& stored);
  // What update_durable() stored: an attempt recorded before it runs is
  // `started`; anything else as record_update().
  void record_durable(const JobStatus& update, const JobStatus& stored);
  // `record` for each update of a batch that was stored.
  using Record = void (RecordingStatusStore::*)(const JobStatus&, const JobStatus&);
  void record_each(std::span<const JobStatus> updates,
                   const std::vector<StatusOr<JobStatus>>& stored, Record record);

  StatusStore& inner_;
  HistoryWriter& writer_;
  const std::string worker_;
};

class RecordingJobQueue final : public JobQueue {
 public:
  RecordingJobQueue(JobQueue& inner, HistoryWriter& writer, std::string worker)
      : inner_(inner), writer_(writer), worker_(std::move(worker)) {}

  Status enqueue(const JobMessage& message) override { return inner_.enqueue(message); }
  Status enqueue_batch(std::span<const JobMessage> messages) override {
    return inner_.enqueue_batch(messages);
  }
  StatusOr<std::vector<Delivery>> take(std::string_view job_type, size_t max,
                                       std::chrono::milliseconds wait) override {
    return inner_.take(job_type, max, wait);
  }
  Status ack(const Delivery& delivery) override { return inner_.ack(delivery); }
  Status release(const Delivery& delivery) override { return inner_.release(delivery); }
  Status dead_letter(const Delivery& delivery, const JobError& error, uint32_t attempts) override;
  StatusOr<std::vector<DeadLetter>> dead_letters(std::string_view job_type, size_t limit) override {
    return inner_.dead_letters(job_type, limit);
  }
  StatusOr<std::string> replay(std::string_view job_id) override;
  Status delete_dead_letter(std::string_view job_id) override {
    return inner_.delete_dead_letter(job_id);
  }
  void close() override { inner_.close(); }

 private:
  JobQueue& inner_;
  HistoryWriter& writer_;
  const std::string worker_;
};

// The same, owning what they use, for the wiring: the writer keeps `store`
// alive, and each decorator keeps the port it wraps and the writer alive.
std::shared_ptr<HistoryWriter> make_history_writer(std::shared_ptr<JobHistory> store,
                                                   HistoryWriterSettings settings = {});
std::shared_ptr<StatusStore> record_history(std::shared_ptr<StatusStore> inner,
                                            std::shared_ptr<HistoryWriter> writer,
                                            std::string worker);
std::shared_ptr<JobQueue> record_history(std::shared_ptr<JobQueue> inner,
                                         std::shared_ptr<HistoryWriter> writer, std::string worker);

}  // namespace dtq
