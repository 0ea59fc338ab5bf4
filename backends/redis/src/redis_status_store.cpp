#include "dtq/redis/redis_status_store.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <deque>
#include <vector>

#include "connection.hpp"
#include "dtq/core/time.hpp"
#include "scripts.hpp"
#include "status_events.hpp"

namespace dtq::redis {
namespace {

constexpr Script kMerge{"status merge", kMergeScript};
constexpr Script kRead{"status read", kReadScript};
constexpr Script kListRead{"status list read", kListReadScript};

// One list() call reads at most this many index entries, so that a filter
// that matches rarely cannot make one request walk a day of jobs; a page
// cut short carries a cursor to go on from.
constexpr size_t kListScanBudget = 4096;
// Index entries read per round trip at most: bounds how long one script
// holds the server.
constexpr size_t kListChunk = 512;

// Jobs remembered as cancelled; past this the memory starts again (a
// forgotten one costs one more round trip).
constexpr size_t kRememberedCancels = 100'000;

std::string optional_text(const Reply& reply) {
  return reply.is_nil() ? std::string() : reply.text;
}

// The status fields of a script reply from `first` on (see scripts.hpp);
// NotFound when none is stored, or when what is stored cannot be read (it is
// then logged, and the next update replaces it, as in the embedded store).
StatusOr<JobStatus> status_from_reply(std::string_view job_id, const Reply& reply, size_t first,
                                      const RedisSettings& settings) {
  if (reply.type != Reply::Type::kArray || reply.elements.size() < first + kScriptStatusFields) {
    return internal_error("redis at " + settings.describe() +
                          " returned an unexpected reply for job " + std::string(job_id));
  }
  const auto field = [&](size_t index) -> const Reply& { return reply.elements[first + index]; };
  if (field(0).is_nil()) return not_found("no status for job " + std::string(job_id));
  const auto state = parse_job_state(field(0).text);
  const auto progress = reply_integer(field(1));
  if (!state || !progress || *progress < 0 || *progress > 100) {
    spdlog::error(
        R"(job_id={} status in redis at {} is unreadable (state "{}", progress "{}") and ignored)",
        job_id, settings.describe(), field(0).text, field(1).is_nil() ? "" : field(1).text);
    return not_found("no readable status for job " + std::string(job_id));
  }
  const auto attempt = field(8).is_nil() ? std::optional<int64_t>(0) : reply_integer(field(8));
  return JobStatus{
      .job_id = std::string(job_id),
      .state = *state,
      .progress_percent = static_cast<int>(*progress),
      .updated_at = optional_text(field(2)),
      .message = optional_text(field(3)),
      .trace_id = optional_text(field(4)),
      .job_type = optional_text(field(7)),
      .error_code = optional_text(field(5)),
      .error_message = optional_text(field(6)),
      .attempt = static_cast<uint32_t>(std::max<int64_t>(attempt.value_or(0), 0)),
      // None stored (or one this version does not know) is normal.
      .priority = parse_job_priority(optional_text(field(9))).value_or(JobPriority::kNormal)};
}

Status error_reply(const RedisSettings& settings, std::string_view what, const Reply& reply) {
  return internal_error("redis at " + settings.describe() + " refused " + std::string(what) + ": " +
                        reply.text);
}

// The status in kRead's reply for `job_id`; get() and get_batch() share it.
StatusOr<JobStatus> read_reply_status(std::string_view job_id, const Reply& reply,
                                      const RedisSettings& settings) {
  if (reply.is_error())
    return error_reply(settings, "reading the status of job " + std::string(job_id), reply);
  return status_from_reply(job_id, reply, 0, settings);
}

Status no_job_id_to_read() {
  return invalid_argument("status read without a job id");
}

StatusOr<JobStatus> read_status(ConnectionPool& pool, std::string_view job_id) {
  if (job_id.empty()) return no_job_id_to_read();
  auto reply = pool.eval(
      kRead, {RedisStatusStore::status_key(job_id), RedisStatusStore::meta_key(job_id)}, {});
  if (!reply.ok()) return reply.status();
  return read_reply_status(job_id, *reply, pool.settings());
}

// A cursor is the index score of the last entry a page covered; the next
// page starts strictly below it. Scores are unique, so nothing is skipped or
// repeated whatever was added meanwhile.
std::optional<int64_t> parse_score(std::string_view text) {
  int64_t score = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), score);
  if (error != std::errc() || end != text.data() + text.size() || score <= 0) return std::nullopt;
  return score;
}

