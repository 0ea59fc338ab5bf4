// MongoResultStore: the distributed ResultStore (core/include/dtq/core/ports/
// result_store.hpp) on MongoDB, through libmongoc; the MongoResults of
// mongo_results.hpp. The dtq binary reaches it through the module of
// mongo_module.hpp, never by linking it.
//
// What it stores (DESIGN §2; docs/distributed.md has the details): one
// document per job in <database>.<collection> (dtq.job_results) with exactly
// the contract's fields, beside MongoDB's own _id:
//   schema_version, job_id, job_type  strings
//   input                             the payload, an embedded document
//   output                            an embedded document, or null unless completed
//   final_state                       "completed" | "failed" | "cancelled"
//   started_at, completed_at          BSON dates (UTC, ms); started_at null if it never ran
//   error                             {code, message}, or null
//   trace_id                          string
//   expire_at                         BSON date: completed_at + the retention of
//                                     its job type (dtq's own, for the trim)
// (JobResult::attempts is dtq's own and is not stored: get() answers 0.)
// connect() creates the unique index {job_id: 1} (job_id_1), the index
// {completed_at: -1} (completed_at_-1) and the TTL index {expire_at: 1}
// with expireAfterSeconds 0 (expire_at_1) when they are missing, and
// refuses to start when an index of that name exists with other options. A
// server without TTL indexes (FerretDB) gets expire_at_1 as a plain index.
//
// Retention: MongoDB's TTL monitor deletes a document within about a
// minute of its expire_at. With settings.trim_interval set (the workers),
// the store also deletes expired documents itself, in batches of
// settings.trim_batch, on a thread of its own: the only trim where the
// server has no TTL indexes, and a bound on lateness where it has.
//
// Written once per job id: put() is an insert; the unique index refuses a
// second document and put() then answers false (already stored), so a
// replayed or redelivered job never creates a second document. put_batch()
// is one unordered insert_many: each duplicate is reported in its own flag
// while the others are stored. Writes use the settings' write concern
// (majority, journaled by default).
//
// Failures: every call returns a Status, nothing throws. Unavailable while
// no server can be selected within settings.server_selection_timeout, or
// when the write concern was not satisfied in time; InvalidArgument for a
// result MongoDB cannot hold (a key with '.' or a leading '$' in its input
// or output, a malformed timestamp). A call that finds its connection dead
// (a server restart) is tried once more on a fresh one; should the first
// attempt's insert have landed, the retry reports that result as already
// stored (false), which is still exactly one document. One warning is
// logged per outage, and one line when it ends.
//
// Thread-safety: every member function is thread-safe; calls run in
// parallel on a pool of up to settings.max_pool_size clients
// (mongoc_client_pool_t).
//
// Ownership: the store owns its client pool and its trim thread (stopped
// by the destructor); libmongoc is initialised once per process and its
// log lines go to spdlog.
#pragma once

#include <atomic>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "dtq/core/ports/job_history.hpp"
#include "dtq/core/ports/result_store.hpp"
#include "dtq/core/thread_annotations.hpp"
#include "dtq/mongo/mongo_results.hpp"
#include "dtq/mongo/mongo_settings.hpp"

namespace dtq::mongo {

class MongoResultStore final : public MongoResults {
 public:
  // Checks the settings, waits for a server (up to
  // settings.server_selection_timeout) and ensures the indexes.
  // InvalidArgument for bad settings, Unavailable naming the hosts when no
  // server answers, FailedPrecondition when the indexes conflict or the
  // credentials are refused: a misconfigured process stops at start-up.
  static StatusOr<std::unique_ptr<MongoResultStore>> connect(MongoSettings settings);
  ~MongoResultStore() override;
  MongoResultStore(const MongoResultStore&) = delete;
  MongoResultStore& operator=(const MongoResultStore&) = delete;

  StatusOr<bool> put(const JobResult& result) override;
  StatusOr<JobResult> get(std::string_view job_id) override;
  StatusOr<std::vector<bool>> put_batch(std::span<const JobResult> results) override;

  // One round of the trim: deletes up to settings.trim_batch results, and as
  // many job events, whose expire_at has passed, and says how many went.
  StatusOr<size_t> trim_expired();
  // Whether the server took expire_at_1 as a TTL index (MongoDB does,
  // FerretDB 1.24 does not).
  bool ttl_index() const;

  // The job history (ports/job_history.hpp) in
  // <database>.<history_collection> (dtq.job_events), on this store's
  // clients: one document per event (job_id, job_type, at as RFC 3339 text,
  // kind, attempt, worker, error_code, related_job_id, detail, and
  // expire_at: `at` + its job type's retention), the indexes {job_id: 1}
  // (job_id_1) and expire_at_1 (TTL, as the results'; made by connect()),
  // appended with one unordered insert_many per batch; trimmed with the
  // results by trim_expired().
  JobHistory& history() override;

  // One round trip ({ping: 1}), for readiness checks.
  Status ping() override;
  const MongoSettings& settings() const;
  // "host:port,…/database.collection", for messages (never the credentials).
  [[nodiscard]] const std::string& describe() const override;

  // The index names connect() ensures.
  static constexpr std::string_view kJobIdIndex = "job_id_1";
  static constexpr std::string_view kCompletedAtIndex = "completed_at_-1";
  static constexpr std::string_view kExpireAtIndex = "expire_at_1";

 private:
  struct Driver;
  explicit MongoResultStore(std::unique_ptr<Driver> driver);

  // Logs the first failure of an outage and the recovery.
  void note(const Status& status);
  // The periodic trim's thread: a round every trim_interval, at once again
  // after a full batch, until the destructor.
  void trim_loop();

  std::unique_ptr<Driver> driver_;
  std::unique_ptr<JobHistory> history_;
  std::atomic<bool> reported_down_{false};
  Mutex trim_mutex_;
  CondVar trim_wake_;
  bool stopping_ DTQ_GUARDED_BY(trim_mutex_) = false;
  std::thread trimmer_;
};

}  // namespace dtq::mongo
