// JobService: what a client can do with jobs — submit, look up, cancel,
// retry a failed one, list dead letters, replay and delete them —
// expressed over the ports, so the CLI (embedded) and the API server (any
// backend) share one implementation of the rules: the owning plugin
// validates the payload; the queued status is written before the message
// is enqueued; a cancel reaches a queued job at
// once and a running one through its worker; a submission with an
// idempotency key claims the key before it enqueues, so its repeats get
// the same job (and its claim is freed if the enqueue fails). A batch
// submit checks each job on its own and enqueues the accepted ones
// together.
//
// Thread-safety: every member function is thread-safe. Ownership: borrows
// the ports, which must outlive the service.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dtq/core/model.hpp"
#include "dtq/core/ports/idempotency_store.hpp"
#include "dtq/core/ports/job_queue.hpp"
#include "dtq/core/ports/job_schedule.hpp"
#include "dtq/core/ports/payload_validator.hpp"
#include "dtq/core/ports/progress_query.hpp"
#include "dtq/core/ports/result_store.hpp"
#include "dtq/core/ports/status_store.hpp"
#include "dtq/core/status.hpp"

namespace dtq {

struct SubmittedJob {
  std::string job_id;
  std::string trace_id;
  JobStatus status;
  // True when an earlier submission with the same idempotency key made the
  // job (status is then the job's current one, not necessarily queued).
  bool replayed = false;
};

// What a submission may carry besides its job type and payload.
struct SubmitOptions {
  // Empty: none. Otherwise 1 to 255 printable ASCII characters (space to
  // '~'): a repeat within kIdempotencyTtl with the same job type and
  // payload answers the first submission's job; with another job type or
  // payload, AlreadyExists.
  std::string_view idempotency_key;
  // Whose key it is: keys of different owners never meet. The REST and
  // gRPC faces pass the id of the caller's API key; empty (no auth, the
  // operator key) is one space shared by every such caller.
  std::string_view key_owner;
  // Unset, or not after the submission: the job is queued now. Later: it
  // waits in the schedule, `scheduled`, until then (resolve_run_at()).
  std::optional<Clock::time_point> run_at;
  // Which class of its type's queue the job waits in (priority.hpp).
  JobPriority priority = JobPriority::kNormal;
};

// How far ahead a job may be scheduled.
inline constexpr std::chrono::seconds kMaxScheduleAhead = std::chrono::hours(24 * 365);

// A submission's run_at from what a client sent: `run_at` (RFC 3339; empty
// for none) or `delay_seconds` (0 to kMaxScheduleAhead), not both.
// InvalidArgument, saying why, for both, a malformed time, a negative delay
// or one past kMaxScheduleAhead. A run_at in the past is allowed: the job
// runs now. Nothing: unset.
StatusOr<std::optional<Clock::time_point>> resolve_run_at(std::string_view run_at,
                                                          std::optional<int64_t> delay_seconds,
                                                          Clock::time_point now);

// InvalidArgument, saying why, unless `key` is a well-formed idempotency key.
Status check_idempotency_key(std::string_view key);
// What a keyed submission is compared by: the hex SHA-256 of the job type
// and the payload in canonical form (keys sorted, no spaces), so that the
// same object written differently is the same request.
std::string submit_fingerprint(std::string_view job_type, std::string_view payload);

// A submission's outcome: the job, or the Status that says why it was
// refused (NotFound for an unknown job type, InvalidArgument for a payload
// its plugin refused, anything else for a store or queue that failed). A
// refused payload also says which fields the plugin objected to: the REST
// and gRPC faces return them to the client field by field.
class [[nodiscard]] SubmitResult : public StatusOr<SubmittedJob> {
 public:
  using StatusOr<SubmittedJob>::StatusOr;
  SubmitResult(Status status, std::vector<FieldError> field_errors)
      : StatusOr<SubmittedJob>(std::move(status)), field_errors_(std::move(field_errors)) {}
  // Empty unless the plugin refused the payload.
  [[nodiscard]] const std::vector<FieldError>& field_errors() const noexcept {
    return field_errors_;
  }

 private:
  std::vector<FieldError> field_errors_;
};

// One job of a batch submit: what submit() takes, borrowed for the call.
struct BatchSubmission {
  std::string_view job_type;
  std::string_view payload;
  SubmitOptions options;
};

// The most jobs one batch submit may hold.
inline constexpr size_t kMaxBatchJobs = 1000;

// Gives `replay_id`, the replay of dead-lettered job `original_id`, the
// queued status a submit would, with the original's trace and type. A
// worker may already have taken it; merge_status keeps its later state.
StatusOr<JobStatus> record_replay(StatusStore& statuses, std::string_view original_id,
                                  const std::string& replay_id);

// Replays every dead letter of `job_type` that is not replayed yet, among
// its newest `scan`, recording each replay in `statuses` (none when null:
// the CLI given Kafka without Redis), and answers how many. One that
// another client replays or deletes meanwhile is skipped; any other error
// stops the run, its message saying how many were replayed before it.
StatusOr<size_t> replay_dead_letters(JobQueue& queue, StatusStore* statuses,
                                     std::string_view job_type, size_t scan);

// A job's status with its result, once it has one (JobService::job).
struct JobView {
  JobStatus status;
  std::optional<JobResult> result;
};

class JobService {
 public:
  // `idempotency` null: a submission with an idempotency key is refused
  // (FailedPrecondition), never silently run twice. `schedule` null: so is
  // one with a run_at in the future.
  JobService(JobQueue& queue, StatusStore& statuses, ResultStore& results,
             PayloadValidator& validator, ProgressQuery& progress,
             IdempotencyStore* idempotency = nullptr, JobSchedule* schedule = nullptr)
      : queue_(queue),
        statuses_(statuses),
        results_(results),
        validator_(validator),
        progress_(progress),
        idempotency_(idempotency),
        schedule_(schedule) {}

