#include "sqlite_status_store.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <exception>

#include "dtq/core/time.hpp"

namespace dtq::embedded {
namespace {

// Statuses kept in the owner's memory once written: enough that the jobs
// in flight and the ones that just ended are served without SQL.
constexpr size_t kCachedStatuses = 10'000;

constexpr const char* kStatusColumns =
    "state, progress_percent, updated_at, message, trace_id, job_type, error_code, error_message, "
    "attempt, priority";

// A row that cannot be read is logged and treated as absent, so that the
// next update replaces it. Reads kStatusColumns from column `first`.
std::optional<JobStatus> read_status_row(const Query& query, int first,
                                         const Connection& connection, std::string_view job_id) {
  const auto column = [first](int index) { return first + index; };
  const auto state = parse_job_state(query.text(column(0)));
  const int64_t progress = query.integer(column(1));
  if (!state || progress < 0 || progress > 100) {
    spdlog::error("{}: status of job {} is unreadable (state \"{}\", progress {}) and ignored",
                  connection.file(), job_id, query.text(column(0)), progress);
    return std::nullopt;
  }
  return JobStatus{
      .job_id = std::string(job_id),
      .state = *state,
      .progress_percent = static_cast<int>(progress),
      .updated_at = std::string(query.text(column(2))),
      .message = std::string(query.text(column(3))),
      .trace_id = std::string(query.text(column(4))),
      .job_type = std::string(query.text(column(5))),
      .error_code = std::string(query.text(column(6))),
      .error_message = std::string(query.text(column(7))),
      .attempt = static_cast<uint32_t>(std::max<int64_t>(query.integer(column(8)), 0)),
      // Rows written before priorities read as the default.
      .priority = parse_job_priority(query.text(column(9))).value_or(JobPriority::kNormal)};
}

struct StatusRow {
  JobStatus status;
  int64_t rowid = 0;
};

StatusOr<std::optional<StatusRow>> select_status_row(Connection& connection,
                                                     std::string_view job_id) {
  Query query(connection,
              std::string("SELECT ") + kStatusColumns + ", rowid FROM job_status WHERE job_id = ?");
  auto row = query.bind(job_id).step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<StatusRow>();
  auto status = read_status_row(query, 0, connection, job_id);
  if (!status) return std::optional<StatusRow>();
  constexpr int kRowidColumn = 10;  // after the ten status columns
  return std::optional<StatusRow>(
      StatusRow{.status = std::move(*status), .rowid = query.integer(kRowidColumn)});
}

StatusOr<std::optional<JobStatus>> select_status(Connection& connection, std::string_view job_id) {
  auto row = select_status_row(connection, job_id);
  if (!row.ok()) return row.status();
  if (!row->has_value()) return std::optional<JobStatus>();
  return std::optional<JobStatus>(std::move((*row)->status));
}

// Newest first is rowid order: a job's row is inserted by its first status,
// "queued", written before the job is enqueued. A cursor is the rowid of the
// last status of a page; the next page starts strictly below it.
StatusOr<StatusPage> select_page(Connection& connection, const StatusListQuery& request) {
  int64_t below = std::numeric_limits<int64_t>::max();
  if (!request.cursor.empty()) {
    const auto& text = request.cursor;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), below);
    if (error != std::errc() || end != text.data() + text.size() || below <= 0) {
      return invalid_argument("malformed cursor");
    }
  }
  const std::string state = request.state ? std::string(to_string(*request.state)) : std::string();
  // One statement per filter, each with a plain equality the planner can
  // serve from its index ("? = '' OR state = ?" would scan every row).
  std::string where = "rowid < ?";
  if (!state.empty()) where += " AND state = ?";
  if (!request.job_type.empty()) where += " AND job_type = ?";
  Query query(connection, std::string("SELECT job_id, ") + kStatusColumns +
                              ", rowid FROM job_status WHERE " + where +
                              " ORDER BY rowid DESC LIMIT ?");
  query.bind(below);
  if (!state.empty()) query.bind(state);
  if (!request.job_type.empty()) query.bind(request.job_type);
  // One row past the page says whether there is a next one.
  query.bind(static_cast<int64_t>(request.limit + 1));
  constexpr int kRowidColumn = 11;  // after job_id and the ten status columns
  StatusPage page;
  size_t rows = 0;
  int64_t last_rowid = 0;
  bool more = false;
  while (true) {
    auto row = query.step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    if (rows == request.limit) {
      more = true;
      break;
    }
    ++rows;
    last_rowid = query.integer(kRowidColumn);
    // job_id comes first, so the status columns start at 1.
    const std::string job_id(query.text(0));
    if (auto status = read_status_row(query, 1, connection, job_id))
      page.statuses.push_back(std::move(*status));
  }
  if (more) page.next_cursor = std::to_string(last_rowid);
  return page;
}

