#include "retention_trimmer.hpp"

#include <spdlog/spdlog.h>

#include "dtq/core/time.hpp"

namespace dtq::embedded {
namespace {

// The job types that have results, read from the (job_type, completed_at)
// index one type at a time, without walking its rows.
StatusOr<std::vector<std::string>> result_job_types(Connection& connection) {
  Query query(connection,
              "WITH RECURSIVE types(name) AS ("
              " SELECT min(job_type) FROM job_results"
              " UNION ALL"
              " SELECT (SELECT min(job_type) FROM job_results WHERE job_type > types.name)"
              " FROM types WHERE types.name IS NOT NULL)"
              " SELECT name FROM types WHERE name IS NOT NULL");
  std::vector<std::string> types;
  while (true) {
    auto row = query.step();
    if (!row.ok()) return row.status();
    if (!*row) return types;
    types.emplace_back(query.text(0));
  }
}

std::string cutoff(std::chrono::seconds kept) {
  return to_rfc3339(Clock::now() - std::chrono::duration_cast<Clock::duration>(kept));
}

}  // namespace

RetentionTrimmer::RetentionTrimmer(std::shared_ptr<Database> db, std::shared_ptr<Database> history,
                                   Forget forget)
    : db_(std::move(db)), history_(std::move(history)), forget_(std::move(forget)) {
  hook_ = db_->add_batch_hook([this](WriteTx& tx) {
    const auto now = std::chrono::steady_clock::now();
    if (now < next_trim_) return;
    auto more = trim(tx);
    if (!more.ok())
      spdlog::error("{}: retention trim failed: {}", db_->file(), more.status().message());
    next_trim_ = more.ok() && *more ? now : now + db_->settings().trim_interval;
  });
}

RetentionTrimmer::~RetentionTrimmer() {
  db_->remove_batch_hook(hook_);
}

StatusOr<bool> RetentionTrimmer::trim(WriteTx& tx) {
  std::vector<std::string> deleted;
  auto more_finished = trim_finished(tx, deleted);
  if (!more_finished.ok()) return more_finished.status();
  auto more_dead = trim_dead_letters(tx);
  if (!more_dead.ok()) return more_dead.status();
  if (!deleted.empty()) {
    spdlog::debug("{}: retention trimmed {} finished jobs", db_->file(), deleted.size());
    tx.after_commit([forget = forget_, history = history_, deleted = std::move(deleted)] {
      forget(deleted);
      if (history == nullptr) return;
      // Another file, so not this round's transaction: queued on its own
      // writer. Events of a trimmed job are never read again meanwhile.
      history->write_async(
          [deleted](WriteTx& history_tx) -> Status {
            for (const auto& job_id : deleted) {
              Query remove(history_tx.connection(), "DELETE FROM job_events WHERE job_id = ?");
              if (Status s = remove.bind(job_id).run(); !s.ok()) return s;
            }
            return {};
          },
          "retention trim of the job history");
    });
  }
  return *more_finished || *more_dead;
}

StatusOr<bool> RetentionTrimmer::trim_finished(WriteTx& tx, std::vector<std::string>& deleted) {
  Connection& connection = tx.connection();
  const RetentionPolicy& policy = db_->settings().retention;
  const size_t batch = db_->settings().trim_batch;
  auto types = result_job_types(connection);
  if (!types.ok()) return types.status();
  for (const auto& type : *types) {
    if (deleted.size() >= batch) break;
    const std::string before = cutoff(policy.finished_for(type));
    Query expired(connection,
                  "SELECT job_id FROM job_results WHERE job_type = ? AND completed_at < ? LIMIT ?");
    expired.bind(type).bind(before).bind(static_cast<int64_t>(batch - deleted.size()));
    while (true) {
      auto row = expired.step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      deleted.emplace_back(expired.text(0));
    }
  }
  for (const auto& job_id : deleted) {
    // The newest cancel request stays, whatever its age: the owner loads
    // new ones by "rowid > last seen", which a reused rowid would defeat.
    for (const char* sql :
         {"DELETE FROM job_results WHERE job_id = ?", "DELETE FROM job_status WHERE job_id = ?",
          "DELETE FROM cancel_requests WHERE job_id = ?1"
          " AND rowid < (SELECT max(rowid) FROM cancel_requests)"}) {
      if (Status s = Query(connection, sql).bind(job_id).run(); !s.ok()) return s;
    }
  }
  return deleted.size() >= batch;
}

StatusOr<bool> RetentionTrimmer::trim_dead_letters(WriteTx& tx) {
  const auto& settings = db_->settings();
  const std::string before = cutoff(settings.retention.dead_letters);
  Query expired(tx.connection(),
                "DELETE FROM dead_letters WHERE rowid IN"
                " (SELECT rowid FROM dead_letters WHERE failed_at < ? LIMIT ?)");
  expired.bind(before).bind(static_cast<int64_t>(settings.trim_batch));
  if (Status s = expired.run(); !s.ok()) return s;
  return static_cast<size_t>(expired.changes()) >= settings.trim_batch;
}

}  // namespace dtq::embedded
