// SqliteJobQueue: the embedded JobQueue on the `jobs` and `dead_letters`
// tables. In the owner every queued message also lives in memory — a ready
// deque per job type and priority class, and a map of leases — so take()
// runs no SQL; within a type, PriorityTurns (priority.hpp) picks the class
// of each job taken, the oldest of that class goes; the table
// is what survives a crash, and the owner reloads it on open (all leases are
// void then). A batch hook loads the rows clients insert.
//
// Thread-safety: every member function is thread-safe.
#pragma once

#include <array>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "database.hpp"
#include "dtq/core/ports/job_queue.hpp"
#include "dtq/core/priority.hpp"
#include "dtq/core/thread_annotations.hpp"

namespace dtq::embedded {

class SqliteJobQueue final : public JobQueue {
 public:
  // In the owner, loads every queued message before returning.
  static StatusOr<std::shared_ptr<SqliteJobQueue>> open(std::shared_ptr<Database> db);
  ~SqliteJobQueue() override;

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

 private:
  struct Ready {
    int64_t seq;
    uint32_t deliveries;  // before this delivery
    JobMessage message;
  };
  struct TypeQueue {
    std::array<std::deque<Ready>, kPriorityClasses> ready;  // by index_of(priority), oldest first
    PriorityTurns turns;
    CondVar available;

    bool empty() const { return ready[0].empty() && ready[1].empty() && ready[2].empty(); }
    std::deque<Ready>& line_of(const JobMessage& message) {
      return ready[index_of(message.priority)];
    }
    // The next job by the turns rule; the queue must not be empty.
    Ready pop_next();
  };

  explicit SqliteJobQueue(std::shared_ptr<Database> db) : db_(std::move(db)) {}

  // Inserts the messages; in the owner they join the ready deques once the
  // round commits.
  Status insert(WriteTx& tx, std::span<const JobMessage> messages);
  // Writer thread: loads rows other processes inserted since the last call.
  Status load_new_rows(WriteTx& tx);
  void push_ready(std::vector<Ready> items);
  TypeQueue& type_queue(std::string_view job_type) DTQ_REQUIRES(mutex_);
  // Takes the lease of `delivery` out of leased_; FailedPrecondition if none.
  StatusOr<Ready> end_lease(const Delivery& delivery);

  const std::shared_ptr<Database> db_;
  uint64_t hook_ = 0;
  int64_t last_seq_ = 0;  // the highest seq in memory or acked; writer thread only

  // Guards the TypeQueues' deques too.
  Mutex mutex_;
  std::unordered_map<std::string, TypeQueue, StringHash, std::equal_to<>> types_
      DTQ_GUARDED_BY(mutex_);
  std::unordered_map<uint64_t, Ready> leased_ DTQ_GUARDED_BY(mutex_);  // by receipt
  uint64_t next_receipt_ DTQ_GUARDED_BY(mutex_) = 1;
  bool closed_ DTQ_GUARDED_BY(mutex_) = false;
};

}  // namespace dtq::embedded
