// SqliteStatusStore: the embedded StatusStore on the `job_status` and
// `cancel_requests` tables.
//
// Owner: statuses are merged in memory (a map of the live and recently
// written ones; a miss reads SQL first) and written behind, coalesced — a
// job updated several times before the writer gets to it is written once,
// with its latest status. Subscribers are called from one dispatcher thread,
// in merge order. Cancel requests from clients are picked up by a batch hook
// every poll_interval.
//
// Client: update() is a read-merge-write in one transaction; subscriptions
// poll SQL every poll_interval from one poller thread.
//
// Thread-safety: every member function is thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "database.hpp"
#include "dtq/core/ports/status_store.hpp"
#include "retention_trimmer.hpp"

namespace dtq::embedded {

// The subscriptions of one store and their delivery: one call at a time per
// subscription, none after it was removed.
class Subscribers {
 public:
  struct Subscriber {
    std::string job_id;  // empty: every job
    std::function<void(const JobStatus&)> on_change;
    std::mutex calling;  // held while on_change runs
    bool active = true;  // guarded by `calling`
  };

  std::shared_ptr<Subscriber> add(std::string job_id,
                                  std::function<void(const JobStatus&)> on_change);
  // Returns once no call to it is running; there is none afterwards.
  void remove(const std::shared_ptr<Subscriber>& subscriber);
  void deliver(const JobStatus& status);
  bool empty() const { return count_.load(std::memory_order_relaxed) == 0; }
  // The job ids of job-specific subscriptions (the client's poller reads them).
  std::vector<std::string> job_ids();

 private:
  std::mutex mutex_;
  std::unordered_multimap<std::string, std::shared_ptr<Subscriber>> by_job_;
  std::vector<std::shared_ptr<Subscriber>> every_job_;
  std::atomic<size_t> count_{0};
};

class SqliteStatusStore final : public StatusStore {
 public:
  // In the owner, loads the cancel requests before returning.
  // `history`, the folder's history.db, is trimmed with the jobs.
  static StatusOr<std::shared_ptr<SqliteStatusStore>> open(std::shared_ptr<Database> db,
                                                           std::shared_ptr<Database> history);
  ~SqliteStatusStore() override;

  StatusOr<JobStatus> update(const JobStatus& update) override;
  // Owner: update(), then waits for the commit that carries it.
  StatusOr<JobStatus> update_durable(const JobStatus& update) override;
  // Every update merged, then one commit for them all.
  std::vector<StatusOr<JobStatus>> update_durable_batch(
      std::span<const JobStatus> updates) override;
  StatusOr<JobStatus> get(std::string_view job_id) override;
  std::unique_ptr<StatusSubscription> subscribe(
      std::string job_id, std::function<void(const JobStatus&)> on_change) override;
  Status request_cancel(std::string_view job_id) override;
  bool cancel_requested(std::string_view job_id) override;
  // The owner first waits for its queued status writes, so the page
  // includes every update made before the call.
  StatusOr<StatusPage> list(const StatusListQuery& query) override;

 private:
  // What the owner knows of a job's committed job_status row.
  struct Row {
    int64_t rowid = 0;  // 0: not known (not written yet, or left terminal by a client)
    // The row holds a job type. It never changes afterwards (merge_status
    // only fills a blank one), so the row's updates leave the indexes on
    // job_id and job_type alone (update_typed_row).
    bool typed = false;
  };
  struct Entry {
    JobStatus status;
    Row row;
    bool dirty = false;    // changed since the writer last took it
    bool loading = false;  // a placeholder while its row is read
  };

  explicit SqliteStatusStore(std::shared_ptr<Database> db);

  StatusOr<JobStatus> update_in_memory(const JobStatus& update);
  StatusOr<JobStatus> update_in_sql(const JobStatus& update);
  // Writer thread: writes every dirty entry (one queued round trip for all).
  Status write_dirty(WriteTx& tx);
  // Writer thread, after commit: records the rows written, then evicts.
  void evict_written(std::vector<std::string> written, const std::vector<Row>& rows);
  // Writer thread: loads cancel requests made since the last call.
  Status load_cancel_requests(WriteTx& tx);
  void dispatch_loop();
  void poll_loop();
  void publish(const JobStatus& status);  // mutex_ held
  // Writer thread, after the retention trim deleted these jobs: their clean
  // cached statuses and their cancel requests go from memory too.
  void forget(const std::vector<std::string>& job_ids);

  const std::shared_ptr<Database> db_;
  const std::shared_ptr<Subscribers> subscribers_ = std::make_shared<Subscribers>();
  uint64_t hook_ = 0;
  int64_t last_cancel_rowid_ = 0;  // writer thread only
  std::chrono::steady_clock::time_point next_cancel_poll_;

  std::mutex mutex_;
  std::unordered_map<std::string, Entry, StringHash, std::equal_to<>> live_;
  std::vector<std::string> dirty_;
  bool write_queued_ = false;
  std::condition_variable loaded_;         // a placeholder was filled or dropped
  std::deque<std::string> written_order_;  // eviction order of clean entries
  std::unordered_set<std::string, StringHash, std::equal_to<>> cancels_;

  // Owner: statuses waiting for the dispatcher. Client: the poller's wake-up.
  std::mutex events_mutex_;
  std::condition_variable events_changed_;
  std::vector<JobStatus> events_;
  bool dispatcher_idle_ = true;  // asleep until a status arrives
  bool stopping_ = false;
  std::thread events_thread_;

  std::unique_ptr<RetentionTrimmer> trimmer_;  // owner only
};

}  // namespace dtq::embedded
