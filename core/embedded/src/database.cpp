#include "database.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <iterator>
#include <span>

namespace dtq::embedded {
namespace {

namespace fs = std::filesystem;

// Schema migrations: entry i takes user_version i to i + 1. Only ever append.
constexpr const char* kMigrations[] = {
    // 1: the queue, dead letters, statuses, results and cancel requests.
    R"sql(
    -- AUTOINCREMENT: seq never goes back, even after the newest row is
    -- acked, so the owner can load what clients add with "seq > last seen".
    CREATE TABLE jobs (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      job_id TEXT NOT NULL UNIQUE,
      job_type TEXT NOT NULL,
      message TEXT NOT NULL,                 -- the JobMessage as JSON
      deliveries INTEGER NOT NULL DEFAULT 0, -- times handed out so far
      enqueued_at INTEGER NOT NULL           -- unix milliseconds
    );
    CREATE TABLE dead_letters (
      job_id TEXT PRIMARY KEY,
      job_type TEXT NOT NULL,
      message TEXT NOT NULL,
      error_code TEXT NOT NULL,
      error_message TEXT NOT NULL,
      attempts INTEGER NOT NULL,
      failed_at TEXT NOT NULL,               -- RFC 3339 UTC
      replayed_as TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX dead_letters_by_failed_at ON dead_letters(failed_at DESC);
    -- A rowid table, not WITHOUT ROWID on job_id: rows land in the order
    -- jobs first report, so the updates of running jobs hit the few pages at
    -- the tail instead of one random page per job (random UUIDv4 keys); only
    -- the small job_id index takes random writes.
    CREATE TABLE job_status (
      job_id TEXT NOT NULL UNIQUE,
      state TEXT NOT NULL,
      progress_percent INTEGER NOT NULL,
      updated_at TEXT NOT NULL,
      message TEXT NOT NULL,
      trace_id TEXT NOT NULL,
      job_type TEXT NOT NULL,
      error_code TEXT NOT NULL,
      error_message TEXT NOT NULL,
      attempt INTEGER NOT NULL
    );
    CREATE TABLE job_results (
      job_id TEXT PRIMARY KEY,
      job_type TEXT NOT NULL,
      document TEXT NOT NULL,                -- the JobResult as JSON
      final_state TEXT NOT NULL,
      completed_at TEXT NOT NULL
    );
    CREATE INDEX job_results_by_completed_at ON job_results(completed_at DESC);
    -- rowid only grows (the retention trim never deletes the newest row):
    -- the owner loads new requests with "rowid > last seen".
    CREATE TABLE cancel_requests (
      job_id TEXT PRIMARY KEY,
      requested_at TEXT NOT NULL
    );
    )sql",
    // 2: the indexes that keep filtered listings and the retention trim
    // fast however many jobs are stored. A filtered page walks its index
    // newest first (rowid is every index's last column) and stops at the
    // page's end.
    R"sql(
    CREATE INDEX job_status_by_state ON job_status(state);
    CREATE INDEX job_status_by_type ON job_status(job_type);
    CREATE INDEX job_status_by_type_state ON job_status(job_type, state);
    CREATE INDEX job_results_by_type_completed_at ON job_results(job_type, completed_at);
    )sql",
    // 3: the idempotency keys of submissions (SqliteIdempotencyStore).
    R"sql(
    CREATE TABLE idempotency_keys (
      key TEXT PRIMARY KEY,                  -- scoped by its owner (JobService)
      fingerprint TEXT NOT NULL,
      job_id TEXT NOT NULL,
      expires_at INTEGER NOT NULL            -- unix milliseconds
    );
    -- Trimming what expired walks this, never the whole table.
    CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys(expires_at);
    )sql",
    // 4: each job's priority class in its status (the queue keeps it in
    // the job message); rows from before read as normal.
    R"sql(
    ALTER TABLE job_status ADD COLUMN priority TEXT NOT NULL DEFAULT 'normal';
    )sql",
    // 5: the job history (SqliteJobHistory), append-only: a rowid table, so
    // appends land at its tail, and one index, on job_id, to list a job's
    // events and to trim them with the job. Since moved to history.db
    // (kHistoryMigrations); the table here stays, empty.
    R"sql(
    CREATE TABLE job_events (
      job_id TEXT NOT NULL,
      job_type TEXT NOT NULL,
      at TEXT NOT NULL,                      -- RFC 3339 UTC, milliseconds
      kind TEXT NOT NULL,                    -- JobEventKind's name
      attempt INTEGER NOT NULL,
      worker TEXT NOT NULL,
      error_code TEXT NOT NULL,
      related_job_id TEXT NOT NULL,
      detail TEXT NOT NULL
    );
    CREATE INDEX job_events_by_job ON job_events(job_id);
    )sql",
    // 6: the schedule of delayed jobs (SqliteJobSchedule): each waits here
    // until due_at, then a scheduler's claim moves due_at past its lease.
    R"sql(
    CREATE TABLE job_schedule (
      job_id TEXT PRIMARY KEY,
      message TEXT NOT NULL,                 -- the JobMessage as JSON
      run_at INTEGER NOT NULL,               -- unix milliseconds: when it is due
      due_at INTEGER NOT NULL,               -- run_at, or the end of a claim's lease
      claims INTEGER NOT NULL DEFAULT 0
    );
    -- A claim walks the due jobs only, earliest first.
    CREATE INDEX job_schedule_by_due ON job_schedule(due_at);
    )sql",
    // 7: the paused job types (SqlitePausedJobTypes), so that a pause
    // survives a restart of `dtq serve`.
    R"sql(
    CREATE TABLE paused_job_types (
      job_type TEXT PRIMARY KEY,
      paused_at TEXT NOT NULL                -- RFC 3339 UTC
    );
    )sql",
    // 8: each queued job's priority class beside its message (0 high,
    // 1 normal, 2 low: index_of), and an index by type and class, in seq
    // order (the rowid ends every index): the owner keeps only the oldest
    // jobs of each class in memory and loads the next ones from here.
    R"sql(
    ALTER TABLE jobs ADD COLUMN priority_class INTEGER NOT NULL DEFAULT 1;
    UPDATE jobs SET priority_class =
      CASE json_extract(message, '$.priority') WHEN 'high' THEN 0 WHEN 'low' THEN 2 ELSE 1 END
      WHERE json_valid(message);
    CREATE INDEX jobs_by_type_class ON jobs(job_type, priority_class);
    )sql",
    // 9: the queue without its index on job_id. Nothing looks a queued job
    // up by id (rows are taken and deleted by seq), and with random UUIDv4
    // keys that index cost each job two random page writes (its insert and
    // its delete, in different commits): engine_bench ran 1-36 % faster
    // without it. A duplicate inside one batch is still refused, in code;
    // one of a job already queued is queued again, as on Kafka. SQLite
    // drops a UNIQUE constraint only by rebuilding the table, and keeps
    // AUTOINCREMENT's high-water mark in sqlite_sequence: it is carried
    // over, so seq never goes back (clients load rows past the last seen).
    R"sql(
    CREATE TABLE jobs_without_id_index (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      job_id TEXT NOT NULL,
      job_type TEXT NOT NULL,
      message TEXT NOT NULL,
      deliveries INTEGER NOT NULL DEFAULT 0,
      enqueued_at INTEGER NOT NULL,
      priority_class INTEGER NOT NULL DEFAULT 1
    );
    INSERT INTO jobs_without_id_index(seq, job_id, job_type, message, deliveries, enqueued_at,
                                      priority_class)
      SELECT seq, job_id, job_type, message, deliveries, enqueued_at, priority_class FROM jobs;
    DELETE FROM sqlite_sequence WHERE name = 'jobs_without_id_index';
    INSERT INTO sqlite_sequence(name, seq)
      SELECT 'jobs_without_id_index', seq FROM sqlite_sequence WHERE name = 'jobs';
    DROP TABLE jobs;
    ALTER TABLE jobs_without_id_index RENAME TO jobs;
    CREATE INDEX jobs_by_type_class ON jobs(job_type, priority_class);
    )sql",
};