// A row is terminal once completed, failed or cancelled. Spelled as three
// comparisons: "state NOT IN (...)" builds a temporary table for its list
// every time the statement runs, which cost the writer more than the update.
#define DTQ_NOT_TERMINAL(state) \
  state " <> 'completed' AND " state " <> 'failed' AND " state " <> 'cancelled'"

// Never replaces a terminal row: the owner's memory may not yet know that a
// client cancelled the job. Returns the row's rowid when it inserted one, 0
// when it updated a row or left a terminal one as it was. (Not RETURNING:
// like NOT IN, it builds a temporary table each time.)
StatusOr<int64_t> upsert_status(Connection& connection, const JobStatus& status) {
  Query query(
      connection,
      "INSERT INTO job_status(job_id, state, progress_percent, updated_at, message, trace_id, "
      "job_type, "
      "error_code, error_message, attempt, priority) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
      "ON CONFLICT(job_id) DO UPDATE SET state = excluded.state, "
      "progress_percent = excluded.progress_percent, updated_at = excluded.updated_at, "
      "message = excluded.message, trace_id = excluded.trace_id, job_type = excluded.job_type, "
      "error_code = excluded.error_code, error_message = excluded.error_message, attempt = "
      "excluded.attempt, "
      "priority = excluded.priority "
      "WHERE " DTQ_NOT_TERMINAL("job_status.state"));
  query.bind(status.job_id).bind(to_string(status.state)).bind(int64_t{status.progress_percent});
  query.bind(status.updated_at).bind(status.message).bind(status.trace_id).bind(status.job_type);
  query.bind(status.error_code).bind(status.error_message).bind(int64_t{status.attempt});
  query.bind(to_string(status.priority));
  // Only an insert sets it: an upsert that updates leaves it as it was.
  sqlite3_set_last_insert_rowid(connection.handle(), 0);
  if (Status s = query.run(); !s.ok()) return s;
  return sqlite3_last_insert_rowid(connection.handle());
}

// The update of a row known by its rowid whose job type is set: it leaves
// the job_id and job_type columns, and so their indexes, alone (an upsert
// rewrites every index of the table). False when no row was changed: the row
// is terminal (a client cancelled the job) or gone, and the upsert decides.
StatusOr<bool> update_typed_row(Connection& connection, const JobStatus& status, int64_t rowid) {
  Query query(connection,
              "UPDATE job_status SET state = ?, progress_percent = ?, updated_at = ?, message = ?, "
              "trace_id = ?, error_code = ?, error_message = ?, attempt = ?, priority = ? "
              "WHERE rowid = ? AND job_id = ? "
              "AND " DTQ_NOT_TERMINAL("state"));
  query.bind(to_string(status.state)).bind(int64_t{status.progress_percent});
  query.bind(status.updated_at).bind(status.message).bind(status.trace_id);
  query.bind(status.error_code).bind(status.error_message).bind(int64_t{status.attempt});
  query.bind(to_string(status.priority)).bind(rowid).bind(status.job_id);
  if (Status s = query.run(); !s.ok()) return s;
  return query.changes() == 1;
}

class Subscription final : public StatusSubscription {
 public:
  Subscription(std::shared_ptr<Subscribers> subscribers,
               std::shared_ptr<Subscribers::Subscriber> subscriber)
      : subscribers_(std::move(subscribers)), subscriber_(std::move(subscriber)) {}
  ~Subscription() override {
    if (subscriber_) subscribers_->remove(subscriber_);
  }
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

