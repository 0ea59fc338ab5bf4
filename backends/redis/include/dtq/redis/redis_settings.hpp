// RedisSettings: where the Redis server is and how dtq talks to it. A plain
// value: the caller fills it (from a URI, flags, the environment); nothing
// here reads configuration.
//
// Thread-safety: a value type.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "dtq/core/status.hpp"

namespace dtq::redis {

// TLS to the server (rediss://), as managed Redis (Azure Cache for Redis)
// requires. The server's certificate is always verified: against ca_file,
// or the system's trust store when it is empty, and for the name the client
// connected to (server_name, or host), whether a DNS name or an address.
struct RedisTls {
  bool enabled = false;
  std::string ca_file;    // PEM; empty: the system's trust store
  std::string cert_file;  // a client certificate (mutual TLS), with key_file
  std::string key_file;
  std::string server_name;  // SNI and the name verified; empty: host
};

struct RedisSettings {
  std::string host = "127.0.0.1";
  uint16_t port = 6379;
  std::string username;  // Redis 6 ACL user; empty: AUTH with the password only
  std::string password;  // empty: no AUTH. Never logged.
  int db = 0;            // SELECT on every connection (pub/sub channels span all dbs)
  RedisTls tls;

  // How long a job's status (and its cancel request) lives after its last
  // update (DESIGN §2: 24 h).
  std::chrono::seconds status_ttl = std::chrono::hours(24);

  std::chrono::milliseconds connect_timeout{2000};
  // Bound on one round trip; a command that takes longer fails with
  // DeadlineExceeded and its connection is replaced.
  std::chrono::milliseconds command_timeout{2000};
  // After a failed connect, the next attempt waits reconnect_backoff_min,
  // doubling up to reconnect_backoff_max (with jitter); meanwhile calls fail
  // at once with Unavailable instead of piling up on a dead server.
  std::chrono::milliseconds reconnect_backoff_min{50};
  std::chrono::milliseconds reconnect_backoff_max{2000};

  // Connections for commands; calls beyond them wait for a free one (up to
  // command_timeout). Live events use one more connection, opened on the
  // first subscription.
  size_t pool_size = 4;

  // InvalidArgument naming the first field out of range.
  Status validate() const;
  // host:port/db (and "over TLS"), for messages (never the credentials).
  std::string describe() const;
};

}  // namespace dtq::redis