// history.db's migrations, as kMigrations. Its 1 is dtq.db's 5, moved.
constexpr const char* kHistoryMigrations[] = {
    R"sql(
    CREATE TABLE job_events (
      job_id TEXT NOT NULL,
      job_type TEXT NOT NULL,
      at TEXT NOT NULL,                      -- RFC 3339 UTC, milliseconds
      kind TEXT NOT NULL,                    -- JobEventKind's name
      attempt INTEGER NOT NULL,
      worker TEXT NOT NULL,
      error_code TEXT NOT NULL,
      related_job_id TEXT NOT NULL,
      detail TEXT NOT NULL
    );
    CREATE INDEX job_events_by_job ON job_events(job_id);
    )sql",
};

// Past this many queued ops a round starts without lingering further.
constexpr size_t kFullRound = 1024;

// The write-ahead log's size (4 KiB pages) at which the checkpointer copies
// it into the database file, and at which the writer does so itself because
// the checkpointer fell behind. A larger log copies a page that many commits
// rewrote (the tails of the tables, the upper levels of the indexes) once
// instead of many times: engine_bench's writer spent a third of its time on
// SQLite's default of 1,000 pages, checkpointed on its own thread.
constexpr int kCheckpointPages = 4000;
constexpr int kWriterCheckpointPages = 16000;

