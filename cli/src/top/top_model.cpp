#include "top_model.hpp"

#include <algorithm>
#include <cstdio>
#include <set>

namespace dtq::cli::top {
namespace {

int64_t second_of(Clock::time_point at) {
  return std::chrono::duration_cast<std::chrono::seconds>(at.time_since_epoch()).count();
}

// The type a job is counted under: the API names it on every status it
// knows the type of; a status without one still shows, under "?".
std::string type_of(const JobStatus& status) {
  return status.job_type.empty() ? std::string("?") : status.job_type;
}

}  // namespace

void RateWindow::add(Clock::time_point now, uint64_t count) {
  const int64_t second = second_of(now);
  if (!buckets_.empty() && buckets_.back().first == second) {
    buckets_.back().second += count;
  } else {
    buckets_.emplace_back(second, count);
  }
  expire(now);
}

void RateWindow::expire(Clock::time_point now) const {
  const int64_t oldest = second_of(now) - window_.count() + 1;
  while (!buckets_.empty() && buckets_.front().first < oldest) buckets_.pop_front();
}

uint64_t RateWindow::total(Clock::time_point now) const {
  expire(now);
  uint64_t sum = 0;
  for (const auto& bucket : buckets_) sum += bucket.second;
  return sum;
}

double RateWindow::per_second(Clock::time_point now, Clock::time_point origin) const {
  const uint64_t sum = total(now);
  if (sum == 0) return 0;
  // At least one second, so that a burst in the first second reads as its
  // count, not as infinity.
  const double watched = std::chrono::duration<double>(now - origin).count();
  const double span = std::clamp(watched, 1.0, static_cast<double>(window_.count()));
  return static_cast<double>(sum) / span;
}

bool Filter::matches(const JobStatus& status) const {
  if (!job_type.empty() && status.job_type != job_type) return false;
  return !state || status.state == *state;
}

TopModel::TopModel(ModelSettings settings)
    : settings_(settings), update_rate_(std::chrono::seconds(10)) {}

TopModel::TypeStats& TopModel::stats(const std::string& job_type) {
  auto [it, inserted] = types_.try_emplace(job_type);
  if (inserted) {
    it->second.submitted = RateWindow(settings_.window);
    it->second.completed = RateWindow(settings_.window);
    it->second.failed = RateWindow(settings_.window);
  }
  return it->second;
}

void TopModel::count_entry(TypeStats& stats, JobState state, Clock::time_point now, bool counted) {
  ++stats.counts[state_index(state)];
  if (!counted) return;
  switch (state) {
    case JobState::kScheduled:  // submitted now, queued when due
    case JobState::kQueued:
      stats.submitted.add(now);
      break;
    case JobState::kCompleted:
      stats.completed.add(now);
      break;
    case JobState::kFailed:
      stats.failed.add(now);
      break;
    case JobState::kRunning:
    case JobState::kCancelled:
      break;
  }
}

bool TopModel::apply(const JobStatus& status, Clock::time_point now, bool counted) {
  if (!origin_) origin_ = now;
  if (counted) {
    ++updates_;
    update_rate_.add(now);
  }
  auto it = jobs_.find(status.job_id);
  if (it == jobs_.end()) {
    JobRow row{.status = status, .order = ++next_order_, .history = {}};
    row.history.push_back(
        {now, status.updated_at, status.state, status.progress_percent, status.message});
    count_entry(stats(type_of(status)), status.state, now, counted);
    order_.emplace(row.order, status.job_id);
    jobs_.emplace(status.job_id, std::move(row));
    evict();
    return true;
  }
  JobRow& row = it->second;
  const JobState before = row.status.state;
  if (!merge_status(row.status, status)) return false;
  if (row.status.state != before) {
    TypeStats& type = stats(type_of(row.status));
    --type.counts[state_index(before)];
    // A scheduled job that becomes queued was counted submitted already.
    count_entry(type, row.status.state, now, counted && before != JobState::kScheduled);
  }
  if (row.history.size() >= settings_.max_history) row.history.erase(row.history.begin());
  row.history.push_back({now, row.status.updated_at, row.status.state, row.status.progress_percent,
                         row.status.message});
  return true;
}

void TopModel::apply_listing(const std::vector<JobStatus>& newest_first, Clock::time_point now) {
  // Oldest first, so that jobs this client has not seen (all of them on the
  // first connect; those submitted while it was away on a reconnect) take
  // their places newest on top.
  std::for_each(newest_first.rbegin(), newest_first.rend(),
                [&](const JobStatus& status) { apply(status, now, false); });
}

void TopModel::evict() {
  if (jobs_.size() <= settings_.max_jobs) return;
  // The oldest ended jobs go first; a job still queued or running stays
  // while it lives, however old.
  for (auto it = order_.begin(); it != order_.end() && jobs_.size() > settings_.max_jobs;) {
    const auto job = jobs_.find(it->second);
    if (is_terminal(job->second.status.state)) {
      if (selected_id_ == it->second) selected_id_.clear();
      jobs_.erase(job);
      it = order_.erase(it);
    } else {
      ++it;
    }
  }
}

void TopModel::set_job_types(std::vector<JobTypeInfo> types) {
  job_types_ = std::move(types);
  job_types_known_ = true;
}

void TopModel::set_connection(bool up, std::string why, uint32_t attempts, Clock::time_point now) {
  if (up && !origin_) origin_ = now;
  connected_ = up;
  if (up) ever_connected_ = true;
  connection_why_ = std::move(why);
  connection_attempts_ = attempts;
}

std::vector<std::string> TopModel::type_names() const {
  std::set<std::string> names;
  for (const auto& type : job_types_) names.insert(type.job_type);
  for (const auto& [name, stats] : types_) names.insert(name);
  return {names.begin(), names.end()};
}

std::vector<TypeSummary> TopModel::summaries(Clock::time_point now) const {
  std::vector<TypeSummary> out;
  for (const auto& name : type_names()) {
    TypeSummary summary{.job_type = name};
    if (const auto it = types_.find(name); it != types_.end()) {
      summary.counts = it->second.counts;
      const Clock::time_point origin = origin_.value_or(now);
      summary.submitted_per_second = it->second.submitted.per_second(now, origin);
      summary.completed_per_second = it->second.completed.per_second(now, origin);
      summary.failed_per_second = it->second.failed.per_second(now, origin);
    }
    for (const auto& type : job_types_) {
      if (type.job_type == name) summary.info = type;
    }
    out.push_back(std::move(summary));
  }
  return out;
}

std::vector<Alert> TopModel::alerts(Clock::time_point now) const {
  std::vector<Alert> out;
  if (!connected_) {
    std::string text =
        ever_connected_ ? "lost connection to the server" : "cannot reach the server";
    if (!connection_why_.empty()) text += ": " + connection_why_;
    if (connection_attempts_ > 0) {
      text += " (reconnecting, attempt " + std::to_string(connection_attempts_) + ")";
    }
    out.push_back({AlertKind::kConnection, "", std::move(text)});
  }
  // What the server said about pools is only as fresh as the connection:
  // while it is down the pools are unknown, not gone.
  if (job_types_known_ && connected_) {
    for (const auto& type : job_types_) {
      if (type.pools > 0) continue;
      std::string text = "no ready pool for " + type.job_type;
      if (const auto it = types_.find(type.job_type); it != types_.end()) {
        const uint64_t queued = it->second.counts[state_index(JobState::kQueued)];
        if (queued > 0) text += ": " + std::to_string(queued) + " queued jobs wait";
      }
      out.push_back({AlertKind::kNoReadyPool, type.job_type, std::move(text)});
    }
  }
  for (const auto& [name, stats] : types_) {
    const uint64_t failed = stats.failed.total(now);
    const uint64_t ended = failed + stats.completed.total(now);
    if (ended < settings_.failure_min_samples || ended == 0) continue;
    const double share = static_cast<double>(failed) / static_cast<double>(ended);
    if (share <= settings_.failure_threshold) continue;
    char text[160];
    std::snprintf(text, sizeof text, "%s: %.0f%% of jobs failed in the last %llds (%llu of %llu)",
                  name.c_str(), share * 100.0, static_cast<long long>(settings_.window.count()),
                  static_cast<unsigned long long>(failed), static_cast<unsigned long long>(ended));
    out.push_back({AlertKind::kFailureRate, name, text});
  }
  return out;
}

void TopModel::set_filter(Filter filter) {
  filter_ = std::move(filter);
  scroll_ = 0;
  // The selected job stays selected if the new filter shows it.
  if (const JobRow* row = find(selected_id_); row == nullptr || !filter_.matches(row->status)) {
    selected_id_.clear();
  }
}

std::vector<const JobRow*> TopModel::visible() const {
  std::vector<const JobRow*> rows;
  rows.reserve(filter_.empty() ? order_.size() : 64);
  std::for_each(order_.rbegin(), order_.rend(), [&](const auto& entry) {
    const JobRow& row = jobs_.at(entry.second);
    if (filter_.matches(row.status)) rows.push_back(&row);
  });
  return rows;
}

std::optional<size_t> TopModel::selected_index(const std::vector<const JobRow*>& rows) const {
  if (rows.empty()) return std::nullopt;
  if (selected_id_.empty()) return 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i]->status.job_id == selected_id_) return i;
  }
  return 0;
}

