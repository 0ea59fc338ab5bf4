// TypeConsumer: this process's member of the consumer group of one job
// type's priority class (each class has its own topic and group). A poll
// thread consumes the topic into a bounded buffer, serves
// rebalances (revoked partitions drain, then commit) and commits finished
// offsets every commit_interval; take/ack/release work on the buffer and the
// leases under one mutex, and the type's Doorbell rings whenever a message
// becomes ready, so that one take() waits on the type's three consumers at
// once. See kafka_job_queue.hpp for the semantics.
//
// Thread-safety: every public member function is thread-safe. Ownership:
// owns its librdkafka consumer and poll thread; borrows the producer (for
// dead-lettering unreadable records), which must outlive it.
#pragma once

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "dtq/core/ports/job_queue.hpp"
#include "dtq/core/priority.hpp"
#include "dtq/core/thread_annotations.hpp"
#include "partition_tracker.hpp"
#include "producer.hpp"
#include "rdkafka_util.hpp"

namespace dtq::kafka {

// Rung by the consumers of one job type whenever a message becomes ready
// (or a take() must wake): a take() over the type's priority classes
// waits on it. Thread-safe.
class Doorbell {
 public:
  void ring() {
    {
      MutexLock lock(mutex_);
      ++rings_;
    }
    rung_.notify_all();
  }
  uint64_t rings() {
    MutexLock lock(mutex_);
    return rings_;
  }
  // Returns once rung after `seen` was read, or at `until`.
  void wait(uint64_t seen, std::chrono::steady_clock::time_point until) {
    MutexLock lock(mutex_);
    rung_.wait_until(lock, until, [&]() DTQ_REQUIRES(mutex_) { return rings_ != seen; });
  }

 private:
  Mutex mutex_;
  CondVar rung_;
  uint64_t rings_ DTQ_GUARDED_BY(mutex_) = 0;
};

class TypeConsumer : public std::enable_shared_from_this<TypeConsumer> {
 public:
  // Where a handed-out job came from.
  struct Lease {
    int32_t partition = 0;
    int64_t offset = 0;
    uint64_t epoch = 0;  // which assignment of the partition
    uint32_t deliveries = 1;
    JobMessage message;
  };

  // Subscribes and starts the poll thread. `receipts` and `closed` belong
  // to the queue and outlive the consumer. Every message consumed is given
  // `priority`: the topic decides a job's class (unless the settings have no
  // class topics, when every class shares the job topic).
  static StatusOr<std::shared_ptr<TypeConsumer>> start(
      const KafkaSettings& settings, std::string job_type, JobPriority priority, std::string topic,
      std::string dlq_topic, std::string group, Producer& producer, std::atomic<uint64_t>& receipts,
      const std::atomic<bool>& closed, std::shared_ptr<Doorbell> doorbell);
  // Leaves the group: revoked partitions drain (bounded), are committed,
  // and the consumer closes.
  ~TypeConsumer();
  // The same, at a time of the owner's choosing (the destructor may run on
  // whichever thread drops the last reference).
  void shutdown();

  StatusOr<std::vector<Delivery>> take(size_t max, std::chrono::milliseconds wait);
  // Whether a take() would find a message now.
  bool has_ready();
  Status ack(const Delivery& delivery);
  Status release(const Delivery& delivery);
  // A copy of the lease behind `delivery`, which stays leased.
  StatusOr<Lease> lease(const Delivery& delivery);
  // Wakes every waiting take().
  void wake();
  // The records of the partitions this member holds that are not finished
  // yet: each partition's high watermark less its first unfinished offset.
  // While the member fetches, the watermark its last fetch brought (a query
  // would wait behind the member's long-poll fetch on the same connection,
  // up to fetch.wait.max.ms per partition); while consumption is paused,
  // when the cached one stands still and the lag grows, asked of the
  // broker. Each query waits at most `timeout`; called from any thread.
  StatusOr<int64_t> lag(std::chrono::milliseconds timeout);

 private:
  struct Partition {
    uint64_t epoch;
    PartitionTracker tracker;
    size_t leased = 0;  // handed out (or being dead-lettered), not finished
    bool revoking = false;
  };

  TypeConsumer(const KafkaSettings& settings, std::string job_type, JobPriority priority,
               std::string topic, std::string dlq_topic, std::string group, Producer& producer,
               std::atomic<uint64_t>& receipts, const std::atomic<bool>& closed,
               std::shared_ptr<Doorbell> doorbell);

  void poll_loop();
  void on_message(const rd_kafka_message_t* message);
  void dead_letter_unreadable(const rd_kafka_message_t* message, uint64_t epoch,
                              const std::string& why);
  void flow_control();
  void commit_due(bool force);
  void on_assign(rd_kafka_topic_partition_list_t* partitions, bool cooperative);
  void on_revoke(rd_kafka_topic_partition_list_t* partitions, bool cooperative);
  static void rebalance_cb(rd_kafka_t* handle, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* partitions, void* opaque);
  static void commit_cb(rd_kafka_t* handle, rd_kafka_resp_err_t err,
                        rd_kafka_topic_partition_list_t* offsets, void* opaque);
  // Ends the lease of `delivery`.
  StatusOr<Lease> end_lease(const Delivery& delivery) DTQ_REQUIRES(mutex_);

  const KafkaSettings& settings_;
  const std::string type_;
  const JobPriority priority_;
  const std::string topic_;
  const std::string dlq_topic_;
  const std::string group_;
  Producer& producer_;
  std::atomic<uint64_t>& receipts_;
  const std::atomic<bool>& closed_;
  const std::shared_ptr<Doorbell> doorbell_;

  KafkaHandle handle_;
  std::thread poller_;
  std::atomic<bool> stop_{false};

  Mutex mutex_;
  CondVar ready_cv_;                                // take() waits for the buffer
  CondVar room_cv_;                                 // the poll thread waits for room in it
  CondVar drained_cv_;                              // a revocation waits for leases to end
  std::deque<Lease> ready_ DTQ_GUARDED_BY(mutex_);  // consumed, not handed out yet
  std::map<int32_t, Partition> partitions_ DTQ_GUARDED_BY(mutex_);
  std::unordered_map<uint64_t, Lease> leases_ DTQ_GUARDED_BY(mutex_);  // by receipt
  uint64_t next_epoch_ DTQ_GUARDED_BY(mutex_) = 1;

  // paused_, for lag() on other threads.
  std::atomic<bool> fetching_paused_{false};

  // Poll thread only.
  bool paused_ = false;
  bool assignment_changed_ = false;
  std::chrono::steady_clock::time_point last_commit_{};
};

}  // namespace dtq::kafka
