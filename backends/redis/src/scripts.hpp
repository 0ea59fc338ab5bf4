// The Lua scripts the Redis StatusStore runs server-side (EVALSHA, loaded
// again on NOSCRIPT). Each one touches only the keys it is given. Not yet
// Redis Cluster-ready: the keys below hash to different slots (giving the
// meta key the hash tag {job:<id>:status} would co-locate a job's two, but
// the index spans every job).
//
// Keys of one job (DESIGN §2 fixes the first):
//   KEYS[1] job:<id>:status  hash: state, progress_percent, updated_at,
//                            message, job_id, and when set trace_id,
//                            error_code, error_message. TTL 24 h.
//   KEYS[2] job:<id>:meta    hash: job_type, attempt, and priority when
//                            not normal — dtq's own fields,
//                            kept out of the contract hash. Same TTL.
// And of every job:
//   KEYS[3] dtq:jobs:by_submitted  sorted set, member job_id, score the
//                            creation time of its status in microseconds of
//                            the Redis clock, raised when needed to exceed
//                            every score before it (list()'s cursor is a
//                            score). Entries older than the TTL are trimmed.
#pragma once

namespace dtq::redis {

// The fields both scripts return, in this order:
//   1 state, 2 progress_percent, 3 updated_at, 4 message, 5 trace_id,
//   6 error_code, 7 error_message, 8 job_type, 9 attempt, 10 priority
// (nil for a field that is not stored; no priority is normal). The merge script puts one more
// element in front: 1 when watchers were notified, else 0.
inline constexpr int kScriptStatusFields = 10;

// merge_status() of core/src/model.cpp in Lua, atomically with the read and
// the write: a terminal status never changes, progress never goes down, a
// late non-terminal update never moves the state backwards. A stored status
// that cannot be read (unknown state, progress outside 0..100) counts as
// absent, as in the embedded store. When something visible changed the
// merged status is published, as JSON (model_json's shape), on the channel
// ARGV[12] — inside the script, so watchers see each job's changes in merge
// order whatever the number of writers.
//
// A status created here (none stored, or an unreadable one) enters the
// index in the same step, so that list() never misses a stored status nor
// sees one that was never stored. The Redis clock gives the score, so that
// every API process orders jobs the same way whatever its own clock says.
//
// ARGV: 1 job_id, 2 state, 3 progress_percent, 4 updated_at, 5 message,
//       6 trace_id, 7 job_type, 8 error_code, 9 error_message, 10 attempt,
//       11 TTL in seconds, 12 channel, 13 priority ('normal' is stored as none)
inline constexpr const char* kMergeScript = R"lua(
local function rank(state)
  if state == 'scheduled' then return -1 elseif state == 'queued' then return 0
  elseif state == 'running' then return 1 else return 2 end
end
local function terminal(state)
  return state == 'completed' or state == 'failed' or state == 'cancelled'
end
local function known(state)
  return state == 'scheduled' or state == 'queued' or state == 'running' or terminal(state)
end

local stored = redis.call('HMGET', KEYS[1], 'state', 'progress_percent', 'updated_at', 'message',
                          'trace_id', 'error_code', 'error_message')
local meta = redis.call('HMGET', KEYS[2], 'job_type', 'attempt', 'priority')
local cur = {
  state = stored[1], progress = tonumber(stored[2]), updated_at = stored[3] or '',
  message = stored[4] or '', trace_id = stored[5] or '', error_code = stored[6] or '',
  error_message = stored[7] or '', job_type = meta[1] or '', attempt = tonumber(meta[2]) or 0,
  priority = meta[3] or '',
}
local created = not (cur.state and known(cur.state) and cur.progress and cur.progress >= 0 and cur.progress <= 100)
if created then
  cur = { state = 'queued', progress = 0, updated_at = '', message = '', trace_id = '', error_code = '',
          error_message = '', job_type = '', attempt = 0, priority = '' }
end

local function reply(visible)
  local function opt(text) if text == '' then return false end return text end
  return { visible, cur.state, cur.progress, cur.updated_at, cur.message, opt(cur.trace_id),
           opt(cur.error_code), opt(cur.error_message), opt(cur.job_type), cur.attempt,
           opt(cur.priority) }
end

if not created and terminal(cur.state) then
  return reply(0)
end

local upd = {
  state = ARGV[2], progress = tonumber(ARGV[3]) or 0, updated_at = ARGV[4], message = ARGV[5],
  trace_id = ARGV[6], job_type = ARGV[7], error_code = ARGV[8], error_message = ARGV[9],
  attempt = tonumber(ARGV[10]) or 0, priority = ARGV[13] or '',
}
if upd.priority == 'normal' then upd.priority = '' end
if not known(upd.state) then
  return redis.error_reply('ERR dtq status merge: unknown state ' .. upd.state)
end

-- A job not seen yet may start scheduled (merge_status's blank status).
if created and upd.state == 'scheduled' then cur.state = 'scheduled' end
local progress = math.min(math.max(cur.progress, upd.progress, 0), 100)
local visible = progress ~= cur.progress
cur.progress = progress
cur.attempt = math.max(cur.attempt, upd.attempt)
if cur.trace_id == '' then cur.trace_id = upd.trace_id end
if cur.job_type == '' then cur.job_type = upd.job_type end
-- Fixed at submit: whichever side knows it wins.
if cur.priority == '' then cur.priority = upd.priority end
if rank(upd.state) >= rank(cur.state) then
  visible = visible or upd.state ~= cur.state or upd.message ~= cur.message
  cur.state = upd.state
  cur.message = upd.message
  cur.updated_at = upd.updated_at
  if terminal(upd.state) then
    cur.error_code = upd.error_code
    cur.error_message = upd.error_message
    if upd.state == 'completed' then cur.progress = 100 end
  end
end
visible = visible or created

local ttl = tonumber(ARGV[11])
redis.call('HSET', KEYS[1], 'state', cur.state, 'progress_percent', cur.progress,
           'updated_at', cur.updated_at, 'message', cur.message, 'job_id', ARGV[1])
for _, field in ipairs({ 'trace_id', 'error_code', 'error_message' }) do
  if cur[field] ~= '' then
    redis.call('HSET', KEYS[1], field, cur[field])
  else
    redis.call('HDEL', KEYS[1], field)
  end
end
redis.call('EXPIRE', KEYS[1], ttl)
if cur.job_type ~= '' or cur.attempt > 0 or cur.priority ~= '' then
  redis.call('HSET', KEYS[2], 'job_type', cur.job_type, 'attempt', cur.attempt)
  if cur.priority ~= '' then redis.call('HSET', KEYS[2], 'priority', cur.priority) end
  redis.call('EXPIRE', KEYS[2], ttl)
end
if created then
  -- Scores are formatted by hand: Lua would print them with 14 digits.
  local function score(micros) return string.format('%.0f', micros) end
  local now = redis.call('TIME')
  local micros = tonumber(now[1]) * 1000000 + tonumber(now[2])
  -- Trimming here costs O(log N) per new job and keeps the index to the
  -- jobs of the last TTL.
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. score(micros - ttl * 1000000))
  -- Above every score so far, even if the clock went back (a failover to a
  -- replica whose clock lags): a new job is listed first, and a score is
  -- never reused, so a cursor never skips or repeats a job.
  local newest = redis.call('ZREVRANGE', KEYS[3], 0, 0, 'WITHSCORES')[2]
  if newest and tonumber(newest) >= micros then micros = tonumber(newest) + 1 end
  redis.call('ZADD', KEYS[3], score(micros), ARGV[1])
end

if visible then
  local event = { job_id = ARGV[1], state = cur.state, progress_percent = cur.progress,
                  updated_at = cur.updated_at, message = cur.message }
  for _, field in ipairs({ 'trace_id', 'job_type', 'error_code', 'error_message', 'priority' }) do
    if cur[field] ~= '' then event[field] = cur[field] end
  end
  if cur.attempt > 0 then event.attempt = cur.attempt end
  redis.call('PUBLISH', ARGV[12], cjson.encode(event))
end
return reply(visible and 1 or 0)
)lua";

