// TopModel: what `dtq top` shows, kept apart from how it is drawn. It folds
// the statuses of the event stream (and of the listing read on each
// connect) into per-type counts, one-minute rates, the jobs table (newest
// first, filtered, with a selection that sticks to its job), each job's
// history as seen by this client, and the alerts. Nothing here reads a
// clock, a socket or the terminal: every call is given `now`, so the tests
// drive time.
//
// Thread-safety: none; the screen's thread owns the model. Ownership: plain
// values, copied in.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "dtq/core/model.hpp"

namespace dtq::cli::top {

using Clock = std::chrono::steady_clock;

inline constexpr size_t kStateCount = 6;  // JobState's values, in its order
inline size_t state_index(JobState state) {
  return static_cast<size_t>(state);
}

// One job type as GET /v1/job-types describes it.
struct JobTypeInfo {
  std::string job_type;
  std::string name;
  std::string version;
  std::string description;
  std::string payload_schema;  // JSON Schema text, as the plugin declares it
  int64_t pools = 0;           // pools taking this type's jobs now; 0: they wait
  int64_t in_flight = 0;
  int64_t dead_letters = -1;  // not replayed yet (of the newest 500); -1: unknown (no admin key)
};

// Events in the last `window`, in one-second buckets: the rates of the
// header. Older buckets are dropped as time passes.
class RateWindow {
 public:
  explicit RateWindow(std::chrono::seconds window = std::chrono::seconds(60)) : window_(window) {}
  void add(Clock::time_point now, uint64_t count = 1);
  uint64_t total(Clock::time_point now) const;
  // Events per second over the window, or over the time since `origin`
  // (when this client began to watch) when that is shorter, so that a
  // fresh start does not read low.
  double per_second(Clock::time_point now, Clock::time_point origin) const;

 private:
  void expire(Clock::time_point now) const;

  std::chrono::seconds window_;
  mutable std::deque<std::pair<int64_t, uint64_t>> buckets_;  // (second, count), oldest first
};

struct HistoryEntry {
  Clock::time_point seen;  // when this client saw it
  std::string updated_at;  // the server's time of the change
  JobState state = JobState::kQueued;
  int progress_percent = 0;
  std::string message;
};

struct JobRow {
  JobStatus status;
  int64_t order = 0;  // larger: newer
  std::vector<HistoryEntry> history;
};

// Which jobs the table shows; an empty field matches every job.
struct Filter {
  std::string job_type;
  std::optional<JobState> state;
  [[nodiscard]] bool matches(const JobStatus& status) const;
  [[nodiscard]] bool empty() const { return job_type.empty() && !state; }
};

// One type's line of the header.
struct TypeSummary {
  std::string job_type;
  std::array<uint64_t, kStateCount> counts{};  // jobs in each state now, of those seen
  double submitted_per_second = 0;
  double completed_per_second = 0;
  double failed_per_second = 0;
  std::optional<JobTypeInfo> info;  // none until GET /v1/job-types named the type
};

enum class AlertKind { kConnection, kNoReadyPool, kFailureRate };

struct Alert {
  AlertKind kind;
  std::string job_type;  // empty for the connection
  std::string text;
};

struct ModelSettings {
  double failure_threshold = 0.2;    // failed / (completed + failed) over the window
  uint64_t failure_min_samples = 5;  // fewer ended jobs than this: no failure alert
  size_t max_jobs = 20000;           // rows kept; the oldest ended ones go first
  size_t max_history = 64;           // entries kept per job
  std::chrono::seconds window{60};
};

// The rows the table draws: `rows` from `first`, and which one is selected.
struct TableWindow {
  std::vector<const JobRow*> rows;
  size_t first = 0;     // index of rows[0] among the visible rows
  size_t selected = 0;  // index among the visible rows; meaningless when total is 0
  size_t total = 0;     // visible rows under the filter
};

class TopModel {
 public:
  explicit TopModel(ModelSettings settings = {});

  // Folds in a status from the event stream (`counted`: its changes count
  // towards the rates) or from a listing (not counted: those changes are
  // history). False when nothing a viewer could see changed.
  bool apply(const JobStatus& status, Clock::time_point now, bool counted = true);
  // A listing, newest first as the API gives it.
  void apply_listing(const std::vector<JobStatus>& newest_first, Clock::time_point now);
  void set_job_types(std::vector<JobTypeInfo> types);
  // The stream's state: up, or down with why (shown in the alert).
  void set_connection(bool up, std::string why, uint32_t attempts, Clock::time_point now);

  bool connected() const { return connected_; }
  uint64_t updates() const { return updates_; }  // statuses applied from the stream
  double updates_per_second(Clock::time_point now) const {
    return update_rate_.per_second(now, origin_.value_or(now));
  }

  std::vector<TypeSummary> summaries(Clock::time_point now) const;
  std::vector<Alert> alerts(Clock::time_point now) const;
  const std::vector<JobTypeInfo>& job_types() const { return job_types_; }
  // Every type known from the job types or from jobs, sorted.
  std::vector<std::string> type_names() const;

  const Filter& filter() const { return filter_; }
  void set_filter(Filter filter);

  // The selection: none until the user moves it, meaning the newest row;
  // once moved it sticks to its job while rows arrive above it.
  void move_selection(int64_t delta);
  void select_first();
  void select_last();
  const JobRow* selected() const;
  // Up to `height` rows around the selection, keeping the scroll position
  // the previous call left when the selection is still in view.
  TableWindow table_window(size_t height);

  const JobRow* find(const std::string& job_id) const;
  size_t job_count() const { return jobs_.size(); }

 private:
  struct TypeStats {
    std::array<uint64_t, kStateCount> counts{};
    RateWindow submitted;
    RateWindow completed;
    RateWindow failed;
  };

  std::vector<const JobRow*> visible() const;
  std::optional<size_t> selected_index(const std::vector<const JobRow*>& rows) const;
  TypeStats& stats(const std::string& job_type);
  static void count_entry(TypeStats& stats, JobState state, Clock::time_point now, bool counted);
  void evict();

  ModelSettings settings_;
  std::unordered_map<std::string, JobRow> jobs_;
  std::map<int64_t, std::string> order_;  // order -> job id
  int64_t next_order_ = 0;
  std::map<std::string, TypeStats> types_;
  std::vector<JobTypeInfo> job_types_;
  bool job_types_known_ = false;
  Filter filter_;
  std::string selected_id_;  // empty: the newest visible row
  size_t scroll_ = 0;
  bool connected_ = false;
  bool ever_connected_ = false;
  std::string connection_why_;
  uint32_t connection_attempts_ = 0;
  uint64_t updates_ = 0;
  RateWindow update_rate_;
  std::optional<Clock::time_point> origin_;  // the first status or connection
};

}  // namespace dtq::cli::top