struct IndexEntry {
  std::string job_id;
  int64_t score = 0;
};

// Up to `count` entries strictly below `below` (none: from the newest),
// newest first.
StatusOr<std::vector<IndexEntry>> read_index(ConnectionPool& pool, std::optional<int64_t> below,
                                             size_t count) {
  const std::string max = below ? "(" + std::to_string(*below) : std::string("+inf");
  const std::string limit = std::to_string(count);
  auto reply = pool.run({"ZREVRANGEBYSCORE", RedisStatusStore::index_key(), max, "-inf",
                         "WITHSCORES", "LIMIT", "0", limit});
  if (!reply.ok()) return reply.status();
  if (reply->is_error()) return error_reply(pool.settings(), "reading the job index", *reply);
  std::vector<IndexEntry> entries;
  for (size_t i = 0; i + 1 < reply->elements.size(); i += 2) {
    const auto score = parse_score(reply->elements[i + 1].text);
    if (!score) {
      return internal_error("redis at " + pool.settings().describe() + " holds score \"" +
                            reply->elements[i + 1].text + "\" in " + RedisStatusStore::index_key() +
                            ", which dtq did not write");
    }
    entries.push_back({reply->elements[i].text, *score});
  }
  return entries;
}

// The statuses of `entries`, in order; absent (NotFound) for a status that
// expired or cannot be read.
StatusOr<std::vector<std::optional<JobStatus>>> read_statuses(
    ConnectionPool& pool, const std::vector<IndexEntry>& entries) {
  std::vector<std::string> keys{RedisStatusStore::index_key()};
  keys.reserve(1 + 2 * entries.size());
  for (const auto& entry : entries) {
    keys.push_back(RedisStatusStore::status_key(entry.job_id));
    keys.push_back(RedisStatusStore::meta_key(entry.job_id));
  }
  const std::vector<std::string_view> key_views(keys.begin(), keys.end());
  std::vector<std::string_view> ids;
  ids.reserve(entries.size());
  for (const auto& entry : entries) ids.push_back(entry.job_id);
  auto reply = pool.eval(kListRead, key_views, ids);
  if (!reply.ok()) return reply.status();
  if (reply->is_error()) return error_reply(pool.settings(), "reading listed statuses", *reply);
  std::vector<std::optional<JobStatus>> statuses;
  for (size_t i = 0; i < entries.size(); ++i) {
    auto status =
        status_from_reply(entries[i].job_id, *reply, i * kScriptStatusFields, pool.settings());
    if (status.ok()) {
      statuses.emplace_back(std::move(*status));
    } else if (status.status().code() == StatusCode::kNotFound) {
      statuses.emplace_back();
    } else {
      return status.status();
    }
  }
  return statuses;
}

bool matches(const JobStatus& status, const StatusListQuery& query) {
  return (!query.state || status.state == *query.state) &&
         (query.job_type.empty() || status.job_type == query.job_type);
}

}  // namespace

std::string RedisStatusStore::index_key() {
  return "dtq:jobs:by_submitted";
}
std::string RedisStatusStore::status_key(std::string_view job_id) {
  return "job:" + std::string(job_id) + ":status";
}
std::string RedisStatusStore::meta_key(std::string_view job_id) {
  return "job:" + std::string(job_id) + ":meta";
}
std::string RedisStatusStore::cancel_key(std::string_view job_id) {
  return "job:" + std::string(job_id) + ":cancel";
}

StatusOr<std::unique_ptr<RedisStatusStore>> RedisStatusStore::connect(RedisSettings settings) {
  if (Status valid = settings.validate(); !valid.ok()) return valid;
  std::unique_ptr<RedisStatusStore> store(new RedisStatusStore(std::move(settings)));
  if (Status answered = store->ping(); !answered.ok()) return answered;
  return store;
}