// Reads both hashes of one job in one consistent snapshot.
inline constexpr const char* kReadScript = R"lua(
local stored = redis.call('HMGET', KEYS[1], 'state', 'progress_percent', 'updated_at', 'message',
                          'trace_id', 'error_code', 'error_message')
local meta = redis.call('HMGET', KEYS[2], 'job_type', 'attempt', 'priority')
return { stored[1], stored[2], stored[3], stored[4], stored[5], stored[6], stored[7], meta[1], meta[2],
         meta[3] }
)lua";

// Reads the statuses of a page's candidates, for list(): KEYS[1] the index,
// then each job's KEYS[1] and KEYS[2] as above, in pairs; ARGV the job ids in
// the same order. Returns kScriptStatusFields fields per job, as the read
// script. A job whose status expired leaves the index here, atomically, so a
// job created again meanwhile keeps its new entry.
inline constexpr const char* kListReadScript = R"lua(
local out = {}
for i, job_id in ipairs(ARGV) do
  local status_key, meta_key = KEYS[2 * i], KEYS[2 * i + 1]
  local stored = redis.call('HMGET', status_key, 'state', 'progress_percent', 'updated_at',
                            'message', 'trace_id', 'error_code', 'error_message')
  local meta = redis.call('HMGET', meta_key, 'job_type', 'attempt', 'priority')
  if not stored[1] and redis.call('EXISTS', status_key) == 0 then
    redis.call('ZREM', KEYS[1], job_id)
  end
  for j = 1, 7 do out[#out + 1] = stored[j] end
  out[#out + 1] = meta[1]
  out[#out + 1] = meta[2]
  out[#out + 1] = meta[3]
end
return out
)lua";

}  // namespace dtq::redis
