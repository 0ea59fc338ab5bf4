// MemoryStatusStore: the StatusStore port in memory, for tests that need a
// status store but not a database or Redis. It merges with merge_status(),
// lists newest submitted first with cursors, keeps cancellation requests,
// and delivers change events in merge order on a thread of its own, as the
// port promises; it passes the StatusStore conformance suite. Nothing
// outlives it.
//
// A test can also make it misbehave the way a remote store does: reads that
// fail (fail_reads_with) or take time (set_read_latency).
//
// Thread-safety: every member function is thread-safe; callbacks run on the
// store's event thread, one at a time. Ownership: a subscription may outlive
// the store (it then never fires again).
#pragma once

#include <chrono>
#include <memory>
#include <thread>

#include "dtq/core/ports/status_store.hpp"

namespace dtq::fakes {

class MemoryStatusStore final : public StatusStore {
 public:
  MemoryStatusStore();
  ~MemoryStatusStore() override;
  MemoryStatusStore(const MemoryStatusStore&) = delete;
  MemoryStatusStore& operator=(const MemoryStatusStore&) = delete;

  StatusOr<JobStatus> update(const JobStatus& update) override;
  // Memory is as durable as this store gets.
  StatusOr<JobStatus> update_durable(const JobStatus& update) override;
  StatusOr<JobStatus> get(std::string_view job_id) override;
  std::unique_ptr<StatusSubscription> subscribe(
      std::string job_id, std::function<void(const JobStatus&)> on_change) override;
  Status request_cancel(std::string_view job_id) override;
  bool cancel_requested(std::string_view job_id) override;
  StatusOr<StatusPage> list(const StatusListQuery& query) override;

  // Every get() answers `failure` while it is not OK (Status{} heals).
  void fail_reads_with(Status failure);
  // Every get() first waits `latency`: a round trip to a remote store.
  void set_read_latency(std::chrono::milliseconds latency);

 private:
  class Hub;
  std::shared_ptr<Hub> hub_;
  std::thread events_;  // delivers the change events
};

}  // namespace dtq::fakes
