#include "dtq/core/job_service.hpp"

#include <openssl/evp.h>

#include <array>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "dtq/core/ids.hpp"
#include "dtq/core/status_notices.hpp"
#include "dtq/core/time.hpp"

namespace dtq {
namespace {

Status check_id(std::string_view job_id) {
  if (!is_uuid(job_id)) return invalid_argument("malformed job id \"" + std::string(job_id) + "\"");
  return {};
}

// The status a stored result implies once the live status has expired.
JobStatus status_of(const JobResult& result) {
  JobStatus status{.job_id = result.job_id,
                   .state = result.final_state,
                   .progress_percent = result.final_state == JobState::kCompleted ? 100 : 0,
                   .updated_at = result.completed_at,
                   .message = std::string(to_string(result.final_state)),
                   .trace_id = result.trace_id,
                   .job_type = result.job_type,
                   .attempt = result.attempts};
  if (result.error) {
    status.error_code = result.error->code;
    status.error_message = result.error->message;
  }
  return status;
}

constexpr size_t kMaxIdempotencyKey = 255;
// How long a repeat waits for the first submission with its key to write
// the job's status (it does so right after its claim).
constexpr auto kFirstSubmissionWait = std::chrono::seconds(5);
constexpr auto kFirstSubmissionPoll = std::chrono::milliseconds(10);

// The key as the store sees it: the owner first, so that two owners'
// equal keys never meet. An owner (an API key id) holds no ':'.
std::string scoped_key(const SubmitOptions& options) {
  std::string key(options.key_owner);
  key += ':';
  key += options.idempotency_key;
  return key;
}

// The status a job has once it is accepted and before it is enqueued.
JobStatus queued_status(const JobMessage& message) {
  return JobStatus{.job_id = message.job_id,
                   .state = JobState::kQueued,
                   .progress_percent = 0,
                   .updated_at = message.submitted_at,
                   .message = "queued",
                   .trace_id = message.trace_id,
                   .job_type = message.job_type,
                   .priority = message.priority};
}

// What the status of a job whose enqueue failed says: best effort, since
// the caller is told the enqueue failed either way, and a status left
// "queued" would only outlive the job that never was.
void record_enqueue_failure(StatusStore& statuses, const JobStatus& queued, const Status& failure) {
  JobStatus lost = queued;
  lost.state = JobState::kFailed;
  lost.updated_at = now_rfc3339();
  lost.message = "could not be enqueued";
  lost.error_code = "enqueue_failed";
  lost.error_message = failure.message();
  (void)statuses.update(lost);
}

// Enqueues `message`, whose `queued` status is already stored. When the
// queue refuses it, the status says so.
Status enqueue_queued(JobQueue& queue, StatusStore& statuses, const JobMessage& message,
                      const JobStatus& queued) {
  Status enqueued = queue.enqueue(message);
  if (!enqueued.ok()) record_enqueue_failure(statuses, queued, enqueued);
  return enqueued;
}

// The status of a job that waits in the schedule, as its entry implies it.
JobStatus status_of(const ScheduledJob& job) {
  const std::string run_at = to_rfc3339(job.run_at);
  return JobStatus{.job_id = job.message.job_id,
                   .state = JobState::kScheduled,
                   .progress_percent = 0,
                   .updated_at = job.message.submitted_at,
                   .message = "scheduled for " + run_at,
                   .trace_id = job.message.trace_id,
                   .job_type = job.message.job_type,
                   .run_at = run_at};
}

}  // namespace

StatusOr<std::optional<Clock::time_point>> resolve_run_at(std::string_view run_at,
                                                          std::optional<int64_t> delay_seconds,
                                                          Clock::time_point now) {
  const int64_t max_ahead = kMaxScheduleAhead.count();
  if (!run_at.empty() && delay_seconds) {
    return invalid_argument("give run_at or delay_seconds, not both");
  }
  if (delay_seconds) {
    if (*delay_seconds < 0 || *delay_seconds > max_ahead) {
      return invalid_argument("delay_seconds is 0 to " + std::to_string(max_ahead) +
                              " (365 days), not " + std::to_string(*delay_seconds));
    }
    return std::optional<Clock::time_point>(now + std::chrono::seconds(*delay_seconds));
  }
  if (run_at.empty()) return std::optional<Clock::time_point>();
  const auto at = parse_rfc3339(run_at);
  if (!at) {
    return invalid_argument("run_at \"" + std::string(run_at) +
                            "\" is not an RFC 3339 time (e.g. 2026-11-23T09:15:00Z)");
  }
  if (*at > now + kMaxScheduleAhead) {
    return invalid_argument("run_at is more than 365 days ahead");
  }
  return std::optional<Clock::time_point>(*at);
}

Status check_idempotency_key(std::string_view key) {
  if (key.empty() || key.size() > kMaxIdempotencyKey) {
    return invalid_argument("an idempotency key has 1 to " + std::to_string(kMaxIdempotencyKey) +
                            " characters, not " + std::to_string(key.size()));
  }
  for (const char c : key) {
    if (c < ' ' || c > '~') {
      return invalid_argument("an idempotency key is printable ASCII (space to '~') only");
    }
  }
  return {};
}

std::string submit_fingerprint(std::string_view job_type, std::string_view payload) {
  // nlohmann::json keeps object members sorted, so dump() is canonical. A
  // payload that is not JSON (never one that reached submit through the
  // faces) is compared byte for byte.
  std::string canonical;
  try {
    canonical = nlohmann::json::parse(payload).dump();
  } catch (const nlohmann::json::exception&) {
    canonical = std::string(payload);
  }
  // The job type cannot hold a NUL, so the two parts cannot run together.
  std::string request(job_type);
  request += '\0';
  request += canonical;
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  EVP_Digest(request.data(), request.size(), digest.data(), &length, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(static_cast<size_t>(length) * 2);
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0xf];
  }
  return hex;
}