 private:
  std::shared_ptr<Subscribers> subscribers_;
  std::shared_ptr<Subscribers::Subscriber> subscriber_;  // null: never fires
};

}  // namespace

std::shared_ptr<Subscribers::Subscriber> Subscribers::add(
    std::string job_id, std::function<void(const JobStatus&)> on_change) {
  auto subscriber = std::make_shared<Subscriber>();
  subscriber->job_id = std::move(job_id);
  subscriber->on_change = std::move(on_change);
  std::lock_guard lock(mutex_);
  if (subscriber->job_id.empty()) {
    every_job_.push_back(subscriber);
  } else {
    by_job_.emplace(subscriber->job_id, subscriber);
  }
  ++count_;
  return subscriber;
}

void Subscribers::remove(const std::shared_ptr<Subscriber>& subscriber) {
  {
    std::lock_guard lock(mutex_);
    if (subscriber->job_id.empty()) {
      std::erase(every_job_, subscriber);
    } else {
      auto [first, last] = by_job_.equal_range(subscriber->job_id);
      for (auto it = first; it != last; ++it) {
        if (it->second == subscriber) {
          by_job_.erase(it);
          break;
        }
      }
    }
    --count_;
  }
  std::lock_guard calling(subscriber->calling);
  subscriber->active = false;
}

void Subscribers::deliver(const JobStatus& status) {
  std::vector<std::shared_ptr<Subscriber>> targets;
  {
    std::lock_guard lock(mutex_);
    auto [first, last] = by_job_.equal_range(status.job_id);
    for (auto it = first; it != last; ++it) targets.push_back(it->second);
    targets.insert(targets.end(), every_job_.begin(), every_job_.end());
  }
  for (const auto& target : targets) {
    std::lock_guard calling(target->calling);
    if (!target->active) continue;
    try {
      target->on_change(status);
    } catch (const std::exception& e) {
      spdlog::error("job_id={} status subscriber threw: {}", status.job_id, e.what());
    } catch (...) {
      spdlog::error("job_id={} status subscriber threw", status.job_id);
    }
  }
}

std::vector<std::string> Subscribers::job_ids() {
  std::vector<std::string> ids;
  std::lock_guard lock(mutex_);
  for (auto it = by_job_.begin(); it != by_job_.end(); it = by_job_.equal_range(it->first).second) {
    ids.push_back(it->first);
  }
  return ids;
}

namespace {
// How long the dispatcher gathers statuses before it calls the subscribers.
constexpr auto kDispatchWindow = std::chrono::microseconds(500);
}  // namespace

StatusOr<std::shared_ptr<SqliteStatusStore>> SqliteStatusStore::open(
    std::shared_ptr<Database> db, std::shared_ptr<Database> history) {
  std::shared_ptr<SqliteStatusStore> store(new SqliteStatusStore(std::move(db)));
  if (!store->db_->owner()) return store;
  if (Status s = store->db_->write([&](WriteTx& tx) { return store->load_cancel_requests(tx); });
      !s.ok()) {
    return s;
  }
  store->trimmer_ = std::make_unique<RetentionTrimmer>(
      store->db_, std::move(history),
      [s = store.get()](const std::vector<std::string>& job_ids) { s->forget(job_ids); });
  store->hook_ = store->db_->add_batch_hook([s = store.get()](WriteTx& tx) {
    const auto now = std::chrono::steady_clock::now();
    if (now < s->next_cancel_poll_) return;
    s->next_cancel_poll_ = now + s->db_->settings().poll_interval;
    if (Status loaded = s->load_cancel_requests(tx); !loaded.ok()) {
      spdlog::error("cannot load cancel requests from other processes: {}", loaded.message());
    }
  });
  return store;
}

SqliteStatusStore::SqliteStatusStore(std::shared_ptr<Database> db) : db_(std::move(db)) {
  events_thread_ = std::thread([this] {
    if (db_->owner()) {
      dispatch_loop();
    } else {
      poll_loop();
    }
  });
}

SqliteStatusStore::~SqliteStatusStore() {
  trimmer_.reset();
  if (hook_ != 0) db_->remove_batch_hook(hook_);
  // Queued status writes reference this object; let them finish.
  if (Status s = db_->flush(); !s.ok())
    spdlog::error("status writes not committed at close: {}", s.message());
  {
    std::lock_guard lock(events_mutex_);
    stopping_ = true;
  }
  events_changed_.notify_one();
  events_thread_.join();
}

