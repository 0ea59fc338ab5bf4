// MongoResults: what a dtq process holds of the MongoDB result store: the
// ResultStore port, the job history beside it, a health check and a
// description for messages. MongoResultStore implements it; the dtq binary
// sees only this interface, so that libmongoc can stay in a module loaded
// when MongoDB is configured (mongo_module.hpp).
//
// Thread-safety: every member function is thread-safe.
//
// Ownership: the caller owns the store; history() is owned by it.
#pragma once

#include <string>

#include "dtq/core/ports/job_history.hpp"
#include "dtq/core/ports/result_store.hpp"
#include "dtq/core/status.hpp"

namespace dtq::mongo {

class MongoResults : public ResultStore {
 public:
  // The job history in the results' database (dtq.job_events).
  virtual JobHistory& history() = 0;
  // One round trip ({ping: 1}), for readiness checks.
  virtual Status ping() = 0;
  // "host:port,…/database.collection", for messages (never the credentials).
  [[nodiscard]] virtual const std::string& describe() const = 0;
};

}  // namespace dtq::mongo