  // With an idempotency key: InvalidArgument for a malformed key (checked
  // before anything else), AlreadyExists when the key holds another
  // request, Unavailable when the key's first submission is still under
  // way after a few seconds (retry). With a run_at in the future: the job
  // is stored in the schedule, its status `scheduled` (FailedPrecondition
  // when this service has no schedule).
  SubmitResult submit(std::string_view job_type, std::string_view payload,
                      const SubmitOptions& options = {});
  // Submits each job of `batch` as submit() would, answering one result
  // per job, in the batch's order; one refused job never fails the others.
  // The jobs queued now share one enqueue_batch(), their queued statuses
  // written first in one update_batch(), so a failed enqueue fails each of
  // them with its error and none is reported accepted; a job with an
  // idempotency key or a future run_at takes submit()'s own path. InvalidArgument, and nothing
  // submitted, for an empty batch or one over kMaxBatchJobs.
  StatusOr<std::vector<SubmitResult>> submit_batch(std::span<const BatchSubmission> batch);

  // InvalidArgument for a malformed id, NotFound for an unknown job. Asked
  // through the ProgressQuery: in distributed mode, of the workers. A job
  // whose live status is gone (Redis keeps it 24 h) but whose result is
  // stored answers the terminal status the result implies, so an ended job
  // stays readable as long as its result is kept; a scheduled job whose
  // live status is gone answers the one its schedule entry implies.
  StatusOr<JobStatus> status(std::string_view job_id);
  StatusOr<JobResult> result(std::string_view job_id);
  // The job as a client reads it: status() and, once the job ended, its
  // result. A worker stores the result before it writes the terminal
  // status (so that an ended job always has its result), so between those
  // two writes the live status still says running: the view then answers
  // the terminal status the result implies, never a result beside a
  // running status. Errors as status(); a result that cannot be read is
  // left out, as a job without one.
  StatusOr<JobView> job(std::string_view job_id);
  // A page of the jobs `query` asks for, from the status store (newest
  // submitted first), each scheduled one with its run_at. The scheduled
  // jobs (state scheduled) come from the schedule when there is one,
  // earliest due first: a job waits there however long its delay, while a
  // status store need not keep its status that long (Redis: 24 h). A
  // cursor is good only for the same filter; InvalidArgument for a
  // malformed one.
  StatusOr<StatusPage> list(const StatusListQuery& query);
  // FailedPrecondition when the job has already ended. A scheduled job is
  // taken out of the schedule (it never runs) and ends cancelled.
  StatusOr<JobStatus> cancel(std::string_view job_id);

  StatusOr<std::vector<DeadLetter>> dead_letters(std::string_view job_type, size_t limit);
  StatusOr<std::string> replay(std::string_view job_id);
  // NotFound when the job has no dead letter (never had, or deleted).
  Status delete_dead_letter(std::string_view job_id);
  // replay_dead_letters() over this service's queue and statuses.
  static constexpr size_t kReplayAllScan = 10'000;
  StatusOr<size_t> replay_all(std::string_view job_type);
  // Runs a failed job again: a new job of its type, payload and trace id,
  // whose queued status says what it retries (as a replay's does).
  // InvalidArgument for a malformed id, NotFound for an unknown job,
  // FailedPrecondition unless it ended `failed` with its result (which
  // holds the payload) kept.
  StatusOr<std::string> retry(std::string_view job_id);

 private:
  // `status` with its run_at, read from the schedule, when it is scheduled
  // (a status store need not keep run_at).
  JobStatus with_run_at(JobStatus status);
  // The answer to a keyed submission whose key `held` already: its job,
  // or AlreadyExists when it was made by another request.
  SubmitResult repeat_of(const IdempotencyRecord& held, const std::string& fingerprint);
  // The message a submission of `job_type` makes, its payload normalized by
  // the plugin, into `message`; or the refusal, with its field errors.
  // `checked`: the payload's validation when the caller asked for it
  // already (a batch's, asked per job type), taken from; null: asked here.
  std::optional<SubmitResult> prepare(std::string_view job_type, std::string_view payload,
                                      JobPriority priority, JobMessage& message,
                                      StatusOr<ValidationOutcome>* checked = nullptr);
  // submit()'s end for a job due at `run_at`, later than now.
  SubmitResult schedule(const JobMessage& message, Clock::time_point run_at);

  JobQueue& queue_;
  StatusStore& statuses_;
  ResultStore& results_;
  PayloadValidator& validator_;
  ProgressQuery& progress_;
  IdempotencyStore* const idempotency_;
  JobSchedule* const schedule_;
};

}  // namespace dtq