SubmitResult JobService::submit(std::string_view job_type, std::string_view payload,
                                const SubmitOptions& options) {
  const bool keyed = !options.idempotency_key.empty();
  if (keyed) {
    if (Status valid = check_idempotency_key(options.idempotency_key); !valid.ok()) return valid;
    if (idempotency_ == nullptr) {
      return failed_precondition("this server keeps no idempotency keys");
    }
  }
  // A run_at that has passed runs the job now.
  const bool delayed = options.run_at && *options.run_at > Clock::now();
  if (delayed && schedule_ == nullptr) {
    return failed_precondition("this server keeps no schedule of delayed jobs");
  }
  JobMessage message;
  if (auto refused = prepare(job_type, payload, options.priority, message)) {
    return std::move(*refused);
  }

  // Claimed before anything is stored: of concurrent repeats, only the one
  // that claims the key makes a job; the others answer it.
  std::string key;
  if (keyed) {
    key = scoped_key(options);
    const IdempotencyRecord record{.fingerprint = submit_fingerprint(job_type, payload),
                                   .job_id = message.job_id};
    auto claim = idempotency_->claim(key, record, kIdempotencyTtl);
    if (!claim.ok()) return claim.status();
    if (!claim->claimed) return repeat_of(claim->holder, record.fingerprint);
  }
  // Best effort: a claim left behind only makes the key's retries answer a
  // job that failed, and it expires.
  const auto release_claim = [&] {
    if (keyed) (void)idempotency_->release(key, message.job_id);
  };

  if (delayed) {
    SubmitResult scheduled = schedule(message, *options.run_at);
    if (!scheduled.ok()) release_claim();
    return scheduled;
  }

  // Queued before enqueued: a worker may pick the job up the moment it is on
  // the queue, and its "running" must not be overtaken by our "queued".
  const JobStatus queued = queued_status(message);
  auto stored = statuses_.update(queued);
  if (!stored.ok()) {
    release_claim();
    return stored.status();
  }
  if (Status enqueued = enqueue_queued(queue_, statuses_, message, queued); !enqueued.ok()) {
    // After the failed status: a repeat that got this job's id meanwhile
    // reads that it failed, and the next one makes a new job.
    release_claim();
    return enqueued;
  }
  return SubmittedJob{.job_id = std::move(message.job_id),
                      .trace_id = std::move(message.trace_id),
                      .status = std::move(stored).value()};
}