RedisStatusStore::RedisStatusStore(RedisSettings settings)
    : pool_(std::make_shared<ConnectionPool>(std::move(settings))) {
  events_ = std::make_shared<StatusEvents>(
      pool_->settings(),
      [pool = pool_](const std::string& job_id) { return read_status(*pool, job_id); });
}

RedisStatusStore::~RedisStatusStore() {
  events_->stop();
}

const RedisSettings& RedisStatusStore::settings() const {
  return pool_->settings();
}

Status RedisStatusStore::ping() {
  auto reply = pool_->run({"PING"});
  if (!reply.ok()) return reply.status();
  if (reply->text != "PONG") return error_reply(settings(), "PING", *reply);
  return {};
}

namespace {

// The merge script's run for one update: its keys and arguments, and the
// strings they view. Neither copied nor moved, which would move the strings
// out from under the views.
class MergeRun {
 public:
  MergeRun(const JobStatus& update, const RedisSettings& settings)
      : status_key_(RedisStatusStore::status_key(update.job_id)),
        meta_key_(RedisStatusStore::meta_key(update.job_id)),
        index_key_(RedisStatusStore::index_key()),
        progress_(std::to_string(update.progress_percent)),
        attempt_(std::to_string(update.attempt)),
        ttl_(std::to_string(settings.status_ttl.count())),
        channel_(status_channel(update.job_id)),
        run_{.keys = {status_key_, meta_key_, index_key_},
             .args = {update.job_id, to_string(update.state), progress_, update.updated_at,
                      update.message, update.trace_id, update.job_type, update.error_code,
                      update.error_message, attempt_, ttl_, channel_, to_string(update.priority)}} {
  }
  MergeRun(const MergeRun&) = delete;
  MergeRun& operator=(const MergeRun&) = delete;

  [[nodiscard]] const ConnectionPool::ScriptRun& run() const { return run_; }

 private:
  const std::string status_key_, meta_key_, index_key_;
  const std::string progress_, attempt_, ttl_, channel_;
  const ConnectionPool::ScriptRun run_;
};

// What the merge script answered for `update`.
StatusOr<JobStatus> merged_status(const JobStatus& update, const StatusOr<Reply>& reply,
                                  const RedisSettings& settings) {
  if (!reply.ok()) return reply.status();
  if (reply->is_error())
    return error_reply(settings, "the status update of job " + update.job_id, *reply);
  return status_from_reply(update.job_id, *reply, 1, settings);
}

}  // namespace

StatusOr<JobStatus> RedisStatusStore::update(const JobStatus& update) {
  if (update.job_id.empty()) return invalid_argument("status update without a job id");
  const MergeRun merge(update, settings());
  return merged_status(update, pool_->eval(kMerge, merge.run().keys, merge.run().args), settings());
}

std::vector<StatusOr<JobStatus>> RedisStatusStore::update_durable_batch(
    std::span<const JobStatus> updates) {
  std::deque<MergeRun> merges;  // a deque: it never moves them
  std::vector<ConnectionPool::ScriptRun> runs;
  for (const JobStatus& update : updates) {
    if (update.job_id.empty()) continue;
    runs.push_back(merges.emplace_back(update, settings()).run());
  }
  auto replies = pool_->eval_pipelined(kMerge, runs);
  std::vector<StatusOr<JobStatus>> answers;
  answers.reserve(updates.size());
  size_t next_reply = 0;
  for (const JobStatus& update : updates) {
    if (update.job_id.empty()) {
      answers.emplace_back(invalid_argument("status update without a job id"));
    } else if (!replies.ok()) {
      answers.emplace_back(replies.status());
    } else {
      answers.push_back(merged_status(update, (*replies)[next_reply++], settings()));
    }
  }
  return answers;
}

StatusOr<JobStatus> RedisStatusStore::get(std::string_view job_id) {
  return read_status(*pool_, job_id);
}