Status create_data_dir(const fs::path& dir) {
  if (dir.empty()) return invalid_argument("embedded backends: data_dir is empty");
  std::error_code error;
  const bool created = fs::create_directories(dir, error);
  if (error)
    return unavailable("cannot create data directory " + dir.string() + ": " + error.message());
  if (created) {
    // Job payloads and results may be private to the user.
    fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, error);
    if (error)
      return unavailable("cannot restrict data directory " + dir.string() + ": " + error.message());
  }
  return {};
}

// The owner's exclusive flock, held by the returned descriptor. The file
// holds the owner's pid so that a refused second owner can name it.
StatusOr<int> lock_data_dir(const fs::path& dir) {
  const fs::path path = dir / "dtq.lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return unavailable(path.string() + ": cannot open: " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    char pid[32] = {};
    const ssize_t length = ::pread(fd, pid, sizeof pid - 1, 0);
    ::close(fd);
    if (error != EWOULDBLOCK)
      return unavailable(path.string() + ": cannot lock: " + std::strerror(error));
    std::string holder = length > 0 ? std::string(pid, static_cast<size_t>(length)) : "unknown";
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    return failed_precondition("data directory " + dir.string() +
                               " is in use by another dtq process (pid " + holder + ")");
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    spdlog::warn("{}: cannot record this process's pid: {}", path.string(), std::strerror(errno));
  }
  return fd;
}

// Brings `connection`'s schema up to date with `migrations`; `made` runs in
// the same transaction when the file was new (version 0).
Status migrate(Connection& connection, std::span<const char* const> migrations,
               const std::function<Status()>& made = {}) {
  const auto schema_version = static_cast<int64_t>(migrations.size());
  {
    // Persistent in the file; a no-op once set.
    Query mode(connection, "PRAGMA journal_mode=WAL");
    auto row = mode.step();
    if (!row.ok()) return row.status();
    if (!*row || mode.text(0) != "wal") {
      return unavailable(
          connection.file() +
          ": cannot switch to WAL journal mode (the file system may not support it)");
    }
  }
  if (Status s = connection.exec("BEGIN IMMEDIATE"); !s.ok()) return s;
  const auto migrate_locked = [&]() -> Status {
    int64_t version = 0;
    {
      Query query(connection, "PRAGMA user_version");
      if (Status s = query.first_row("no user_version"); !s.ok()) return s;
      version = query.integer(0);
    }
    if (version > schema_version) {
      return failed_precondition(connection.file() + " has schema version " +
                                 std::to_string(version) + ", newer than this dtq understands (" +
                                 std::to_string(schema_version) + "); use a newer dtq");
    }
    const bool is_new = version == 0;
    for (; version < schema_version; ++version) {
      if (Status s = connection.exec(migrations[static_cast<size_t>(version)]); !s.ok()) return s;
    }
    if (is_new && made) {
      if (Status s = made(); !s.ok()) return s;
    }
    return connection.exec(("PRAGMA user_version=" + std::to_string(schema_version)).c_str());
  };
  if (Status s = migrate_locked(); !s.ok()) {
    (void)connection.exec("ROLLBACK");
    return s;
  }
  return connection.exec("COMMIT");
}