StatusOr<std::vector<SubmitResult>> JobService::submit_batch(
    std::span<const BatchSubmission> batch) {
  if (batch.empty() || batch.size() > kMaxBatchJobs) {
    return invalid_argument("a batch holds 1 to " + std::to_string(kMaxBatchJobs) + " jobs, not " +
                            std::to_string(batch.size()));
  }
  // The jobs queued now: where their result goes, their message and their
  // stored queued status.
  struct Accepted {
    size_t index;
    JobStatus stored;
  };
  std::vector<Accepted> accepted;
  std::vector<JobMessage> messages;
  accepted.reserve(batch.size());
  messages.reserve(batch.size());
  std::vector<SubmitResult> results;
  results.reserve(batch.size());
  const auto now = Clock::now();
  // A key's claim and a schedule entry are per job: submit() keeps them.
  const auto own_path = [now](const BatchSubmission& item) {
    return !item.options.idempotency_key.empty() ||
           (item.options.run_at && *item.options.run_at > now);
  };
  // The other jobs' payloads are validated per job type in one call, so
  // that an isolated plugin's runner answers them all for one round trip.
  std::vector<std::optional<StatusOr<ValidationOutcome>>> checked(batch.size());
  std::map<std::string_view, std::vector<size_t>> of_type;
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!own_path(batch[i]) && is_valid_job_type(batch[i].job_type))
      of_type[batch[i].job_type].push_back(i);
  }
  for (const auto& [job_type, indices] : of_type) {
    std::vector<std::string_view> payloads;
    payloads.reserve(indices.size());
    for (const size_t i : indices) payloads.push_back(batch[i].payload);
    auto outcomes = validator_.check_batch(job_type, payloads);
    for (size_t k = 0; k < indices.size() && k < outcomes.size(); ++k)
      checked[indices[k]] = std::move(outcomes[k]);
  }
  // The jobs that passed validation, their queued status and where their
  // answer goes.
  std::vector<JobMessage> prepared;
  std::vector<JobStatus> queued;
  std::vector<size_t> prepared_index;
  for (size_t i = 0; i < batch.size(); ++i) {
    const BatchSubmission& item = batch[i];
    if (own_path(item)) {
      results.push_back(submit(item.job_type, item.payload, item.options));
      continue;
    }
    JobMessage message;
    if (auto refused = prepare(item.job_type, item.payload, item.options.priority, message,
                               checked[i] ? &*checked[i] : nullptr)) {
      results.push_back(std::move(*refused));
      continue;
    }
    // Answered below, once the status store and the enqueue say how it went.
    results.emplace_back(internal_error("not enqueued yet"));
    queued.push_back(queued_status(message));
    prepared.push_back(std::move(message));
    prepared_index.push_back(results.size() - 1);
  }
  // Queued before enqueued, as submit() does: every queued status in one
  // call, so that a status server gets them in one round trip.
  auto stored = statuses_.update_batch(queued);
  for (size_t k = 0; k < prepared.size(); ++k) {
    if (k >= stored.size() || !stored[k].ok()) {
      results[prepared_index[k]] =
          k < stored.size() ? SubmitResult(stored[k].status()) : internal_error("no status stored");
      continue;
    }
    accepted.push_back({.index = prepared_index[k], .stored = std::move(stored[k]).value()});
    messages.push_back(std::move(prepared[k]));
  }
  if (messages.empty()) return results;
  if (Status enqueued = queue_.enqueue_batch(messages); !enqueued.ok()) {
    for (size_t i = 0; i < accepted.size(); ++i) {
      record_enqueue_failure(statuses_, queued_status(messages[i]), enqueued);
      results[accepted[i].index] = SubmitResult(enqueued);
    }
    return results;
  }
  for (size_t i = 0; i < accepted.size(); ++i) {
    results[accepted[i].index] = SubmittedJob{.job_id = std::move(messages[i].job_id),
                                              .trace_id = std::move(messages[i].trace_id),
                                              .status = std::move(accepted[i].stored)};
  }
  return results;
}

