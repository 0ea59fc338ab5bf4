// MemoryJobQueue: the JobQueue port in memory, for tests that need a queue
// but not a database or a broker. It behaves as the port promises (leases,
// not_leased(), dead letters and replay, close) and passes the JobQueue
// conformance suite; what it cannot be is durable: nothing outlives it, and
// a lease lasts until it is acked, released or dead-lettered.
//
// Thread-safety: every member function is thread-safe. Ownership: owns
// copies of everything enqueued.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "dtq/core/ports/job_queue.hpp"

namespace dtq::fakes {

class MemoryJobQueue final : public JobQueue {
 public:
  Status enqueue(const JobMessage& message) override;
  Status enqueue_batch(std::span<const JobMessage> messages) override;
  StatusOr<std::vector<Delivery>> take(std::string_view job_type, size_t max,
                                       std::chrono::milliseconds wait) override;
  Status ack(const Delivery& delivery) override;
  Status release(const Delivery& delivery) override;
  Status dead_letter(const Delivery& delivery, const JobError& error, uint32_t attempts) override;
  StatusOr<std::vector<DeadLetter>> dead_letters(std::string_view job_type, size_t limit) override;
  StatusOr<std::string> replay(std::string_view job_id) override;
  Status delete_dead_letter(std::string_view job_id) override;
  void close() override;

  // Every enqueue answers `failure` while it is not OK (Status{} heals),
  // and queues nothing: a broker that refuses, for the callers' tests.
  void fail_enqueue_with(Status failure);

 private:
  struct Queued {
    JobMessage message;
    uint32_t deliveries = 0;  // before this one
  };

  // mutex_ held. Takes the lease of `delivery` out of leased_.
  StatusOr<Queued> end_lease(const Delivery& delivery);
  // mutex_ held.
  void insert(std::span<const JobMessage> messages);

  std::mutex mutex_;
  std::condition_variable available_;
  std::map<std::string, std::deque<Queued>, std::less<>>
      ready_;                          // by job type, first in line first
  std::map<uint64_t, Queued> leased_;  // by receipt
  std::vector<DeadLetter> dead_;       // oldest first
  uint64_t next_receipt_ = 1;
  bool closed_ = false;
  Status enqueue_failure_;
};

}  // namespace dtq::fakes