// The owner's checkpointer connection to `file`; null for a client, which
// checkpoints as SQLite does by default.
StatusOr<std::unique_ptr<Connection>> open_checkpointer(const std::string& file,
                                                        const EmbeddedSettings& settings) {
  if (settings.role != Role::kOwner) return std::unique_ptr<Connection>();
  return Connection::open(file, Connection::Mode::kWrite, settings.durability);
}

}  // namespace

StatusOr<std::shared_ptr<Database>> Database::open(const EmbeddedSettings& settings) {
  if (Status s = create_data_dir(settings.data_dir); !s.ok()) return s;
  int lock_fd = -1;
  if (settings.role == Role::kOwner) {
    auto locked = lock_data_dir(settings.data_dir);
    if (!locked.ok()) return locked.status();
    lock_fd = *locked;
  }
  const std::string file = (settings.data_dir / "dtq.db").string();
  auto writer = Connection::open(file, Connection::Mode::kWrite, settings.durability);
  Status ready = writer.ok() ? migrate(**writer, kMigrations) : writer.status();
  StatusOr<std::unique_ptr<Connection>> checkpointer = std::unique_ptr<Connection>();
  if (ready.ok()) {
    checkpointer = open_checkpointer(file, settings);
    ready = checkpointer.status();
  }
  if (!ready.ok()) {
    if (lock_fd >= 0) ::close(lock_fd);
    return ready;
  }
  return std::shared_ptr<Database>(new Database(settings, file, lock_fd, std::move(writer).value(),
                                                std::move(checkpointer).value()));
}

StatusOr<std::shared_ptr<Database>> Database::open_history(const EmbeddedSettings& settings,
                                                           Database& jobs) {
  const std::string file = (settings.data_dir / "history.db").string();
  auto writer = Connection::open(file, Connection::Mode::kWrite, settings.durability);
  if (!writer.ok()) return writer.status();
  Connection& connection = **writer;
  // Events an older dtq kept in dtq.db move here when this file is made,
  // and only then is dtq.db attached. ATTACH is refused inside a
  // transaction, so it comes before the migration.
  bool made = false;
  {
    Query version(connection, "PRAGMA user_version");
    if (Status s = version.first_row("no user_version"); !s.ok()) return s;
    made = version.integer(0) == 0;
  }
  if (made) {
    if (Status s = Query(connection, "ATTACH DATABASE ? AS jobs").bind(jobs.file()).run(); !s.ok())
      return s;
  }
  bool moved = false;
  Status ready = migrate(connection, kHistoryMigrations, [&]() -> Status {
    Query copy(connection,
               "INSERT INTO main.job_events SELECT job_id, job_type, at, kind, attempt, worker,"
               " error_code, related_job_id, detail FROM jobs.job_events ORDER BY rowid");
    if (Status s = copy.run(); !s.ok()) return s;
    moved = copy.changes() > 0;
    return {};
  });
  if (made) {
    if (Status s = connection.exec("DETACH DATABASE jobs"); ready.ok()) ready = s;
  }
  // Only once they are committed here; a crash before this leaves dead
  // rows in dtq.db, never a lost event.
  if (ready.ok() && moved) {
    ready = jobs.write([](WriteTx& tx) { return tx.connection().exec("DELETE FROM job_events"); });
  }
  StatusOr<std::unique_ptr<Connection>> checkpointer = std::unique_ptr<Connection>();
  if (ready.ok()) {
    checkpointer = open_checkpointer(file, settings);
    ready = checkpointer.status();
  }
  if (!ready.ok()) return ready;
  return std::shared_ptr<Database>(
      new Database(settings, file, -1, std::move(writer).value(), std::move(checkpointer).value()));
}

Database::Database(EmbeddedSettings settings, std::string file, int lock_fd,
                   std::unique_ptr<Connection> writer, std::unique_ptr<Connection> checkpointer)
    : settings_(std::move(settings)),
      file_(std::move(file)),
      lock_fd_(lock_fd),
      writer_(std::move(writer)),
      checkpointer_(std::move(checkpointer)) {
  if (checkpointer_ != nullptr) {
    // Replaces SQLite's automatic checkpoint on this connection.
    sqlite3_wal_hook(writer_->handle(), &Database::on_commit, this);
    checkpoint_thread_ = std::thread([this] { checkpoint_loop(); });
  }
  writer_thread_ = std::thread([this] { writer_loop(); });
}