StatusOr<JobStatus> SqliteStatusStore::update(const JobStatus& update) {
  if (update.job_id.empty()) return invalid_argument("status update without a job id");
  return db_->owner() ? update_in_memory(update) : update_in_sql(update);
}

StatusOr<JobStatus> SqliteStatusStore::update_durable(const JobStatus& update) {
  auto merged = this->update(update);
  if (!merged.ok() || !db_->owner()) return merged;  // a client's update() has committed
  // The write of a dirty entry is queued under the lock before update()
  // returns, so the flush waits for the round that carries it.
  if (Status flushed = db_->flush(); !flushed.ok()) return flushed;
  return merged;
}

std::vector<StatusOr<JobStatus>> SqliteStatusStore::update_durable_batch(
    std::span<const JobStatus> updates) {
  if (updates.empty()) return {};  // nothing to make durable: no commit to wait for
  std::vector<StatusOr<JobStatus>> merged;
  merged.reserve(updates.size());
  for (const auto& update : updates) merged.push_back(this->update(update));
  if (!db_->owner()) return merged;  // a client's update() has committed
  if (Status flushed = db_->flush(); !flushed.ok()) {
    for (auto& one : merged) {
      if (one.ok()) one = flushed;
    }
  }
  return merged;
}

StatusOr<JobStatus> SqliteStatusStore::update_in_memory(const JobStatus& update) {
  std::unique_lock lock(mutex_);
  auto it = live_.find(update.job_id);
  while (it != live_.end() && it->second.loading) {
    loaded_.wait(lock);
    it = live_.find(update.job_id);
  }
  bool created = false;
  if (it == live_.end()) {
    // Absent means any write of it has committed (entries are evicted only
    // once clean and written), so the row is the truth; the placeholder
    // keeps other updates of this job waiting until it is read.
    it = live_.emplace(update.job_id, Entry{.status = {.job_id = update.job_id}, .loading = true})
             .first;
    lock.unlock();
    auto stored = db_->read(
        [&](Connection& connection) { return select_status_row(connection, update.job_id); });
    lock.lock();
    it = live_.find(update.job_id);
    it->second.loading = false;
    loaded_.notify_all();
    if (!stored.ok()) {
      live_.erase(it);
      return stored.status();
    }
    if (stored->has_value()) {
      it->second.row = {.rowid = (*stored)->rowid, .typed = !(*stored)->status.job_type.empty()};
      it->second.status = std::move((*stored)->status);
    } else {
      created = true;
    }
  }
  Entry& entry = it->second;
  const bool was_terminal = is_terminal(entry.status.state);
  const bool visible = merge_status(entry.status, update) || created;
  if (!was_terminal && !entry.dirty) {
    entry.dirty = true;
    dirty_.push_back(update.job_id);
    if (!write_queued_) {
      // Queued under the lock: a later ack by any thread that saw this
      // update is queued behind the write that carries it.
      write_queued_ = true;
      db_->write_async([this](WriteTx& tx) { return write_dirty(tx); }, "writing job statuses");
    }
  }
  if (visible) publish(entry.status);
  return entry.status;
}

StatusOr<JobStatus> SqliteStatusStore::update_in_sql(const JobStatus& update) {
  JobStatus merged;
  const Status written = db_->write([&](WriteTx& tx) -> Status {
    auto current = select_status(tx.connection(), update.job_id);
    if (!current.ok()) return current.status();
    merged = current->has_value() ? std::move(**current) : JobStatus{.job_id = update.job_id};
    const bool was_terminal = current->has_value() && is_terminal(merged.state);
    merge_status(merged, update);
    if (was_terminal) return Status{};
    return upsert_status(tx.connection(), merged).status();
  });
  if (!written.ok()) return written;
  return merged;
}