std::optional<SubmitResult> JobService::prepare(std::string_view job_type, std::string_view payload,
                                                JobPriority priority, JobMessage& message,
                                                StatusOr<ValidationOutcome>* checked) {
  if (!is_valid_job_type(job_type)) {
    return not_found("unknown job type \"" + std::string(job_type) + "\"");
  }
  auto validation = checked != nullptr ? std::move(*checked) : validator_.check(job_type, payload);
  if (!validation.ok()) return validation.status();
  if (!validation->valid()) {
    return SubmitResult(invalid_argument("invalid payload for " + std::string(job_type)),
                        std::move(validation->errors));
  }
  message.job_id = new_uuid4();
  message.job_type = std::string(job_type);
  message.submitted_at = now_rfc3339();
  message.trace_id = new_uuid4();
  message.payload = std::move(validation->normalized_payload);
  message.priority = priority;
  return std::nullopt;
}

SubmitResult JobService::schedule(const JobMessage& message, Clock::time_point run_at) {
  // Scheduled before it is in the schedule, as a queued status is written
  // before the enqueue: the scheduler's "queued" must not be overtaken.
  JobStatus scheduled = status_of(ScheduledJob{.message = message, .run_at = run_at});
  scheduled.priority = message.priority;
  auto stored = statuses_.update(scheduled);
  if (!stored.ok()) return stored.status();
  if (Status kept = schedule_->schedule(message, run_at); !kept.ok()) {
    // Best effort, as enqueue_queued() does: the caller hears of it anyway.
    JobStatus lost = scheduled;
    lost.state = JobState::kFailed;
    lost.updated_at = now_rfc3339();
    lost.message = "could not be scheduled";
    lost.error_code = "schedule_failed";
    lost.error_message = kept.message();
    (void)statuses_.update(lost);
    return kept;
  }
  JobStatus answer = std::move(stored).value();
  answer.run_at = scheduled.run_at;
  return SubmittedJob{.job_id = message.job_id, .trace_id = message.trace_id, .status = answer};
}

SubmitResult JobService::repeat_of(const IdempotencyRecord& held, const std::string& fingerprint) {
  if (held.fingerprint != fingerprint) {
    return already_exists("the idempotency key was used for another job type or payload (job " +
                          held.job_id + ")");
  }
  // The status store first (statuses live as long as keys), the result for
  // a job whose live status is gone.
  const auto deadline = std::chrono::steady_clock::now() + kFirstSubmissionWait;
  for (;;) {
    auto current = statuses_.get(held.job_id);
    if (!current.ok() && current.status().code() == StatusCode::kNotFound) {
      if (auto stored = results_.get(held.job_id); stored.ok()) current = status_of(*stored);
    }
    if (current.ok()) {
      std::string trace_id = current->trace_id;
      return SubmittedJob{.job_id = held.job_id,
                          .trace_id = std::move(trace_id),
                          .status = std::move(current).value(),
                          .replayed = true};
    }
    if (current.status().code() != StatusCode::kNotFound) return current.status();
    // Claimed, but its status not written yet: the first submission is
    // between its claim and its first write.
    if (std::chrono::steady_clock::now() >= deadline) {
      return unavailable("the first submission with this idempotency key (job " + held.job_id +
                         ") is still under way; retry");
    }
    std::this_thread::sleep_for(kFirstSubmissionPoll);
  }
}

StatusOr<JobStatus> JobService::status(std::string_view job_id) {
  if (Status valid = check_id(job_id); !valid.ok()) return valid;
  auto live = progress_.progress(job_id);
  if (live.ok()) return with_run_at(std::move(live).value());
  if (live.status().code() != StatusCode::kNotFound) return live;
  auto stored = results_.get(job_id);
  if (stored.ok()) return status_of(*stored);
  if (schedule_ != nullptr) {
    if (auto waiting = schedule_->get(job_id); waiting.ok()) return status_of(*waiting);
  }
  return live;
}