Database::~Database() {
  {
    std::lock_guard lock(queue_mutex_);
    stopping_ = true;
  }
  queue_changed_.notify_one();
  writer_thread_.join();
  if (checkpoint_thread_.joinable()) {
    {
      std::lock_guard lock(checkpoint_mutex_);
      stopping_checkpoints_ = true;
    }
    checkpoint_wanted_.notify_one();
    checkpoint_thread_.join();
  }
  readers_.clear();
  checkpointer_.reset();
  // The last connection to close checkpoints the whole log and removes it.
  writer_.reset();
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

int Database::on_commit(void* self, sqlite3* db, const char* schema, int pages) {
  auto& database = *static_cast<Database*>(self);
  // The log started over (a checkpoint had copied all of it).
  if (pages < database.last_commit_pages_) database.next_checkpoint_pages_ = 0;
  database.last_commit_pages_ = pages;
  if (pages >= kWriterCheckpointPages) {
    // A writer that never pauses leaves the checkpointer a few frames
    // behind each time, so the log never starts over: the writer copies the
    // rest itself (busy while the checkpointer runs: it tries again at the
    // next commit).
    (void)sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  } else if (pages >= std::max(database.next_checkpoint_pages_, kCheckpointPages)) {
    database.next_checkpoint_pages_ = pages + kCheckpointPages;
    {
      std::lock_guard lock(database.checkpoint_mutex_);
      database.checkpoint_due_ = true;
    }
    database.checkpoint_wanted_.notify_one();
  }
  return SQLITE_OK;
}

void Database::checkpoint_loop() {
  std::unique_lock lock(checkpoint_mutex_);
  while (true) {
    checkpoint_wanted_.wait(lock, [this] { return checkpoint_due_ || stopping_checkpoints_; });
    if (stopping_checkpoints_) return;
    checkpoint_due_ = false;
    lock.unlock();
    // PASSIVE: copies what it can without waiting for readers or the
    // writer; once it copied everything, the writer's next commit starts
    // the log over from its beginning.
    const int code = sqlite3_wal_checkpoint_v2(checkpointer_->handle(), nullptr,
                                               SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    if (code != SQLITE_OK && code != SQLITE_BUSY) {
      spdlog::warn("{}: checkpoint failed: {}", file_, sqlite3_errstr(code));
    }
    lock.lock();
  }
}

Status Database::write(WriteFn fn, Atomic atomic) {
  auto waiter = std::make_shared<Waiter>();
  submit(Op{std::move(fn), atomic, waiter, nullptr});
  std::unique_lock lock(waiter->mutex);
  waiter->changed.wait(lock, [&] { return waiter->done; });
  return std::move(waiter->status);
}

void Database::write_async(WriteFn fn, const char* what) {
  submit(Op{std::move(fn), Atomic::kNo, nullptr, what});
}

Status Database::flush() {
  return write([](WriteTx&) { return Status{}; });
}

uint64_t Database::add_batch_hook(Hook hook) {
  std::lock_guard lock(hooks_mutex_);
  const uint64_t id = next_hook_++;
  hooks_.emplace(id, std::move(hook));
  has_hooks_ = true;
  return id;
}

void Database::remove_batch_hook(uint64_t id) {
  std::lock_guard lock(hooks_mutex_);
  hooks_.erase(id);
  has_hooks_ = !hooks_.empty();
}

void Database::submit(Op op) {
  bool wake = false;
  {
    std::lock_guard lock(queue_mutex_);
    const bool waited_for = op.waiter != nullptr;
    queue_.push_back(std::move(op));
    if (waited_for) ++waiters_queued_;
    // The writer waits for the first op, then lingers until someone waits or
    // the round is full: only those moments need a wake-up.
    wake = waited_for || queue_.size() == 1 || queue_.size() == kFullRound;
  }
  if (wake) queue_changed_.notify_one();
}

void Database::writer_loop() {
  std::vector<Op> ops;
  std::unique_lock lock(queue_mutex_);
  while (true) {
    const auto ready = [this] { return !queue_.empty() || stopping_; };
    if (has_hooks_) {
      queue_changed_.wait_for(lock, settings_.poll_interval, ready);
    } else {
      queue_changed_.wait(lock, ready);
    }
    if (queue_.empty() && stopping_) return;
    if (!queue_.empty() && waiters_queued_ == 0 && !stopping_) {
      queue_changed_.wait_for(lock, settings_.write_linger, [this] {
        return stopping_ || waiters_queued_ > 0 || queue_.size() >= kFullRound;
      });
    }
    ops.swap(queue_);
    waiters_queued_ = 0;
    lock.unlock();
    if (!ops.empty() || has_hooks_) run_round(ops);
    ops.clear();
    lock.lock();
  }
}

void Database::run_round(std::vector<Op>& ops) {
  std::vector<Status> results(ops.size());
  std::lock_guard hooks_lock(hooks_mutex_);
  if (Status begun = writer_->exec("BEGIN IMMEDIATE"); !begun.ok()) {
    for (auto& result : results) result = begun;
    finish(ops, results);
    return;
  }
  WriteTx tx(*writer_);
  for (auto& [id, hook] : hooks_) hook(tx);
  Status fatal;
  if (sqlite3_get_autocommit(writer_->handle()) != 0) {
    fatal =
        internal_error(file_ + ": the transaction ended while loading other processes' changes");
  } else if (run_ops(tx, ops, results, fatal)) {
    fatal = writer_->exec("COMMIT");
    if (fatal.ok()) {
      for (auto& action : tx.actions_) action();
      finish(ops, results);
      return;
    }
  }
  if (sqlite3_get_autocommit(writer_->handle()) == 0) (void)writer_->exec("ROLLBACK");
  for (auto& result : results) {
    if (result.ok()) result = Status(fatal.code(), "not committed: " + fatal.message());
  }
  finish(ops, results);
}

bool Database::run_ops(WriteTx& tx, std::vector<Op>& ops, std::vector<Status>& results,
                       Status& fatal) {
  for (size_t i = 0; i < ops.size(); ++i) {
    const bool atomic = ops[i].atomic == Atomic::kYes;
    if (atomic) {
      if (Status s = writer_->exec("SAVEPOINT op"); !s.ok()) {
        fatal = s;
        return false;
      }
    }
    const size_t mark = tx.actions_.size();
    Status s = ops[i].fn(tx);
    if (s.ok()) {
      if (atomic) {
        if (fatal = writer_->exec("RELEASE op"); !fatal.ok()) return false;
      }
      continue;
    }
    tx.actions_.erase(tx.actions_.begin() + static_cast<std::ptrdiff_t>(mark), tx.actions_.end());
    results[i] = s;
    // Some errors (I/O, a full disk) roll back the whole transaction.
    if (sqlite3_get_autocommit(writer_->handle()) != 0) {
      fatal = s;
      return false;
    }
    if (atomic) {
      if (fatal = writer_->exec("ROLLBACK TO op"); !fatal.ok()) return false;
      if (fatal = writer_->exec("RELEASE op"); !fatal.ok()) return false;
    }
  }
  return true;
}

void Database::finish(std::vector<Op>& ops, std::vector<Status>& results) {
  for (size_t i = 0; i < ops.size(); ++i) {
    if (ops[i].waiter) {
      Waiter& waiter = *ops[i].waiter;
      {
        std::lock_guard lock(waiter.mutex);
        waiter.status = std::move(results[i]);
        waiter.done = true;
      }
      waiter.changed.notify_one();
    } else if (!results[i].ok()) {
      spdlog::error("{}: {} failed: {}", file_, ops[i].what, results[i].message());
    }
  }
}

StatusOr<std::unique_ptr<Connection>> Database::acquire_reader() {
  {
    std::lock_guard lock(readers_mutex_);
    if (!readers_.empty()) {
      auto connection = std::move(readers_.back());
      readers_.pop_back();
      return connection;
    }
  }
  return Connection::open(file_, Connection::Mode::kRead, settings_.durability);
}

void Database::release_reader(std::unique_ptr<Connection> connection) {
  std::lock_guard lock(readers_mutex_);
  readers_.push_back(std::move(connection));
}

}  // namespace dtq::embedded