Status SqliteStatusStore::write_dirty(WriteTx& tx) {
  std::vector<JobStatus> statuses;
  std::vector<std::string> ids;
  std::vector<Row> rows;
  {
    std::lock_guard lock(mutex_);
    write_queued_ = false;
    ids.swap(dirty_);
    statuses.reserve(ids.size());
    rows.reserve(ids.size());
    for (const auto& id : ids) {
      Entry& entry = live_.find(id)->second;  // dirty entries are never evicted
      entry.dirty = false;
      statuses.push_back(entry.status);
      rows.push_back(entry.row);
    }
  }
  for (size_t i = 0; i < statuses.size(); ++i) {
    const JobStatus& status = statuses[i];
    Row& row = rows[i];
    if (row.typed) {
      auto updated = update_typed_row(tx.connection(), status, row.rowid);
      if (!updated.ok()) return updated.status();
      if (*updated) continue;
    }
    auto written = upsert_status(tx.connection(), status);
    if (!written.ok()) return written.status();
    row = {.rowid = *written, .typed = *written != 0 && !status.job_type.empty()};
  }
  tx.after_commit([this, ids = std::move(ids), rows = std::move(rows)]() mutable {
    evict_written(std::move(ids), rows);
  });
  return {};
}

void SqliteStatusStore::evict_written(std::vector<std::string> written,
                                      const std::vector<Row>& rows) {
  std::lock_guard lock(mutex_);
  for (size_t i = 0; i < written.size(); ++i) {
    // Only now, committed, is the row there to be updated by its rowid.
    if (const auto it = live_.find(written[i]); it != live_.end() && !it->second.loading)
      it->second.row = rows[i];
  }
  for (auto& id : written) written_order_.push_back(std::move(id));
  // Repeated writes of the same hot jobs would grow the order without
  // growing live_: it is bounded too.
  while (!written_order_.empty() &&
         (live_.size() > kCachedStatuses || written_order_.size() > 4 * kCachedStatuses)) {
    const auto it = live_.find(written_order_.front());
    if (it != live_.end() && !it->second.dirty && !it->second.loading) live_.erase(it);
    written_order_.pop_front();
  }
}

StatusOr<JobStatus> SqliteStatusStore::get(std::string_view job_id) {
  if (db_->owner()) {
    std::lock_guard lock(mutex_);
    if (const auto it = live_.find(job_id); it != live_.end() && !it->second.loading)
      return it->second.status;
  }
  auto stored =
      db_->read([&](Connection& connection) { return select_status(connection, job_id); });
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return not_found("no status for job " + std::string(job_id));
  return std::move(**stored);
}

StatusOr<StatusPage> SqliteStatusStore::list(const StatusListQuery& query) {
  if (query.limit == 0) return StatusPage{};
  if (db_->owner()) {
    if (Status s = db_->flush(); !s.ok()) return s;
  }
  return db_->read([&](Connection& connection) { return select_page(connection, query); });
}

std::unique_ptr<StatusSubscription> SqliteStatusStore::subscribe(
    std::string job_id, std::function<void(const JobStatus&)> on_change) {
  if (job_id.empty() && !db_->owner()) {
    spdlog::error(
        "{}: a status subscription to every job needs the owning process; this one never fires",
        db_->file());
    return std::make_unique<Subscription>(subscribers_, nullptr);
  }
  return std::make_unique<Subscription>(subscribers_,
                                        subscribers_->add(std::move(job_id), std::move(on_change)));
}

void SqliteStatusStore::publish(const JobStatus& status) {
  if (subscribers_->empty()) return;
  bool wake = false;
  {
    std::lock_guard lock(events_mutex_);
    events_.push_back(status);
    wake = dispatcher_idle_ && events_.size() == 1;
  }
  // Only an idle dispatcher sleeps until woken; a gathering one wakes by
  // itself at the end of its window.
  if (wake) events_changed_.notify_one();
}

void SqliteStatusStore::dispatch_loop() {
  std::vector<JobStatus> batch;
  std::unique_lock lock(events_mutex_);
  while (true) {
    dispatcher_idle_ = true;
    events_changed_.wait(lock, [this] { return stopping_ || !events_.empty(); });
    if (events_.empty()) return;
    // A busy engine publishes a status every few microseconds: gathering
    // them for kDispatchWindow costs each a wake-up of this thread per
    // window instead of one per status (a context switch each, the most
    // expensive thing a job does on a virtual machine).
    dispatcher_idle_ = false;
    events_changed_.wait_for(lock, kDispatchWindow, [this] { return stopping_; });
    batch.swap(events_);
    lock.unlock();
    for (const auto& status : batch) subscribers_->deliver(status);
    batch.clear();
    lock.lock();
  }
}