JobStatus JobService::with_run_at(JobStatus status) {
  if (status.state != JobState::kScheduled || !status.run_at.empty() || schedule_ == nullptr) {
    return status;
  }
  if (auto waiting = schedule_->get(status.job_id); waiting.ok()) {
    status.run_at = to_rfc3339(waiting->run_at);
  }
  return status;
}

StatusOr<JobResult> JobService::result(std::string_view job_id) {
  if (Status valid = check_id(job_id); !valid.ok()) return valid;
  return results_.get(job_id);
}

StatusOr<StatusPage> JobService::list(const StatusListQuery& query) {
  if (query.state == JobState::kScheduled && schedule_ != nullptr) {
    auto waiting = schedule_->list(query.job_type, query.cursor, query.limit);
    if (!waiting.ok()) return waiting.status();
    StatusPage page{.next_cursor = std::move(waiting->next_cursor)};
    page.statuses.reserve(waiting->jobs.size());
    for (const ScheduledJob& job : waiting->jobs) page.statuses.push_back(status_of(job));
    return page;
  }
  auto page = statuses_.list(query);
  if (!page.ok()) return page;
  for (JobStatus& status : page->statuses) status = with_run_at(std::move(status));
  return page;
}

StatusOr<JobView> JobService::job(std::string_view job_id) {
  auto current = status(job_id);
  if (!current.ok()) return current.status();
  JobView view{.status = std::move(current).value()};
  if (auto stored = results_.get(job_id); stored.ok()) {
    if (!is_terminal(view.status.state)) merge_status(view.status, status_of(*stored));
    view.result = std::move(stored).value();
  }
  return view;
}

StatusOr<JobStatus> JobService::cancel(std::string_view job_id) {
  if (Status valid = check_id(job_id); !valid.ok()) return valid;
  auto current = statuses_.get(job_id);
  if (!current.ok() && current.status().code() == StatusCode::kNotFound && schedule_ != nullptr) {
    // A long delay outlives its live status (Redis keeps it 24 h).
    if (auto waiting = schedule_->get(job_id); waiting.ok()) current = status_of(*waiting);
  }
  if (!current.ok()) return current.status();
  if (is_terminal(current->state)) {
    return failed_precondition("job " + std::string(job_id) + " already " +
                               std::string(to_string(current->state)));
  }
  // The request first: a worker that takes the job between these two steps
  // must already see it.
  if (Status requested = statuses_.request_cancel(job_id); !requested.ok()) return requested;
  if (current->state == JobState::kScheduled && schedule_ != nullptr) {
    auto removed = schedule_->cancel(job_id);
    if (!removed.ok()) return removed.status();
    // Not there: a scheduler moved it meanwhile, and the request above
    // reaches whichever worker takes it.
    if (*removed) {
      JobStatus cancelled = *current;
      cancelled.state = JobState::kCancelled;
      cancelled.updated_at = now_rfc3339();
      cancelled.message = "cancelled before it was due";
      cancelled.error_code = "cancelled";
      cancelled.error_message = "cancelled by request";
      // Durable: the job has left the schedule for good, and a status
      // left `scheduled` by a crash would never change again.
      return statuses_.update_durable(cancelled);
    }
    return statuses_.get(job_id);
  }
  if (current->state == JobState::kQueued) {
    JobStatus cancelled = *current;
    cancelled.state = JobState::kCancelled;
    cancelled.updated_at = now_rfc3339();
    cancelled.message = "cancelled before it started";
    cancelled.error_code = "cancelled";
    cancelled.error_message = "cancelled by request";
    return statuses_.update(cancelled);
  }
  return statuses_.get(job_id);
}

StatusOr<std::vector<DeadLetter>> JobService::dead_letters(std::string_view job_type,
                                                           size_t limit) {
  return queue_.dead_letters(job_type, limit);
}

StatusOr<std::string> JobService::replay(std::string_view job_id) {
  if (Status valid = check_id(job_id); !valid.ok()) return valid;
  auto new_id = queue_.replay(job_id);
  if (!new_id.ok()) return new_id;
  (void)record_replay(statuses_, job_id, *new_id);
  return new_id;
}

