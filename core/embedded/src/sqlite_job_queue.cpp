#include "sqlite_job_queue.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>

#include "dtq/core/ids.hpp"
#include "dtq/core/model_json.hpp"
#include "dtq/core/time.hpp"

namespace dtq::embedded {
namespace {

constexpr const char* kNotOwner = "only the owning process leases jobs";

}  // namespace

StatusOr<std::shared_ptr<SqliteJobQueue>> SqliteJobQueue::open(std::shared_ptr<Database> db) {
  std::shared_ptr<SqliteJobQueue> queue(new SqliteJobQueue(std::move(db)));
  if (!queue->db_->owner()) return queue;
  if (Status loaded = queue->db_->write([&](WriteTx& tx) { return queue->load_new_rows(tx); });
      !loaded.ok()) {
    return loaded;
  }
  // From now on every round loads what clients inserted before the owner
  // inserts anything itself: with the write lock held, nothing can commit a
  // lower seq afterwards, so last_seq_ stays exact.
  queue->hook_ = queue->db_->add_batch_hook([q = queue.get()](WriteTx& tx) {
    if (Status s = q->load_new_rows(tx); !s.ok()) {
      spdlog::error("cannot load jobs enqueued by other processes: {}", s.message());
    }
    if (Status s = q->refill(tx); !s.ok()) {
      spdlog::error("cannot load the next queued jobs (tried again next round): {}", s.message());
    }
  });
  return queue;
}

SqliteJobQueue::~SqliteJobQueue() {
  close();
  if (hook_ != 0) db_->remove_batch_hook(hook_);
  // Queued writes reference this object (after_commit); let them finish.
  if (Status s = db_->flush(); !s.ok())
    spdlog::error("job queue writes not committed at close: {}", s.message());
}

Status SqliteJobQueue::enqueue(const JobMessage& message) {
  return enqueue_batch({&message, 1});
}

Status SqliteJobQueue::enqueue_batch(std::span<const JobMessage> messages) {
  if (messages.empty()) return {};
  if (Status s = check_job_batch(messages); !s.ok()) return s;
  return db_->write([&](WriteTx& tx) { return insert(tx, messages); }, Database::Atomic::kYes);
}

Status SqliteJobQueue::insert(WriteTx& tx, std::span<const JobMessage> messages) {
  std::vector<Ready> inserted;
  if (db_->owner()) inserted.reserve(messages.size());
  const int64_t now = to_unix_ms(Clock::now());
  for (const auto& message : messages) {
    const std::string json = to_json(message);
    Query query(tx.connection(),
                "INSERT INTO jobs(job_id, job_type, message, enqueued_at, priority_class) "
                "VALUES(?, ?, ?, ?, ?)");
    query.bind(message.job_id).bind(message.job_type).bind(json).bind(now);
    query.bind(static_cast<int64_t>(index_of(message.priority)));
    if (Status s = query.run(); !s.ok()) return s;
    if (db_->owner())
      inserted.push_back(Ready{sqlite3_last_insert_rowid(tx.connection().handle()), 0, message});
  }
  if (db_->owner()) {
    tx.after_commit([this, inserted = std::move(inserted)]() mutable {
      last_seq_ = std::max(last_seq_, inserted.back().seq);
      push_ready(std::move(inserted));
    });
  }
  return {};
}

// A queued row as the deques hold it; nullopt (logged) for one that cannot
// be read, which stays skipped. Reads seq, deliveries and message from
// columns 0 to 2.
std::optional<SqliteJobQueue::Ready> SqliteJobQueue::read_row(const Query& query) const {
  const int64_t seq = query.integer(0);
  auto message = parse_job_message(query.text(2));
  if (!message.ok()) {
    spdlog::error("{}: queued job with seq {} is unreadable and stays skipped: {}", db_->file(),
                  seq, message.status().message());
    return std::nullopt;
  }
  const auto deliveries =
      static_cast<uint32_t>(std::clamp<int64_t>(query.integer(1), 0, UINT32_MAX - 1));
  return Ready{seq, deliveries, std::move(message).value()};
}

Status SqliteJobQueue::load_new_rows(WriteTx& tx) {
  Query query(tx.connection(),
              "SELECT seq, deliveries, message, job_type, priority_class FROM jobs WHERE seq > ? "
              "ORDER BY seq");
  query.bind(last_seq_);
  std::vector<TypeQueue*> woken;
  {
    // Held across the rows: other processes' inserts are few between two
    // rounds, and when the queue opens nobody takes yet.
    MutexLock lock(mutex_);
    while (true) {
      auto row = query.step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      last_seq_ = query.integer(0);
      const auto priority_class =
          static_cast<size_t>(std::clamp<int64_t>(query.integer(4), 0, kPriorityClasses - 1));
      TypeQueue& queue = type_queue(query.text(3));
      // Decided before the message is parsed: a backlog left in the table
      // costs no parsing when the queue opens.
      if (!admits(queue, priority_class)) continue;
      auto item = read_row(query);
      if (!item) continue;
      queue.spill[priority_class].loaded_through = item->seq;
      queue.ready[priority_class].push_back(std::move(*item));
      if (woken.empty() || woken.back() != &queue) woken.push_back(&queue);
    }
  }
  for (TypeQueue* queue : woken) queue->available.notify_all();
  return {};
}

Status SqliteJobQueue::refill(WriteTx& tx) {
  if (!refill_due_.exchange(false)) return {};
  struct Due {
    TypeQueue* queue;
    std::string job_type;
    size_t priority_class;
    int64_t after;
    size_t room;
  };
  std::vector<Due> due;
  {
    MutexLock lock(mutex_);
    for (auto& [job_type, queue] : types_) {
      for (size_t c = 0; c < kPriorityClasses; ++c) {
        Spill& spill = queue.spill[c];
        if (!spill.refill_due) continue;
        spill.refill_due = false;
        const size_t held = queue.ready[c].size();
        if (held < window_)
          due.push_back({&queue, job_type, c, spill.loaded_through, window_ - held});
      }
    }
  }
  for (size_t i = 0; i < due.size(); ++i) {
    const Due& next = due[i];
    std::vector<Ready> loaded;
    size_t rows = 0;
    int64_t last = next.after;
    Query query(tx.connection(),
                "SELECT seq, deliveries, message FROM jobs WHERE job_type = ? AND priority_class = "
                "? AND seq > ? ORDER BY seq LIMIT ?");
    query.bind(next.job_type).bind(static_cast<int64_t>(next.priority_class)).bind(next.after);
    query.bind(static_cast<int64_t>(next.room));
    while (true) {
      auto row = query.step();
      if (!row.ok()) {
        // This class and the ones not reached yet are asked for again.
        MutexLock lock(mutex_);
        for (size_t j = i; j < due.size(); ++j)
          due[j].queue->spill[due[j].priority_class].refill_due = true;
        refill_due_ = true;
        return row.status();
      }
      if (!*row) break;
      ++rows;
      last = query.integer(0);
      if (auto item = read_row(query)) loaded.push_back(std::move(*item));
    }
    {
      MutexLock lock(mutex_);
      auto& ready = next.queue->ready[next.priority_class];
      Spill& spill = next.queue->spill[next.priority_class];
      for (auto& item : loaded) ready.push_back(std::move(item));
      spill.loaded_through = last;
      // Fewer rows than asked for: the class's rows are all in memory now.
      // (Its new rows, committed only by later rounds, find room for them.)
      if (rows < next.room) spill.in_table = false;
      // Still at half or below (unreadable rows were skipped): the next
      // round, at most poll_interval away, loads more, as after a failure.
      if (ask_refill(*next.queue, next.priority_class)) refill_due_ = true;
    }
    next.queue->available.notify_all();
  }
  return {};
}

bool SqliteJobQueue::ask_refill(TypeQueue& queue, size_t priority_class) const {
  Spill& spill = queue.spill[priority_class];
  if (!spill.in_table || spill.refill_due || queue.ready[priority_class].size() > window_ / 2)
    return false;
  spill.refill_due = true;
  return true;
}

void SqliteJobQueue::request_refill() {
  refill_due_ = true;
  // The refill runs at the start of a round; this makes sure one comes.
  db_->write_async([](WriteTx&) { return Status{}; }, "loading the next queued jobs");
}

bool SqliteJobQueue::admits(TypeQueue& queue, size_t priority_class) const {
  Spill& spill = queue.spill[priority_class];
  if (spill.in_table) return false;
  if (queue.ready[priority_class].size() < window_) return true;
  spill.in_table = true;
  return false;
}

void SqliteJobQueue::push_ready(std::vector<Ready> items) {
  std::vector<TypeQueue*> woken;
  {
    MutexLock lock(mutex_);
    for (auto& item : items) {
      TypeQueue& queue = type_queue(item.message.job_type);
      const size_t priority_class = index_of(item.message.priority);
      if (!admits(queue, priority_class)) continue;
      queue.spill[priority_class].loaded_through = item.seq;
      queue.ready[priority_class].push_back(std::move(item));
      if (woken.empty() || woken.back() != &queue) woken.push_back(&queue);
    }
  }
  // TypeQueues are never erased, so the pointers stay valid.
  for (TypeQueue* queue : woken) {
    if (items.size() == 1) {
      queue->available.notify_one();
    } else {
      queue->available.notify_all();
    }
  }
}

SqliteJobQueue::Ready SqliteJobQueue::TypeQueue::pop_next() {
  const auto chosen = turns.next({!ready[0].empty(), !ready[1].empty(), !ready[2].empty()});
  auto& line = ready[index_of(chosen.value_or(JobPriority::kNormal))];
  Ready item = std::move(line.front());
  line.pop_front();
  return item;
}

SqliteJobQueue::TypeQueue& SqliteJobQueue::type_queue(std::string_view job_type) {
  auto it = types_.find(job_type);
  if (it == types_.end()) it = types_.try_emplace(std::string(job_type)).first;
  return it->second;
}

StatusOr<std::vector<Delivery>> SqliteJobQueue::take(std::string_view job_type, size_t max,
                                                     std::chrono::milliseconds wait) {
  if (!db_->owner()) return failed_precondition(kNotOwner);
  std::vector<Delivery> taken;
  if (max == 0) return taken;
  std::vector<std::pair<int64_t, uint32_t>> counts;  // seq, deliveries
  bool refill = false;
  {
    MutexLock lock(mutex_);
    TypeQueue& queue = type_queue(job_type);
    // Bounded so that now + wait cannot overflow.
    const auto until = std::chrono::steady_clock::now() +
                       std::min<std::chrono::milliseconds>(wait, std::chrono::hours(24));
    queue.available.wait_until(lock, until,
                               [&]() DTQ_REQUIRES(mutex_) { return closed_ || !queue.empty(); });
    if (closed_) return taken;
    while (!queue.empty() && taken.size() < max) {
      Ready item = queue.pop_next();
      ++item.deliveries;
      const uint64_t receipt = next_receipt_++;
      counts.emplace_back(item.seq, item.deliveries);
      taken.push_back(Delivery{item.message, item.deliveries, receipt});
      leased_.emplace(receipt, std::move(item));
    }
    for (size_t c = 0; c < kPriorityClasses; ++c) refill = ask_refill(queue, c) || refill;
  }
  if (refill) request_refill();
  if (!counts.empty()) {
    // Best effort and off the take path: after a crash the count may be one
    // short, never more.
    db_->write_async(
        [counts = std::move(counts)](WriteTx& tx) {
          for (const auto& [seq, deliveries] : counts) {
            Query query(tx.connection(), "UPDATE jobs SET deliveries = ? WHERE seq = ?");
            if (Status s = query.bind(static_cast<int64_t>(deliveries)).bind(seq).run(); !s.ok())
              return s;
          }
          return Status{};
        },
        "recording a delivery");
  }
  return taken;
}

StatusOr<SqliteJobQueue::Ready> SqliteJobQueue::end_lease(const Delivery& delivery) {
  MutexLock lock(mutex_);
  const auto it = leased_.find(delivery.receipt);
  if (it == leased_.end() || it->second.message.job_id != delivery.message.job_id)
    return not_leased(delivery);
  Ready lease = std::move(it->second);
  leased_.erase(it);
  return lease;
}

Status SqliteJobQueue::ack(const Delivery& delivery) {
  if (!db_->owner()) return failed_precondition(kNotOwner);
  auto lease = end_lease(delivery);
  if (!lease.ok()) return lease.status();
  db_->write_async(
      [seq = lease->seq](WriteTx& tx) {
        Query query(tx.connection(), "DELETE FROM jobs WHERE seq = ?");
        return query.bind(seq).run();
      },
      "acknowledging a job");
  return {};
}

Status SqliteJobQueue::release(const Delivery& delivery) {
  if (!db_->owner()) return failed_precondition(kNotOwner);
  auto lease = end_lease(delivery);
  if (!lease.ok()) return lease.status();
  TypeQueue* queue = nullptr;
  {
    MutexLock lock(mutex_);
    queue = &type_queue(lease->message.job_type);
    // It was the oldest of its class when it was taken: it goes first again.
    queue->line_of(lease->message).push_front(std::move(lease).value());
  }
  queue->available.notify_one();
  return {};
}

Status SqliteJobQueue::dead_letter(const Delivery& delivery, const JobError& error,
                                   uint32_t attempts) {
  if (!db_->owner()) return failed_precondition(kNotOwner);
  auto lease = end_lease(delivery);
  if (!lease.ok()) return lease.status();
  const std::string json = to_json(lease->message);
  const std::string failed_at = now_rfc3339();
  const Status stored = db_->write(
      [&](WriteTx& tx) {
        {
          Query remove(tx.connection(), "DELETE FROM jobs WHERE seq = ?");
          if (Status s = remove.bind(lease->seq).run(); !s.ok()) return s;
        }
        Query insert(
            tx.connection(),
            "INSERT INTO dead_letters(job_id, job_type, message, error_code, error_message, "
            "attempts, "
            "failed_at, replayed_as) VALUES(?, ?, ?, ?, ?, ?, ?, '') "
            "ON CONFLICT(job_id) DO UPDATE SET job_type = excluded.job_type, message = "
            "excluded.message, "
            "error_code = excluded.error_code, error_message = excluded.error_message, "
            "attempts = excluded.attempts, failed_at = excluded.failed_at, replayed_as = ''");
        insert.bind(lease->message.job_id)
            .bind(lease->message.job_type)
            .bind(json)
            .bind(error.code);
        insert.bind(error.message).bind(static_cast<int64_t>(attempts)).bind(failed_at);
        return insert.run();
      },
      Database::Atomic::kYes);
  if (!stored.ok()) {
    // Still leased: the caller may release it, and a restart redelivers it.
    MutexLock lock(mutex_);
    leased_.emplace(delivery.receipt, std::move(lease).value());
  }
  return stored;
}

StatusOr<std::vector<DeadLetter>> SqliteJobQueue::dead_letters(std::string_view job_type,
                                                               size_t limit) {
  const auto sql_limit =
      static_cast<int64_t>(std::min<size_t>(limit, std::numeric_limits<int64_t>::max()));
  return db_->read([&](Connection& connection) -> StatusOr<std::vector<DeadLetter>> {
    constexpr std::string_view kColumns =
        "SELECT message, error_code, error_message, attempts, failed_at, replayed_as, job_id FROM "
        "dead_letters ";
    constexpr std::string_view kOrder = "ORDER BY failed_at DESC, rowid DESC LIMIT ?";
    const std::string sql = std::string(kColumns) +
                            (job_type.empty() ? "" : "WHERE job_type = ? ") + std::string(kOrder);
    Query query(connection, sql);
    if (!job_type.empty()) query.bind(job_type);
    query.bind(sql_limit);
    std::vector<DeadLetter> letters;
    while (true) {
      auto row = query.step();
      if (!row.ok()) return row.status();
      if (!*row) return letters;
      auto message = parse_job_message(query.text(0));
      if (!message.ok()) {
        spdlog::error("{}: dead letter of job {} is unreadable and skipped: {}", connection.file(),
                      query.text(6), message.status().message());
        continue;
      }
      letters.push_back(
          DeadLetter{.message = std::move(message).value(),
                     .error = JobError{std::string(query.text(1)), std::string(query.text(2))},
                     .attempts = static_cast<uint32_t>(query.integer(3)),
                     .failed_at = std::string(query.text(4)),
                     .replayed_as = std::string(query.text(5))});
    }
  });
}

StatusOr<std::string> SqliteJobQueue::replay(std::string_view job_id) {
  JobMessage replayed;
  replayed.job_id = new_uuid4();
  replayed.submitted_at = now_rfc3339();
  const Status done = db_->write(
      [&](WriteTx& tx) -> Status {
        {
          Query find(tx.connection(),
                     "SELECT message, replayed_as FROM dead_letters WHERE job_id = ?");
          if (Status s =
                  find.bind(job_id).first_row("no dead letter for job " + std::string(job_id));
              !s.ok()) {
            return s;
          }
          if (!find.text(1).empty()) {
            return failed_precondition("job " + std::string(job_id) + " was already replayed as " +
                                       std::string(find.text(1)));
          }
          auto original = parse_job_message(find.text(0));
          if (!original.ok()) {
            return internal_error("dead letter of job " + std::string(job_id) +
                                  " is unreadable: " + original.status().message());
          }
          replayed.schema_version = original->schema_version;
          replayed.job_type = original->job_type;
          replayed.trace_id = original->trace_id;
          replayed.payload = original->payload;
          replayed.priority = original->priority;
        }
        if (Status s = insert(tx, {&replayed, 1}); !s.ok()) return s;
        Query mark(tx.connection(), "UPDATE dead_letters SET replayed_as = ? WHERE job_id = ?");
        return mark.bind(replayed.job_id).bind(job_id).run();
      },
      Database::Atomic::kYes);
  if (!done.ok()) return done;
  return replayed.job_id;
}

Status SqliteJobQueue::delete_dead_letter(std::string_view job_id) {
  return db_->write(
      [&](WriteTx& tx) -> Status {
        Query remove(tx.connection(), "DELETE FROM dead_letters WHERE job_id = ?");
        if (Status s = remove.bind(job_id).run(); !s.ok()) return s;
        if (remove.changes() == 0)
          return not_found("no dead letter for job " + std::string(job_id));
        return {};
      },
      Database::Atomic::kYes);
}

void SqliteJobQueue::close() {
  MutexLock lock(mutex_);
  closed_ = true;
  for (auto& [type, queue] : types_) queue.available.notify_all();
}

}  // namespace dtq::embedded
