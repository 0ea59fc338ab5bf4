#include "sqlite.hpp"

#include <mutex>

namespace dtq::embedded {

Status sqlite_error(int code, std::string message) {
  switch (code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PROTOCOL:
      return unavailable(std::move(message));
    default:
      return internal_error(std::move(message));
  }
}

StatusOr<std::unique_ptr<Connection>> Connection::open(const std::filesystem::path& file, Mode mode,
                                                       Durability durability) {
  // SQLite counts the memory it allocates under one process-wide mutex,
  // taken on every malloc and free: the writer and the readers queued on it
  // (a tenth of the engine's lock waits). Nothing here reads the counts.
  // Only possible before SQLite initializes; refused (and harmless) after.
  // Nor does SQLite hand each new connection's page cache a bulk of 20
  // pages up front: a dozen connections, most of them idle readers, held
  // them for nothing; pages are allocated as they are read.
  static std::once_flag configured;
  std::call_once(configured, [] {
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    (void)sqlite3_config(SQLITE_CONFIG_PAGECACHE, nullptr, 0, 0);
  });
  sqlite3* db = nullptr;
  // Each connection is confined to one thread at a time by its owner, so
  // SQLite's per-connection mutex would only cost.
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  const int code = sqlite3_open_v2(file.c_str(), &db, flags, nullptr);
  if (code != SQLITE_OK) {
    std::string message = file.string() + ": cannot open database: " +
                          (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(code));
    sqlite3_close_v2(db);
    return sqlite_error(code, std::move(message));
  }
  sqlite3_extended_result_codes(db, 1);
  std::unique_ptr<Connection> connection(new Connection(db, file.string()));
  // WAL lets readers run beside the writer; NORMAL syncs the WAL only at
  // checkpoints, which keeps every commit through a process crash, and FULL
  // syncs at each commit for power loss. A writer's large page cache keeps
  // the indexes of a long queue in memory. Readers are pooled, as many as
  // were ever busy at once, and each fills its own cache: a small one each
  // bounds their sum (the kernel's page cache still holds the file).
  std::string setup = durability == Durability::kFull
                          ? "PRAGMA busy_timeout=5000; PRAGMA synchronous=FULL;"
                          : "PRAGMA busy_timeout=5000; PRAGMA synchronous=NORMAL;";
  setup += mode == Mode::kWrite ? "PRAGMA cache_size=-65536;" : "PRAGMA cache_size=-8192;";
  setup += "PRAGMA temp_store=MEMORY;";
  if (Status s = connection->exec(setup.c_str()); !s.ok()) return s;
  if (mode == Mode::kRead) {
    if (Status s = connection->exec("PRAGMA query_only=1;"); !s.ok()) return s;
  }
  return connection;
}

Connection::~Connection() {
  for (auto& [sql, statement] : statements_) sqlite3_finalize(statement);
  sqlite3_close_v2(db_);
}

Status Connection::exec(const char* sql) {
  char* message = nullptr;
  const int code = sqlite3_exec(db_, sql, nullptr, nullptr, &message);
  if (code == SQLITE_OK) return {};
  Status status = sqlite_error(
      code, file_ + ": " + sql + ": " + (message != nullptr ? message : sqlite3_errstr(code)));
  sqlite3_free(message);
  return status;
}

StatusOr<sqlite3_stmt*> Connection::prepare(std::string_view sql) {
  if (auto it = statements_.find(sql); it != statements_.end()) return it->second;
  sqlite3_stmt* statement = nullptr;
  const int code = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &statement, nullptr);
  if (code != SQLITE_OK) return error("cannot prepare \"" + std::string(sql) + "\"", code);
  statements_.emplace(std::string(sql), statement);
  return statement;
}

Status Connection::error(std::string_view what) const {
  return error(what, sqlite3_extended_errcode(db_));
}

Status Connection::error(std::string_view what, int code) const {
  return sqlite_error(code, file_ + ": " + std::string(what) + ": " + sqlite3_errmsg(db_));
}

Query::Query(Connection& connection, std::string_view sql) : connection_(connection) {
  auto prepared = connection.prepare(sql);
  if (prepared.ok()) {
    statement_ = *prepared;
  } else {
    status_ = prepared.status();
  }
}

Query::~Query() {
  if (statement_ == nullptr) return;
  sqlite3_reset(statement_);
  sqlite3_clear_bindings(statement_);
}

Query& Query::bind(std::string_view text) {
  if (statement_ != nullptr && status_.ok()) {
    const int code = sqlite3_bind_text(statement_, next_parameter_, text.data(),
                                       static_cast<int>(text.size()), SQLITE_STATIC);
    if (code != SQLITE_OK) status_ = connection_.error("cannot bind a parameter", code);
  }
  ++next_parameter_;
  return *this;
}

Query& Query::bind(int64_t value) {
  if (statement_ != nullptr && status_.ok()) {
    const int code = sqlite3_bind_int64(statement_, next_parameter_, value);
    if (code != SQLITE_OK) status_ = connection_.error("cannot bind a parameter", code);
  }
  ++next_parameter_;
  return *this;
}

StatusOr<bool> Query::step() {
  if (!status_.ok()) return status_;
  last_code_ = sqlite3_step(statement_);
  if (last_code_ == SQLITE_ROW) return true;
  if (last_code_ == SQLITE_DONE) return false;
  last_code_ = sqlite3_extended_errcode(connection_.handle());
  return connection_.error(std::string("\"") + sqlite3_sql(statement_) + "\" failed", last_code_);
}

Status Query::run() {
  while (true) {
    auto row = step();
    if (!row.ok()) return row.status();
    if (!*row) return {};
  }
}

Status Query::first_row(std::string_view missing) {
  auto row = step();
  if (!row.ok()) return row.status();
  if (!*row) return not_found(std::string(missing));
  return {};
}

std::string_view Query::text(int column) const {
  const auto* data = sqlite3_column_text(statement_, column);
  if (data == nullptr) return {};
  return {reinterpret_cast<const char*>(data),
          static_cast<size_t>(sqlite3_column_bytes(statement_, column))};
}

int64_t Query::integer(int column) const {
  return sqlite3_column_int64(statement_, column);
}

}  // namespace dtq::embedded