Status JobService::delete_dead_letter(std::string_view job_id) {
  if (Status valid = check_id(job_id); !valid.ok()) return valid;
  return queue_.delete_dead_letter(job_id);
}

StatusOr<size_t> JobService::replay_all(std::string_view job_type) {
  return replay_dead_letters(queue_, &statuses_, job_type, kReplayAllScan);
}

StatusOr<size_t> replay_dead_letters(JobQueue& queue, StatusStore* statuses,
                                     std::string_view job_type, size_t scan) {
  if (!is_valid_job_type(job_type)) {
    return invalid_argument("\"" + std::string(job_type) + "\" is not a valid job type");
  }
  auto letters = queue.dead_letters(job_type, scan);
  if (!letters.ok()) return letters.status();
  size_t replayed = 0;
  for (const DeadLetter& letter : *letters) {
    if (!letter.replayed_as.empty()) continue;
    const std::string& id = letter.message.job_id;
    auto new_id = queue.replay(id);
    if (new_id.ok()) {
      ++replayed;
      if (statuses != nullptr) (void)record_replay(*statuses, id, *new_id);  // as replay() does
      continue;
    }
    // Replayed or deleted by another client since the listing: not ours to count.
    const StatusCode code = new_id.status().code();
    if (code == StatusCode::kFailedPrecondition || code == StatusCode::kNotFound) continue;
    return Status(code, "replayed " + std::to_string(replayed) + " dead letters of " +
                            std::string(job_type) + ", then: " + new_id.status().message());
  }
  return replayed;
}

StatusOr<std::string> JobService::retry(std::string_view job_id) {
  if (Status valid = check_id(job_id); !valid.ok()) return valid;
  const std::string id(job_id);
  auto ended = results_.get(job_id);
  if (!ended.ok()) {
    if (ended.status().code() != StatusCode::kNotFound) return ended.status();
    // No result: unknown, not ended, or failed before it ever ran (its
    // payload was never kept).
    auto current = statuses_.get(job_id);
    if (!current.ok()) return current.status();
    if (current->state != JobState::kFailed) {
      return failed_precondition("job " + id + " is " + std::string(to_string(current->state)) +
                                 ", not failed");
    }
    return failed_precondition("job " + id + " failed before it ran; its payload is not kept");
  }
  if (ended->final_state != JobState::kFailed) {
    return failed_precondition("job " + id + " ended " +
                               std::string(to_string(ended->final_state)) + ", not failed");
  }
  JobMessage message{.job_id = new_uuid4(),
                     .job_type = ended->job_type,
                     .submitted_at = now_rfc3339(),
                     .trace_id = ended->trace_id,
                     .payload = ended->input};
  // The result does not keep the priority; the status does while it lives.
  if (auto last = statuses_.get(job_id); last.ok()) message.priority = last->priority;
  // Queued before enqueued, as submit() does, for the same reason.
  JobStatus queued{.job_id = message.job_id,
                   .state = JobState::kQueued,
                   .progress_percent = 0,
                   .updated_at = message.submitted_at,
                   .message = notices::retry_of(id),
                   .trace_id = message.trace_id,
                   .job_type = message.job_type,
                   .priority = message.priority};
  if (auto stored = statuses_.update(queued); !stored.ok()) return stored.status();
  if (Status enqueued = enqueue_queued(queue_, statuses_, message, queued); !enqueued.ok())
    return enqueued;
  return message.job_id;
}

StatusOr<JobStatus> record_replay(StatusStore& statuses, std::string_view original_id,
                                  const std::string& replay_id) {
  const auto original = statuses.get(original_id);
  return statuses.update(
      JobStatus{.job_id = replay_id,
                .state = JobState::kQueued,
                .updated_at = now_rfc3339(),
                .message = notices::replay_of(original_id),
                .trace_id = original.ok() ? original->trace_id : "",
                .job_type = original.ok() ? original->job_type : "",
                .priority = original.ok() ? original->priority : JobPriority::kNormal});
}

}  // namespace dtq
