#include "dtq/redis/redis_job_schedule.hpp"

#include <algorithm>
#include <charconv>

#include "connection.hpp"
#include "dtq/core/model_json.hpp"

namespace dtq::redis {
namespace {

// The most schedule entries one list() call looks at: a listing of one
// type among many other types' jobs answers short pages rather than hold
// Redis for a long script.
constexpr size_t kMaxListed = 2000;

// KEYS[1] due, KEYS[2] jobs; ARGV[1] job_id, ARGV[2] run_at ms, ARGV[3]
// the entry. 1 when scheduled, 0 when the job was there already.
constexpr const char* kScheduleScript = R"lua(
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[3]) == 0 then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return 1
)lua";

// KEYS[1] due, KEYS[2] jobs; ARGV[1] now ms, ARGV[2] end of the lease ms,
// ARGV[3] limit. Leases the due jobs (their score becomes the lease's end,
// their claims one more) and returns their entries as they are now.
constexpr const char* kClaimScript = R"lua(
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local claimed = {}
for _, id in ipairs(ids) do
  local entry = redis.call('HGET', KEYS[2], id)
  if entry then
    local run_at, claims, message = string.match(entry, '^(%d+) (%d+) (.*)$')
    entry = run_at .. ' ' .. (tonumber(claims) + 1) .. ' ' .. message
    redis.call('HSET', KEYS[2], id, entry)
    redis.call('ZADD', KEYS[1], ARGV[2], id)
    table.insert(claimed, entry)
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return claimed
)lua";

// KEYS[1] due, KEYS[2] jobs; ARGV[1] job_id. Removes the job: 1 when it
// was there.
constexpr const char* kRemoveScript = R"lua(
redis.call('ZREM', KEYS[1], ARGV[1])
return redis.call('HDEL', KEYS[2], ARGV[1])
)lua";

// KEYS[1] due, KEYS[2] jobs; ARGV[1] and ARGV[2] the cursor's due ms and
// job id ('' and '': from the first), ARGV[3] the job type ('' every
// type), ARGV[4] the page size, ARGV[5] the most entries one call looks at
// (a type's jobs may be few among many). Returns the page's entries, then
// the cursor to go on from, `<due>:<job id>` ('' on the last page). Equal
// scores come in member order, so (due, job id) orders the walk.
constexpr const char* kListScript = R"lua(
local after_due, after_id, job_type = ARGV[1], ARGV[2], ARGV[3]
local size, budget = tonumber(ARGV[4]), tonumber(ARGV[5])
local min = '-inf'
if after_due ~= '' then min = after_due end
local page, last, offset = {}, nil, 0
while true do
  local chunk = redis.call('ZRANGEBYSCORE', KEYS[1], min, '+inf', 'WITHSCORES', 'LIMIT', offset, 256)
  if #chunk == 0 then break end
  offset = offset + #chunk / 2
  for i = 1, #chunk, 2 do
    local id, due = chunk[i], chunk[i + 1]
    if after_due == '' or tonumber(due) > tonumber(after_due) or id > after_id then
      if budget == 0 then
        table.insert(page, last or '')
        return page
      end
      budget = budget - 1
      local entry = redis.call('HGET', KEYS[2], id)
      local wanted = entry ~= false
      if wanted and job_type ~= '' then
        local ok, message = pcall(cjson.decode, string.match(entry, '^%d+ %d+ (.*)$') or '')
        wanted = ok and type(message) == 'table' and message.job_type == job_type
      end
      if wanted then
        if #page == size then
          table.insert(page, last)
          return page
        end
        table.insert(page, entry)
      end
      last = string.format('%.0f', tonumber(due)) .. ':' .. id
    end
  end
end
table.insert(page, '')
return page
)lua";

constexpr Script kSchedule{"schedule a job", kScheduleScript};
constexpr Script kList{"list scheduled jobs", kListScript};
constexpr Script kClaim{"claim due jobs", kClaimScript};
constexpr Script kRemove{"remove a scheduled job", kRemoveScript};

std::string encode(const JobMessage& message, int64_t run_at_ms) {
  return std::to_string(run_at_ms) + " 0 " + to_json(message);
}

StatusOr<ScheduledJob> decode(std::string_view entry) {
  const auto bad = [&] {
    return internal_error("redis schedule: unreadable entry \"" + std::string(entry.substr(0, 64)) +
                          "\"");
  };
  const size_t first = entry.find(' ');
  const size_t second = first == std::string_view::npos ? first : entry.find(' ', first + 1);
  if (second == std::string_view::npos) return bad();
  int64_t run_at = 0;
  uint32_t claims = 0;
  if (std::from_chars(entry.data(), entry.data() + first, run_at).ec != std::errc{} ||
      std::from_chars(entry.data() + first + 1, entry.data() + second, claims).ec != std::errc{}) {
    return bad();
  }
  auto message = parse_job_message(entry.substr(second + 1));
  if (!message.ok()) {
    return internal_error("redis schedule: a scheduled job's message is unreadable: " +
                          message.status().message());
  }
  return ScheduledJob{
      .message = std::move(message).value(), .run_at = from_unix_ms(run_at), .claims = claims};
}

}  // namespace

