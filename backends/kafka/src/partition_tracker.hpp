// PartitionTracker: what one group member knows about one partition it is
// assigned: which consumed offsets are not finished yet, and therefore how
// far the group's committed offset may move. Pure bookkeeping, no Kafka.
//
// The committed offset is the lowest unfinished offset (or one past the last
// consumed one when nothing is unfinished). Its metadata,
// "dtq1;h=<H>;d=<ranges>", tells the partition's next owner:
//  - H: every offset below H may have been handed out before, so it is
//    delivered again with delivery_count 2 (the engine then checks the result
//    store before running it);
//  - ranges: offsets above the committed one that are already finished,
//    relative to it ("1-4,6"), so the next owner skips them.
// Metadata that does not fit `max_bytes` is cut at a range boundary: the
// offsets left out are delivered again (with delivery_count 2), never lost.
//
// Thread-safety: none; the owner locks.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace dtq::kafka {

class PartitionTracker {
 public:
  static constexpr int64_t kNoOffset = -1;

  // `committed`: the group's committed offset when the partition was
  // assigned (kNoOffset when none); `metadata`: that commit's metadata.
  // `history_known` false (the committed offset could not be read) makes
  // every record count as a possible redelivery.
  PartitionTracker(int64_t committed, std::string_view metadata, bool history_known = true);

  enum class Seen { kNew, kRedelivery, kAlreadyDone };
  // A record at `offset` was consumed. kAlreadyDone: a previous owner
  // finished it (or this one already saw it): do not hand it out.
  Seen consumed(int64_t offset);
  // The record was handed to a worker.
  void handed(int64_t offset);
  // The record's job is over (acked or dead-lettered).
  void done(int64_t offset);

  // What to commit now, or nothing when nothing was ever consumed.
  std::optional<int64_t> commit_offset() const;
  std::string commit_metadata(size_t max_bytes = kMaxMetadata) const;
  // What to commit: commit_offset() and commit_metadata(), each built once,
  // when they differ from the last commit; nothing otherwise.
  struct Commit {
    int64_t offset;
    std::string metadata;
  };
  std::optional<Commit> pending_commit() const;
  bool needs_commit() const { return pending_commit().has_value(); }
  void mark_committed(int64_t offset, std::string metadata);
  // A commit failed: send the current state again next time.
  void commit_failed() { committed_ = kNoOffset - 1; }

  // The broker's default offset.metadata.max.bytes is 4096.
  static constexpr size_t kMaxMetadata = 3000;

 private:
  int64_t committed_;
  std::string committed_metadata_;
  int64_t first_ = kNoOffset;      // the lowest offset consumed (or committed) here
  int64_t next_ = kNoOffset;       // one past the highest consumed offset
  std::set<int64_t> pending_;      // consumed, not finished
  std::set<int64_t> done_before_;  // finished by a previous owner, not consumed yet
  int64_t delivered_high_ = 0;     // offsets below it may have been handed out before
  int64_t handed_high_ = 0;        // max(handed offset + 1, delivered_high_)
  bool history_known_ = true;
};

}  // namespace dtq::kafka
