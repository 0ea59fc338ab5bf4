// MongoSettings: which MongoDB the result store talks to and how. A plain
// value: the caller fills it (from flags, the environment, a URI it was
// given); nothing here reads configuration.
//
// Thread-safety: a value type.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "dtq/core/retention.hpp"
#include "dtq/core/status.hpp"

namespace dtq::mongo {

// How many servers must have a write before put() returns.
enum class WriteAcknowledgement {
  kMajority,  // w: "majority" (DESIGN §5: a result is durable once stored)
  kPrimary,   // w: 1
};

struct MongoSettings {
  // A MongoDB connection string: hosts, credentials, replica set, TLS
  // (mongodb://user:pass@host1:27017,host2:27017/?replicaSet=rs0&tls=true).
  // The driver reads it; its path (the authentication database) does not
  // choose where results go: `database` and `collection` do. The options
  // below override the same options in the URI.
  std::string uri = "mongodb://127.0.0.1:27017";
  std::string database = "dtq";            // DESIGN §2
  std::string collection = "job_results";  // DESIGN §2
  // The job history beside the results (MongoResultStore::history()).
  std::string history_collection = "job_events";

  // Write concern of every insert: acknowledged by a majority (default) or
  // the primary only, journaled or not, and how long a majority may take
  // before the write is reported as not durable (Unavailable).
  WriteAcknowledgement write_acknowledgement = WriteAcknowledgement::kMajority;
  bool journal = true;
  std::chrono::milliseconds write_timeout{10000};

  // How long an operation waits for a usable server (start-up included);
  // past it the operation fails with Unavailable.
  std::chrono::milliseconds server_selection_timeout{5000};
  std::chrono::milliseconds connect_timeout{2000};
  // Bound on one network round trip.
  std::chrono::milliseconds socket_timeout{10000};
  // How often the driver's monitor checks each server (at least 500 ms); a
  // restarted server is found again within about this long.
  std::chrono::milliseconds heartbeat_frequency{2000};
  // Clients (connections) in the pool; callers beyond it wait for one.
  uint32_t max_pool_size = 16;
  std::string app_name = "dtq";  // shown in the server's logs and currentOp

  // Retention (dtq/core/retention.hpp): every stored result carries
  // expire_at = completed_at + retention.finished_for(job_type), which the
  // TTL index expire_at_1 expires on a server that has TTL indexes.
  RetentionPolicy retention;
  // How often this process deletes the results whose expire_at has passed,
  // at most trim_batch per round (another round at once after a full one);
  // zero: never (the workers trim; the API only writes expire_at). It bounds
  // how late a result goes where the server's TTL monitor (every 60 s)
  // lags, and is the only trim on servers without TTL indexes (FerretDB).
  std::chrono::milliseconds trim_interval{0};
  uint32_t trim_batch = 1000;

  // InvalidArgument naming the first field out of range.
  Status validate() const;
};

}  // namespace dtq::mongo
