// RetentionTrimmer: deletes, in the owner, the finished jobs and dead
// letters whose retention (EmbeddedSettings::retention) has passed, so that
// the database stays at a steady size under a steady load.
//
// A finished job is one with a stored result: its result, status and cancel
// request go together, once the result's completed_at is older than its job
// type's retention, and its history (job_events in history.db) right after
// that round commits. Dead letters go once failed_at is older than theirs.
// The work runs as a batch hook of the database's writer, inside a write
// round (so no client writes meanwhile), at most `trim_batch` rows of each
// kind per round: a backlog (a first start after months, a shortened
// retention) is worked off over several rounds instead of stalling the
// writer. Rounds that found a full batch are followed by another at once;
// otherwise the trimmer looks again after trim_interval.
//
// Thread-safety: the hook runs on the writer thread; construction and
// destruction from any one thread. Ownership: shares the database; calls
// `forget` (after the commit, on the writer thread) with the job ids it
// deleted, so that caches drop them.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "database.hpp"

namespace dtq::embedded {

class RetentionTrimmer {
 public:
  using Forget = std::function<void(const std::vector<std::string>& job_ids)>;

  // `history`, when given, is the folder's history.db.
  RetentionTrimmer(std::shared_ptr<Database> db, std::shared_ptr<Database> history, Forget forget);
  ~RetentionTrimmer();
  RetentionTrimmer(const RetentionTrimmer&) = delete;
  RetentionTrimmer& operator=(const RetentionTrimmer&) = delete;

 private:
  // One trim in the open round; true when a batch was full (more is due).
  StatusOr<bool> trim(WriteTx& tx);
  StatusOr<bool> trim_finished(WriteTx& tx, std::vector<std::string>& deleted);
  StatusOr<bool> trim_dead_letters(WriteTx& tx);

  const std::shared_ptr<Database> db_;
  const std::shared_ptr<Database> history_;
  const Forget forget_;
  uint64_t hook_ = 0;
  std::chrono::steady_clock::time_point next_trim_;  // writer thread only
};

}  // namespace dtq::embedded
