// SqliteJobQueue: the embedded JobQueue on the `jobs` and `dead_letters`
// tables. In the owner the oldest queued messages of each job type and
// priority class also live in memory — a ready deque per class, at most
// settings.queue_window long, and a map of leases — so take() runs no SQL;
// within a type, PriorityTurns (priority.hpp) picks the class of each job
// taken, the oldest of that class goes. A class whose window is full keeps
// what comes after in the table only ("spilled"); once take() has run its
// deque down to half, a batch hook loads the next rows from the table in
// seq order, so a backlog of any size costs no memory and keeps its order.
// The table is what survives a crash, and the owner reloads each window on
// open (all leases are void then). The same hook loads the rows clients
// insert.
//
// Thread-safety: every member function is thread-safe.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <deque>
#include <memory>
#include <optional>
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
  // What one priority class of a type has in the table beyond its deque.
  struct Spill {
    // Rows of this class wait in the table only: the deque was full when
    // they came. They all have a seq above loaded_through.
    bool in_table = false;
    int64_t loaded_through = 0;  // the highest seq ever put in the deque
    bool refill_due = false;     // a load of the next rows is asked for
  };
  struct TypeQueue {
    std::array<std::deque<Ready>, kPriorityClasses> ready;  // by index_of(priority), oldest first
    std::array<Spill, kPriorityClasses> spill;
    PriorityTurns turns;
    CondVar available;

    bool empty() const { return ready[0].empty() && ready[1].empty() && ready[2].empty(); }
    std::deque<Ready>& line_of(const JobMessage& message) {
      return ready[index_of(message.priority)];
    }
    // The next job by the turns rule; the queue must not be empty.
    Ready pop_next();
  };

  explicit SqliteJobQueue(std::shared_ptr<Database> db)
      : db_(std::move(db)), window_(std::max<size_t>(db_->settings().queue_window, 2)) {}

  // Inserts the messages; in the owner they join the ready deques once the
  // round commits.
  Status insert(WriteTx& tx, std::span<const JobMessage> messages);
  std::optional<Ready> read_row(const Query& query) const;
  // Writer thread: loads rows other processes inserted since the last call
  // (all of them when the queue opens), each class up to its window.
  Status load_new_rows(WriteTx& tx);
  // Writer thread, at the start of a round (so it reads committed rows
  // only): loads the next rows of every class whose refill is due. What it
  // could not load (a failed read, skipped unreadable rows) stays due for
  // the next round, which comes every poll_interval.
  Status refill(WriteTx& tx);
  // Puts each item in its deque, or leaves it in the table when its class
  // has spilled or its window is full. Writer thread only, as the deques'
  // backs and the spills are changed nowhere else.
  void push_ready(std::vector<Ready> items);
  // Whether a row of this class goes to memory now; if not, marks the class
  // as spilled. mutex_ held.
  bool admits(TypeQueue& queue, size_t priority_class) const DTQ_REQUIRES(mutex_);
  // Marks the class, if spilled and run down to half its window, as due for
  // a refill; true if it marked it. mutex_ held.
  bool ask_refill(TypeQueue& queue, size_t priority_class) const DTQ_REQUIRES(mutex_);
  // Has the next round refill what ask_refill() marked.
  void request_refill();
  TypeQueue& type_queue(std::string_view job_type) DTQ_REQUIRES(mutex_);
  // Takes the lease of `delivery` out of leased_; FailedPrecondition if none.
  StatusOr<Ready> end_lease(const Delivery& delivery);

  const std::shared_ptr<Database> db_;
  const size_t window_;
  uint64_t hook_ = 0;
  std::atomic<bool> refill_due_{false};  // some class's Spill::refill_due is set
  int64_t last_seq_ = 0;                 // the highest seq in memory or acked; writer thread only

  // Guards the TypeQueues' deques too.
  Mutex mutex_;
  std::unordered_map<std::string, TypeQueue, StringHash, std::equal_to<>> types_
      DTQ_GUARDED_BY(mutex_);
  std::unordered_map<uint64_t, Ready> leased_ DTQ_GUARDED_BY(mutex_);  // by receipt
  uint64_t next_receipt_ DTQ_GUARDED_BY(mutex_) = 1;
  bool closed_ DTQ_GUARDED_BY(mutex_) = false;
};

}  // namespace dtq::embedded
