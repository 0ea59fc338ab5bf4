// The hiredis layer of the Redis backend: replies copied out of hiredis,
// one connection, and a pool of them that reconnects with backoff. Nothing
// outside backends/redis/src sees hiredis.
//
// Error policy: every failure is a Status. An I/O error or a timeout closes
// the connection (hiredis cannot reuse it); the next use reconnects.
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "dtq/core/status.hpp"
#include "dtq/core/thread_annotations.hpp"
#include "dtq/redis/redis_settings.hpp"

struct redisContext;

namespace dtq::redis {

// A reply, copied out of hiredis' reply tree.
struct Reply {
  enum class Type { kNil, kString, kInteger, kArray, kStatus, kError };
  Type type = Type::kNil;
  std::string text;  // kString, kStatus, kError
  int64_t integer = 0;
  std::vector<Reply> elements;

  bool is_error() const { return type == Type::kError; }
  bool is_nil() const { return type == Type::kNil; }
};

using Args = std::span<const std::string_view>;

// One connection. Not thread-safe: one user at a time.
class Connection {
 public:
  explicit Connection(const RedisSettings& settings) : settings_(settings) {}
  ~Connection() { close(); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Connects, authenticates and selects the database; closes first.
  Status connect();
  bool connected() const { return context_ != nullptr; }
  void close();

  // One round trip. A Redis error reply is a Reply of type kError, not a
  // failed Status; a failed Status means the connection is gone (closed).
  StatusOr<Reply> command(Args args);
  StatusOr<Reply> command(std::initializer_list<std::string_view> args) {
    return command(Args(args.begin(), args.size()));
  }

  // Every command in one write, then their replies in order: one round
  // trip for all. Fails as command() does, for the whole pipeline.
  StatusOr<std::vector<Reply>> pipeline(std::span<const Args> commands);

  // Pipelined use without blocking reads (the pub/sub connection): queue,
  // write, and take replies as they arrive. fd() is for poll().
  Status append(Args args);
  Status flush();
  Status read_available();                      // after poll() said readable
  StatusOr<std::optional<Reply>> next_reply();  // from what was read; no I/O
  int fd() const;

 private:
  // The TLS handshake on the connected socket (settings_.tls).
  Status start_tls();
  Status io_failure(std::string_view what);  // closes; Unavailable or DeadlineExceeded

  const RedisSettings& settings_;
  redisContext* context_ = nullptr;
};

// A Lua script run by EVALSHA; its SHA-1 is learnt from SCRIPT LOAD.
struct Script {
  const char* name;
  const char* source;
};

// Connections for commands, shared by every thread. A lost connection is
// reconnected on its next use; connect failures back off (shared by the
// whole pool), and while backing off calls fail at once with Unavailable.
//
// Thread-safety: every member function is thread-safe.
class ConnectionPool {
 public:
  explicit ConnectionPool(RedisSettings settings);
  ~ConnectionPool();

  // Runs one command. When the connection turns out to be lost (a server
  // restart), reconnects and tries once more: every command dtq sends is
  // idempotent.
  StatusOr<Reply> run(Args args);
  StatusOr<Reply> run(std::initializer_list<std::string_view> args) {
    return run(Args(args.begin(), args.size()));
  }
  // EVALSHA, loading the script on NOSCRIPT (a restarted or flushed server).
  StatusOr<Reply> eval(const Script& script, Args keys, Args args);
  // One script's runs, pipelined on one connection: one round trip for
  // all, their replies in order. Retried whole (on a fresh connection, or
  // after loading the script) as run() and eval() retry one command.
  struct ScriptRun {
    std::vector<std::string_view> keys;
    std::vector<std::string_view> args;
  };
  StatusOr<std::vector<Reply>> eval_pipelined(const Script& script,
                                              std::span<const ScriptRun> runs);
  StatusOr<Reply> eval(const Script& script, std::initializer_list<std::string_view> keys,
                       Args args) {
    return eval(script, Args(keys.begin(), keys.size()), args);
  }

  const RedisSettings& settings() const { return settings_; }

 private:
  struct Slot {
    std::unique_ptr<Connection> connection;
    bool busy = false;  // mutex_'s
  };
  class Lease;

  StatusOr<Slot*> acquire();
  void release(Slot* slot);
  // These reach the server: never under mutex_, which every command takes.
  // Connects `connection` unless the pool is backing off.
  Status reconnect(Connection& connection) DTQ_EXCLUDES(mutex_);
  // `use` (one round trip on `connection`, answering a StatusOr), after
  // connecting `connection` when it is closed. A connection that turns out
  // to have been lost (a server restart) gets one more try, fresh; a
  // timeout is not retried.
  template <class Use>
  std::invoke_result_t<Use> with_reconnect(Connection& connection, Use use) DTQ_EXCLUDES(mutex_);
  StatusOr<Reply> run_on(Connection& connection, Args args) DTQ_EXCLUDES(mutex_);
  StatusOr<std::vector<Reply>> pipeline_on(Connection& connection, std::span<const Args> commands)
      DTQ_EXCLUDES(mutex_);
  // The script's SHA-1 as learnt so far; "" before the first SCRIPT LOAD.
  std::string known_sha(const Script& script) DTQ_EXCLUDES(mutex_);
  StatusOr<std::string> load(Connection& connection, const Script& script) DTQ_EXCLUDES(mutex_);

  const RedisSettings settings_;
  Mutex mutex_;
  CondVar released_;
  std::vector<Slot> slots_ DTQ_GUARDED_BY(mutex_);
  // Reconnect backoff and outage reporting (one log line per outage).
  uint32_t failures_ DTQ_GUARDED_BY(mutex_) = 0;
  std::chrono::steady_clock::time_point next_attempt_ DTQ_GUARDED_BY(mutex_){};
  bool reported_down_ DTQ_GUARDED_BY(mutex_) = false;
  // Learnt from SCRIPT LOAD.
  std::vector<std::pair<const Script*, std::string>> shas_ DTQ_GUARDED_BY(mutex_);
};

// Reads an integer out of a reply (kInteger, or kString holding digits).
std::optional<int64_t> reply_integer(const Reply& reply);

}  // namespace dtq::redis