std::vector<StatusOr<JobStatus>> RedisStatusStore::get_batch(std::span<const std::string> job_ids) {
  std::vector<std::string> keys;  // two per job, never moved once filled
  keys.reserve(2 * job_ids.size());
  std::vector<ConnectionPool::ScriptRun> runs;
  runs.reserve(job_ids.size());
  for (const std::string& job_id : job_ids) {
    if (job_id.empty()) continue;
    keys.push_back(status_key(job_id));
    keys.push_back(meta_key(job_id));
    runs.push_back({.keys = {keys[keys.size() - 2], keys.back()}});
  }
  auto replies = pool_->eval_pipelined(kRead, runs);
  std::vector<StatusOr<JobStatus>> found;
  found.reserve(job_ids.size());
  size_t next_reply = 0;
  for (const std::string& job_id : job_ids) {
    if (job_id.empty()) {
      found.emplace_back(no_job_id_to_read());
    } else if (!replies.ok()) {
      found.emplace_back(replies.status());
    } else {
      found.push_back(read_reply_status(job_id, (*replies)[next_reply++], settings()));
    }
  }
  return found;
}

StatusOr<StatusPage> RedisStatusStore::list(const StatusListQuery& query) {
  std::optional<int64_t> below;
  if (!query.cursor.empty()) {
    below = parse_score(query.cursor);
    if (!below) return invalid_argument("malformed cursor");
  }
  StatusPage page;
  if (query.limit == 0) return page;
  // The first read fits an unfiltered page and one more entry, which says
  // whether a next page exists; reads grow while a filter keeps skipping.
  size_t chunk = query.limit + 1;
  size_t scanned = 0;
  std::optional<int64_t> last_returned;
  while (scanned < kListScanBudget) {
    chunk = std::min({chunk, kListChunk, kListScanBudget - scanned});
    auto entries = read_index(*pool_, below, chunk);
    if (!entries.ok()) return entries.status();
    if (entries->empty()) return page;
    auto statuses = read_statuses(*pool_, *entries);
    if (!statuses.ok()) return statuses.status();
    for (size_t i = 0; i < entries->size(); ++i) {
      auto& status = (*statuses)[i];
      if (!status || !matches(*status, query)) continue;
      if (page.statuses.size() == query.limit) {
        page.next_cursor = std::to_string(*last_returned);
        return page;
      }
      page.statuses.push_back(std::move(*status));
      last_returned = (*entries)[i].score;
    }
    if (entries->size() < chunk) return page;
    scanned += entries->size();
    below = entries->back().score;
    chunk *= 2;
  }
  // Out of budget: the client goes on from the last entry read.
  page.next_cursor = std::to_string(*below);
  return page;
}

std::unique_ptr<StatusSubscription> RedisStatusStore::subscribe(
    std::string job_id, std::function<void(const JobStatus&)> on_change) {
  return events_->subscribe(std::move(job_id), std::move(on_change));
}

Status RedisStatusStore::request_cancel(std::string_view job_id) {
  if (job_id.empty()) return invalid_argument("cancel request without a job id");
  const std::string key = cancel_key(job_id);
  const std::string requested_at = now_rfc3339();
  const std::string ttl = std::to_string(settings().status_ttl.count());
  // NX: the first request's time stays.
  auto reply = pool_->run({"SET", key, requested_at, "EX", ttl, "NX"});
  if (!reply.ok()) return reply.status();
  if (reply->is_error())
    return error_reply(settings(), "the cancel request of job " + std::string(job_id), *reply);
  MutexLock lock(cancels_mutex_);
  if (cancels_.size() >= kRememberedCancels) cancels_.clear();
  cancels_.emplace(job_id);
  return {};
}

bool RedisStatusStore::cancel_requested(std::string_view job_id) {
  if (job_id.empty()) return false;
  {
    MutexLock lock(cancels_mutex_);
    if (cancels_.contains(std::string(job_id))) return true;
  }
  auto reply = pool_->run({"EXISTS", cancel_key(job_id)});
  if (!reply.ok() || reply->is_error()) {
    if (!cancel_reads_failing_.exchange(true)) {
      spdlog::error(
          "job_id={} cannot read cancel requests: {}; running jobs go on uncancelled until redis "
          "answers",
          job_id, reply.ok() ? reply->text : reply.status().message());
    }
    return false;
  }
  if (cancel_reads_failing_.exchange(false))
    spdlog::info("cancel requests are read from redis at {} again", settings().describe());
  if (reply->integer == 0) return false;
  MutexLock lock(cancels_mutex_);
  if (cancels_.size() >= kRememberedCancels) cancels_.clear();
  cancels_.emplace(job_id);
  return true;
}

}  // namespace dtq::redis
