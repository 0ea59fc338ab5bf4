#include "partition_tracker.hpp"

#include <algorithm>
#include <charconv>
#include <vector>

namespace dtq::kafka {
namespace {

constexpr std::string_view kVersion = "dtq1";

std::optional<int64_t> parse_int(std::string_view text) {
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < 0) return std::nullopt;
  return value;
}

// Appends increasing offsets, merging neighbours into "a-b" ranges relative
// to `base`; stops (and says so) once the text would pass `max_bytes`.
class RangeWriter {
 public:
  RangeWriter(int64_t base, std::string& out, size_t max_bytes)
      : base_(base), out_(out), max_bytes_(max_bytes) {}

  // Adds [first, last].
  bool add(int64_t first, int64_t last) {
    if (full_ || first > last) return !full_;
    if (open_ && first <= last_ + 1) {
      last_ = std::max(last_, last);
      return true;
    }
    if (!flush()) return false;
    first_ = first;
    last_ = last;
    open_ = true;
    return true;
  }
  bool flush() {
    if (!open_ || full_) return !full_;
    std::string item = std::to_string(first_ - base_);
    if (last_ != first_) item += "-" + std::to_string(last_ - base_);
    const size_t extra = item.size() + (written_ ? 1 : 0);
    if (out_.size() + extra > max_bytes_) {
      full_ = true;
      return false;
    }
    if (written_) out_ += ',';
    out_ += item;
    written_ = true;
    open_ = false;
    return true;
  }

 private:
  int64_t base_;
  std::string& out_;
  size_t max_bytes_;
  int64_t first_ = 0;
  int64_t last_ = 0;
  bool open_ = false;
  bool written_ = false;
  bool full_ = false;
};

}  // namespace

PartitionTracker::PartitionTracker(int64_t committed, std::string_view metadata, bool history_known)
    : committed_(committed), committed_metadata_(metadata), history_known_(history_known) {
  if (!history_known_ || committed < 0) {
    committed_ = kNoOffset;
    return;
  }
  next_ = committed;
  first_ = committed;
  // "dtq1;h=<H>;d=<ranges>"; anything else is someone else's metadata.
  if (metadata.substr(0, kVersion.size()) != kVersion) return;
  std::string_view rest = metadata.substr(kVersion.size());
  std::set<int64_t> done;
  int64_t high = 0;
  while (!rest.empty()) {
    if (rest.front() != ';') return;
    rest.remove_prefix(1);
    const size_t end = rest.find(';');
    const std::string_view field = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
    if (field.substr(0, 2) == "h=") {
      const auto value = parse_int(field.substr(2));
      if (!value) return;
      high = *value;
    } else if (field.substr(0, 2) == "d=") {
      std::string_view ranges = field.substr(2);
      while (!ranges.empty()) {
        const size_t comma = ranges.find(',');
        const std::string_view range = ranges.substr(0, comma);
        ranges = comma == std::string_view::npos ? std::string_view() : ranges.substr(comma + 1);
        const size_t dash = range.find('-');
        const auto first = parse_int(range.substr(0, dash));
        const auto last =
            dash == std::string_view::npos ? first : parse_int(range.substr(dash + 1));
        // Bounded: a corrupt range must not allocate without limit.
        if (!first || !last || *last < *first || *last - *first > 1'000'000) return;
        for (int64_t r = *first; r <= *last; ++r) done.insert(committed + r);
      }
    }
  }
  delivered_high_ = high;
  handed_high_ = high;
  done_before_ = std::move(done);
}

PartitionTracker::Seen PartitionTracker::consumed(int64_t offset) {
  if (next_ != kNoOffset && offset >= first_ && offset < next_) return Seen::kAlreadyDone;
  if (first_ == kNoOffset || offset < first_) first_ = offset;  // a reset to an earlier offset
  next_ = std::max(next_, offset + 1);
  if (done_before_.erase(offset) > 0) return Seen::kAlreadyDone;
  pending_.insert(offset);
  if (!history_known_ || offset < delivered_high_) return Seen::kRedelivery;
  return Seen::kNew;
}

void PartitionTracker::handed(int64_t offset) {
  handed_high_ = std::max(handed_high_, offset + 1);
}

void PartitionTracker::done(int64_t offset) {
  pending_.erase(offset);
}

std::optional<int64_t> PartitionTracker::commit_offset() const {
  if (next_ == kNoOffset) return std::nullopt;
  return pending_.empty() ? next_ : *pending_.begin();
}

std::string PartitionTracker::commit_metadata(size_t max_bytes) const {
  const auto base = commit_offset();
  if (!base || (pending_.empty() && done_before_.empty())) return {};
  std::string out(kVersion);
  out += ";h=" + std::to_string(std::max(handed_high_, delivered_high_)) + ";d=";
  RangeWriter ranges(*base, out, max_bytes);
  // Between unfinished offsets, everything consumed is finished.
  int64_t previous = -1;
  for (const int64_t offset : pending_) {
    if (previous >= 0 && !ranges.add(previous + 1, offset - 1)) return out;
    previous = offset;
  }
  if (previous >= 0 && !ranges.add(previous + 1, next_ - 1)) return out;
  for (const int64_t offset : done_before_) {
    if (offset >= *base && !ranges.add(offset, offset)) return out;
  }
  ranges.flush();
  return out;
}

std::optional<PartitionTracker::Commit> PartitionTracker::pending_commit() const {
  const auto offset = commit_offset();
  if (!offset) return std::nullopt;
  std::string metadata = commit_metadata();
  if (*offset == committed_ && metadata == committed_metadata_) return std::nullopt;
  return Commit{*offset, std::move(metadata)};
}

void PartitionTracker::mark_committed(int64_t offset, std::string metadata) {
  committed_ = offset;
  committed_metadata_ = std::move(metadata);
}

}  // namespace dtq::kafka
