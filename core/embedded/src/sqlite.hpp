// Thin RAII over the SQLite C API: a Connection that caches its prepared
// statements, and a Query that binds, steps and resets one of them. Errors
// come back as Status naming the database file and SQLite's own message.
//
// Thread-safety: a Connection (and its Queries) is used by one thread at a
// time; the connections are opened without SQLite's own mutex.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "dtq/core/status.hpp"
#include "dtq/embedded/embedded_backends.hpp"

namespace dtq::embedded {

// Lets string-keyed hash maps be searched with a string_view.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view text) const noexcept {
    return std::hash<std::string_view>{}(text);
  }
};

// Maps an SQLite result code to a Status: contention and I/O trouble are
// kUnavailable (worth retrying), everything else kInternal.
Status sqlite_error(int code, std::string message);

class Connection {
 public:
  enum class Mode { kWrite, kRead };

  static StatusOr<std::unique_ptr<Connection>> open(const std::filesystem::path& file, Mode mode,
                                                    Durability durability);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sqlite3* handle() const noexcept { return db_; }
  const std::string& file() const noexcept { return file_; }

  // Runs statements that return no rows (DDL, BEGIN, PRAGMA assignments).
  Status exec(const char* sql);
  // The cached prepared statement for `sql`, preparing it on first use.
  StatusOr<sqlite3_stmt*> prepare(std::string_view sql);
  // The connection's last error, as "<file>: <what>: <sqlite message>".
  Status error(std::string_view what) const;
  Status error(std::string_view what, int code) const;

 private:
  Connection(sqlite3* db, std::string file) : db_(db), file_(std::move(file)) {}

  sqlite3* db_;
  std::string file_;
  std::unordered_map<std::string, sqlite3_stmt*, StringHash, std::equal_to<>> statements_;
};

// One execution of a cached statement. Text is bound without copying, so
// bound values must outlive the Query. The statement is reset on destruction.
class Query {
 public:
  Query(Connection& connection, std::string_view sql);
  ~Query();
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  Query& bind(std::string_view text);
  Query& bind(int64_t value);

  // True when a row is available, false when done.
  StatusOr<bool> step();
  // Steps to completion; for statements that return no rows.
  Status run();
  // Steps once; NotFound (with `missing`) when there is no row.
  Status first_row(std::string_view missing);

  std::string_view text(int column) const;
  int64_t integer(int column) const;
  // Rows changed by the last run().
  int changes() const { return sqlite3_changes(connection_.handle()); }
  int extended_error() const { return last_code_; }

 private:
  Connection& connection_;
  sqlite3_stmt* statement_ = nullptr;
  Status status_;
  int next_parameter_ = 1;
  int last_code_ = SQLITE_OK;
};

}  // namespace dtq::embedded
