// Database: the one SQLite file behind the embedded backends — its schema,
// the owner lock, the writer thread that group-commits every write, and a
// pool of read connections.
//
// Writes are closures run by the writer thread on the write connection. It
// takes everything queued since its last round, runs it in one transaction
// (BEGIN IMMEDIATE ... COMMIT) in submission order, then wakes the callers
// of that round. While only asynchronous writes are queued it lingers up to
// settings.write_linger for more, so that a busy process commits a few
// large transactions instead of many tiny ones. A closure that fails is undone on its own (a
// statement undoes itself; `Atomic::kYes` wraps a multi-statement closure in a savepoint); the rest
// of the round still commits. Effects that must wait for the commit (updating memory) are
// registered with after_commit().
//
// The owner's writer never copies the write-ahead log into the database
// file itself (SQLite's default does, on the committing thread, at the
// commit that passes 1,000 pages). A checkpointer thread does it beside the
// writer, on a connection of its own, once the log holds
// kCheckpointPages: under load the copying runs on another core instead of
// stalling every write behind it. Should the checkpointer fall behind, the
// writer checkpoints itself past kWriterCheckpointPages, so the log stays
// bounded either way. A client (another process) checkpoints as SQLite
// does by default.
//
// Batch hooks run at the start of every round, inside its transaction, so
// they see the database while no other process can write. The owner uses
// them to pick up what clients inserted. When hooks are registered, a round
// also runs every poll_interval while nothing else is queued.
//
// Thread-safety: every member function is thread-safe, except that write()
// and flush() must not be called from the writer thread (a closure or
// hook). Ownership: shared by the ports; destroying it commits what is
// queued, closes the connections, then releases the owner lock.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dtq/embedded/embedded_backends.hpp"
#include "sqlite.hpp"

namespace dtq::embedded {

class WriteTx {
 public:
  Connection& connection() { return connection_; }
  // Runs after the round committed, on the writer thread, in registration
  // order; dropped if the closure that registered it or the round fails.
  void after_commit(std::function<void()> action) { actions_.push_back(std::move(action)); }

 private:
  friend class Database;
  explicit WriteTx(Connection& connection) : connection_(connection) {}

  Connection& connection_;
  std::vector<std::function<void()>> actions_;
};

class Database {
 public:
  using WriteFn = std::function<Status(WriteTx&)>;
  using Hook = std::function<void(WriteTx&)>;
  enum class Atomic { kNo, kYes };

  // <data_dir>/dtq.db: the queue, statuses, results and the rest.
  static StatusOr<std::shared_ptr<Database>> open(const EmbeddedSettings& settings);
  // <data_dir>/history.db: the job history alone, with a writer of its own,
  // so that appending events never queues behind (or holds up) the jobs'
  // own writes. `jobs` is the folder's dtq.db, already open: events an older
  // dtq kept there are moved over when history.db is made.
  static StatusOr<std::shared_ptr<Database>> open_history(const EmbeddedSettings& settings,
                                                          Database& jobs);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  const EmbeddedSettings& settings() const { return settings_; }
  bool owner() const { return settings_.role == Role::kOwner; }
  const std::string& file() const { return file_; }

  // Runs `fn` in the next round and returns once that round committed: fn's
  // own Status, or the commit's failure.
  Status write(WriteFn fn, Atomic atomic = Atomic::kNo);
  // Queues `fn` behind everything queued so far; a failure is logged with
  // `what` (a string literal).
  void write_async(WriteFn fn, const char* what);
  // Returns once everything queued before it committed.
  Status flush();

  // Runs `fn(Connection&)` on a pooled read connection and returns its result
  // (a Status or StatusOr).
  template <class F>
  auto read(F&& fn) -> decltype(fn(std::declval<Connection&>())) {
    auto connection = acquire_reader();
    if (!connection.ok()) return connection.status();
    auto result = fn(**connection);
    release_reader(std::move(*connection));
    return result;
  }

  uint64_t add_batch_hook(Hook hook);
  // Waits for a round that is running the hook to finish.
  void remove_batch_hook(uint64_t id);

 private:
  // Shared by the caller and the writer, so the writer may still notify
  // after the caller has woken and gone. A mutex and a condition variable,
  // not std::atomic<bool>::wait: libstdc++'s atomic wait spins through a
  // dozen sched_yield calls before it sleeps, and each synchronous write
  // paid them (a few per cent of a job's CPU in engine_bench).
  struct Waiter {
    std::mutex mutex;
    std::condition_variable changed;
    bool done = false;  // guarded by mutex
    Status status;      // written before done is set
  };
  struct Op {
    WriteFn fn;
    Atomic atomic;
    std::shared_ptr<Waiter> waiter;  // null for an asynchronous write
    const char* what;
  };

  Database(EmbeddedSettings settings, std::string file, int lock_fd,
           std::unique_ptr<Connection> writer, std::unique_ptr<Connection> checkpointer);

  void submit(Op op);
  void writer_loop();
  void run_round(std::vector<Op>& ops);
  // Runs the ops in the open transaction; false when a failure ended it.
  bool run_ops(WriteTx& tx, std::vector<Op>& ops, std::vector<Status>& results, Status& fatal);
  void finish(std::vector<Op>& ops, std::vector<Status>& results);

  StatusOr<std::unique_ptr<Connection>> acquire_reader();
  void release_reader(std::unique_ptr<Connection> connection);
  // sqlite3_wal_hook: called by the writer after each commit with the
  // log's size in pages.
  static int on_commit(void* self, sqlite3* db, const char* schema, int pages);
  void checkpoint_loop();

  const EmbeddedSettings settings_;
  const std::string file_;
  const int lock_fd_;  // -1 for a client
  std::unique_ptr<Connection> writer_;

  std::mutex queue_mutex_;
  std::condition_variable queue_changed_;
  std::vector<Op> queue_;
  size_t waiters_queued_ = 0;  // ops in queue_ whose caller waits
  bool stopping_ = false;

  std::mutex hooks_mutex_;  // held by the writer for a whole round
  std::map<uint64_t, Hook> hooks_;
  uint64_t next_hook_ = 1;
  std::atomic<bool> has_hooks_{false};

  std::mutex readers_mutex_;
  std::vector<std::unique_ptr<Connection>> readers_;

  std::thread writer_thread_;

  // The owner's checkpointer; null for a client.
  std::unique_ptr<Connection> checkpointer_;
  std::mutex checkpoint_mutex_;
  std::condition_variable checkpoint_wanted_;
  bool checkpoint_due_ = false;        // guarded by checkpoint_mutex_
  bool stopping_checkpoints_ = false;  // guarded by checkpoint_mutex_
  // The log's size at which on_commit() next asks for a checkpoint, and at
  // its last call; the writer thread's alone.
  int next_checkpoint_pages_ = 0;
  int last_commit_pages_ = 0;
  std::thread checkpoint_thread_;
};

}  // namespace dtq::embedded