void TopModel::move_selection(int64_t delta) {
  const auto rows = visible();
  const auto current = selected_index(rows);
  if (!current) return;
  const int64_t target = std::clamp<int64_t>(static_cast<int64_t>(*current) + delta, 0,
                                             static_cast<int64_t>(rows.size()) - 1);
  selected_id_ = rows[static_cast<size_t>(target)]->status.job_id;
}

void TopModel::select_first() {
  selected_id_.clear();
  scroll_ = 0;
}

void TopModel::select_last() {
  const auto rows = visible();
  if (!rows.empty()) selected_id_ = rows.back()->status.job_id;
}

const JobRow* TopModel::selected() const {
  const auto rows = visible();
  const auto index = selected_index(rows);
  return index ? rows[*index] : nullptr;
}

TableWindow TopModel::table_window(size_t height) {
  const auto rows = visible();
  TableWindow window;
  window.total = rows.size();
  if (rows.empty() || height == 0) return window;
  const size_t selected = selected_index(rows).value_or(0);
  if (selected < scroll_) scroll_ = selected;
  if (selected >= scroll_ + height) scroll_ = selected - height + 1;
  scroll_ = std::min(scroll_, rows.size() > height ? rows.size() - height : 0);
  window.first = scroll_;
  window.selected = selected;
  const size_t end = std::min(rows.size(), scroll_ + height);
  window.rows.assign(rows.begin() + static_cast<std::ptrdiff_t>(scroll_),
                     rows.begin() + static_cast<std::ptrdiff_t>(end));
  return window;
}

const JobRow* TopModel::find(const std::string& job_id) const {
  if (job_id.empty()) return nullptr;
  const auto it = jobs_.find(job_id);
  return it == jobs_.end() ? nullptr : &it->second;
}

}  // namespace dtq::cli::top