void SqliteStatusStore::poll_loop() {
  std::unordered_map<std::string, JobStatus> delivered;
  std::unique_lock lock(events_mutex_);
  while (!events_changed_.wait_for(lock, db_->settings().poll_interval,
                                   [this] { return stopping_; })) {
    lock.unlock();
    std::unordered_map<std::string, JobStatus> seen;
    for (auto& id : subscribers_->job_ids()) {
      auto stored =
          db_->read([&](Connection& connection) { return select_status(connection, id); });
      if (!stored.ok()) {
        spdlog::warn("job_id={} status not polled: {}", id, stored.status().message());
        continue;
      }
      if (!stored->has_value()) continue;
      const auto previous = delivered.find(id);
      if (previous == delivered.end() || previous->second != **stored)
        subscribers_->deliver(**stored);
      seen.emplace(std::move(id), std::move(**stored));
    }
    delivered.swap(seen);
    lock.lock();
  }
}

Status SqliteStatusStore::request_cancel(std::string_view job_id) {
  if (job_id.empty()) return invalid_argument("cancel request without a job id");
  const std::string id(job_id);
  const std::string requested_at = now_rfc3339();
  return db_->write([&](WriteTx& tx) -> Status {
    Query query(tx.connection(),
                "INSERT INTO cancel_requests(job_id, requested_at) VALUES(?, ?) ON "
                "CONFLICT(job_id) DO NOTHING");
    if (Status s = query.bind(id).bind(requested_at).run(); !s.ok()) return s;
    if (db_->owner()) {
      tx.after_commit([this, id] {
        std::lock_guard lock(mutex_);
        cancels_.insert(id);
      });
    }
    return {};
  });
}

bool SqliteStatusStore::cancel_requested(std::string_view job_id) {
  if (db_->owner()) {
    std::lock_guard lock(mutex_);
    return cancels_.find(job_id) != cancels_.end();
  }
  auto requested = db_->read([&](Connection& connection) -> StatusOr<bool> {
    Query query(connection, "SELECT 1 FROM cancel_requests WHERE job_id = ?");
    return query.bind(job_id).step();
  });
  if (!requested.ok()) {
    spdlog::error("job_id={} cannot read cancel requests: {}", job_id,
                  requested.status().message());
    return false;
  }
  return *requested;
}

void SqliteStatusStore::forget(const std::vector<std::string>& job_ids) {
  std::lock_guard lock(mutex_);
  for (const auto& id : job_ids) {
    cancels_.erase(id);
    const auto it = live_.find(id);
    if (it != live_.end() && !it->second.dirty && !it->second.loading) live_.erase(it);
  }
}

Status SqliteStatusStore::load_cancel_requests(WriteTx& tx) {
  std::vector<std::string> requested;
  {
    Query query(tx.connection(),
                "SELECT rowid, job_id FROM cancel_requests WHERE rowid > ? ORDER BY rowid");
    query.bind(last_cancel_rowid_);
    while (true) {
      auto row = query.step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      last_cancel_rowid_ = query.integer(0);
      requested.emplace_back(query.text(1));
    }
  }
  if (requested.empty()) return {};
  std::vector<std::string> held;  // live jobs whose row a client may have changed with the request
  {
    std::lock_guard lock(mutex_);
    for (const auto& id : requested) {
      cancels_.insert(id);
      const auto it = live_.find(id);
      if (it != live_.end() && !it->second.loading && !is_terminal(it->second.status.state))
        held.push_back(id);
    }
  }
  for (const auto& id : held) {
    auto stored = select_status(tx.connection(), id);
    if (!stored.ok()) return stored.status();
    if (!stored->has_value()) continue;
    std::lock_guard lock(mutex_);
    const auto it = live_.find(id);
    if (it != live_.end() && !it->second.loading && merge_status(it->second.status, **stored)) {
      publish(it->second.status);
    }
  }
  return {};
}

}  // namespace dtq::embedded