StatusOr<std::unique_ptr<RedisJobSchedule>> RedisJobSchedule::connect(RedisSettings redis,
                                                                      std::string key_prefix) {
  if (Status valid = redis.validate(); !valid.ok()) return valid;
  std::unique_ptr<RedisJobSchedule> schedule(
      new RedisJobSchedule(std::move(redis), std::move(key_prefix)));
  auto answered = schedule->pool_->run({"PING"});
  if (!answered.ok()) return answered.status();
  return schedule;
}

RedisJobSchedule::RedisJobSchedule(RedisSettings redis, std::string key_prefix)
    : pool_(std::make_shared<ConnectionPool>(std::move(redis))),
      due_key_(key_prefix + "schedule:due"),
      jobs_key_(key_prefix + "schedule:jobs") {}

RedisJobSchedule::~RedisJobSchedule() = default;

Status RedisJobSchedule::refused(std::string_view what, const std::string& reply) const {
  return unavailable("redis at " + pool_->settings().describe() + " refused to " +
                     std::string(what) + ": " + reply);
}

Status RedisJobSchedule::schedule(const JobMessage& message, Clock::time_point run_at) {
  if (Status valid = check_job_message(message); !valid.ok()) return valid;
  const int64_t at = to_unix_ms(run_at);
  const std::string at_text = std::to_string(at);
  const std::string entry = encode(message, at);
  const std::string_view args[] = {message.job_id, at_text, entry};
  auto reply = pool_->eval(kSchedule, {due_key_, jobs_key_}, args);
  if (!reply.ok()) return reply.status();
  if (reply->is_error()) return refused("schedule a job", reply->text);
  // The pool retries a command once after a lost reply: our own entry,
  // stored by the first try, is not another job's.
  if (reply_integer(*reply).value_or(0) == 0) {
    auto held = get(message.job_id);
    if (held.ok() && held->message.trace_id == message.trace_id &&
        held->message.submitted_at == message.submitted_at) {
      return {};
    }
    return already_exists("job " + message.job_id + " is scheduled already");
  }
  return {};
}

StatusOr<std::vector<ScheduledJob>> RedisJobSchedule::claim_due(Clock::time_point now,
                                                                std::chrono::milliseconds lease,
                                                                size_t limit) {
  const int64_t at = to_unix_ms(now);
  const std::string now_text = std::to_string(at);
  const std::string until_text = std::to_string(at + lease.count());
  const std::string limit_text = std::to_string(limit);
  const std::string_view args[] = {now_text, until_text, limit_text};
  auto reply = pool_->eval(kClaim, {due_key_, jobs_key_}, args);
  if (!reply.ok()) return reply.status();
  if (reply->is_error()) return refused("claim due jobs", reply->text);
  std::vector<ScheduledJob> claimed;
  claimed.reserve(reply->elements.size());
  for (const Reply& entry : reply->elements) {
    auto job = decode(entry.text);
    if (!job.ok()) return job.status();
    claimed.push_back(std::move(job).value());
  }
  return claimed;
}

Status RedisJobSchedule::complete(std::string_view job_id) {
  auto removed = cancel(job_id);
  return removed.ok() ? Status{} : removed.status();
}

StatusOr<bool> RedisJobSchedule::cancel(std::string_view job_id) {
  const std::string_view args[] = {job_id};
  auto reply = pool_->eval(kRemove, {due_key_, jobs_key_}, args);
  if (!reply.ok()) return reply.status();
  if (reply->is_error()) return refused("remove a scheduled job", reply->text);
  return reply_integer(*reply).value_or(0) > 0;
}

StatusOr<ScheduledJob> RedisJobSchedule::get(std::string_view job_id) {
  auto reply = pool_->run({"HGET", jobs_key_, job_id});
  if (!reply.ok()) return reply.status();
  if (reply->is_error()) return refused("read a scheduled job", reply->text);
  if (reply->is_nil()) return not_found("job " + std::string(job_id) + " is not scheduled");
  return decode(reply->text);
}

StatusOr<SchedulePage> RedisJobSchedule::list(std::string_view job_type, std::string_view cursor,
                                              size_t limit) {
  std::string after_due;
  std::string after_id;
  if (!cursor.empty()) {
    auto parsed = ScheduleCursor::parse(cursor);
    if (!parsed) return invalid_argument("malformed cursor");
    after_due = std::to_string(parsed->due_ms);
    after_id = std::move(parsed->job_id);
  }
  const std::string size = std::to_string(std::max<size_t>(limit, 1));
  const std::string budget = std::to_string(kMaxListed);
  const std::string_view args[] = {after_due, after_id, job_type, size, budget};
  auto reply = pool_->eval(kList, {due_key_, jobs_key_}, args);
  if (!reply.ok()) return reply.status();
  if (reply->is_error()) return refused("list scheduled jobs", reply->text);
  if (reply->elements.empty()) return refused("list scheduled jobs", "an empty reply");
  SchedulePage page;
  page.next_cursor = reply->elements.back().text;
  reply->elements.pop_back();
  page.jobs.reserve(reply->elements.size());
  for (const Reply& entry : reply->elements) {
    auto job = decode(entry.text);
    if (!job.ok()) return job.status();
    page.jobs.push_back(std::move(job).value());
  }
  return page;
}

}  // namespace dtq::redis
