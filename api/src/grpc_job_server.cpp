#include "dtq/api/grpc_job_server.hpp"

#include <dtq/v1/jobs.grpc.pb.h>
#include <grpcpp/grpcpp.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <deque>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "access_guard.hpp"
#include "dtq/core/ids.hpp"
#include "dtq/core/thread_annotations.hpp"
#include "dtq/rpc/grpc_server.hpp"
#include "grpc_convert.hpp"
#include "job_feed.hpp"
#include "write_guard.hpp"

namespace dtq::api {
namespace {

namespace v1 = ::dtq::v1;

// A failed call: the gRPC code and message, and dtq.v1.ErrorDetails in the
// trailing metadata.
struct Failure {
  grpc::StatusCode code;
  std::string error_code;  // the REST name
  std::string message;
  std::vector<FieldError> fields = {};
};

Failure from_status(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
      return {grpc::StatusCode::INVALID_ARGUMENT, "invalid_argument", status.message()};
    case StatusCode::kNotFound:
      return {grpc::StatusCode::NOT_FOUND, "not_found", status.message()};
    case StatusCode::kAlreadyExists:
      return {grpc::StatusCode::ALREADY_EXISTS, "conflict", status.message()};
    case StatusCode::kFailedPrecondition:
      return {grpc::StatusCode::FAILED_PRECONDITION, "conflict", status.message()};
    case StatusCode::kUnavailable:
      return {grpc::StatusCode::UNAVAILABLE, "unavailable", status.message()};
    case StatusCode::kDeadlineExceeded:
      return {grpc::StatusCode::DEADLINE_EXCEEDED, "timeout", status.message()};
    case StatusCode::kCancelled:
      return {grpc::StatusCode::CANCELLED, "cancelled", status.message()};
    default:
      return {grpc::StatusCode::INTERNAL, "internal", status.message()};
  }
}

// A job lookup's failure, with the REST codes for a bad or unknown id.
Failure job_failure(const Status& status) {
  Failure failure = from_status(status);
  if (status.code() == StatusCode::kNotFound) failure.error_code = "unknown_job";
  if (status.code() == StatusCode::kInvalidArgument) failure.error_code = "malformed_id";
  return failure;
}

Failure malformed_id() {
  return {grpc::StatusCode::INVALID_ARGUMENT, "malformed_id", "malformed job id"};
}

// `failure` as a job's answer in a batch: what fail() would send.
void set_error(const Failure& failure, v1::SubmitJobError& out) {
  out.set_code(static_cast<int32_t>(failure.code));
  out.set_message(failure.message);
  out.mutable_details()->set_code(failure.error_code);
  for (const auto& field : failure.fields) {
    auto* error = out.mutable_details()->add_field_errors();
    error->set_field(field.field);
    error->set_message(field.message);
  }
}

// The idempotency keys' owner of the caller: its API key's id.
std::string caller_owner(const grpc::ServerContextBase& context) {
  const auto& metadata = context.client_metadata();
  const auto authorization = metadata.find("authorization");
  return idempotency_owner(authorization == metadata.end()
                               ? std::nullopt
                               : std::optional<std::string_view>(std::string_view(
                                     authorization->second.data(), authorization->second.size())));
}

// A SubmitJob request read into what JobService::submit() takes: the
// minified payload into `payload`, the rest into `options` (which borrows
// `request` and `owner`); or the failure that says what is wrong with it.
std::optional<Failure> read_submit(const v1::SubmitJobRequest& request, const std::string& owner,
                                   std::string& payload, SubmitOptions& options) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element object;
  if (parser.parse(simdjson::padded_string(request.payload_json())).get(object) !=
          simdjson::SUCCESS ||
      !object.is_object()) {
    return Failure{grpc::StatusCode::INVALID_ARGUMENT,
                   "invalid_request",
                   "payload_json must be a JSON object",
                   {{"payload_json", "required, a JSON object"}}};
  }
  if (!request.idempotency_key().empty()) {
    if (Status valid = check_idempotency_key(request.idempotency_key()); !valid.ok()) {
      return Failure{grpc::StatusCode::INVALID_ARGUMENT,
                     "invalid_idempotency_key",
                     valid.message(),
                     {{"idempotency_key", valid.message()}}};
    }
  }
  const auto priority = from_proto(request.priority());
  if (!priority) {
    return Failure{grpc::StatusCode::INVALID_ARGUMENT,
                   "invalid_request",
                   "unknown priority " + std::to_string(request.priority()),
                   {{"priority", "one of HIGH, NORMAL, LOW (UNSPECIFIED is NORMAL)"}}};
  }
  // 0 is proto3's "not set": no delay.
  const auto run_at = resolve_run_at(
      request.run_at(),
      request.delay_seconds() == 0 ? std::nullopt : std::optional<int64_t>(request.delay_seconds()),
      Clock::now());
  if (!run_at.ok()) {
    const std::string field = request.run_at().empty() ? "delay_seconds" : "run_at";
    return Failure{grpc::StatusCode::INVALID_ARGUMENT,
                   "invalid_request",
                   run_at.status().message(),
                   {{field, run_at.status().message()}}};
  }
  payload = simdjson::minify(object);
  options = SubmitOptions{.idempotency_key = request.idempotency_key(),
                          .key_owner = owner,
                          .run_at = *run_at,
                          .priority = *priority};
  return std::nullopt;
}

// What a refused submission fails with. `keyed`: it carried an
// idempotency key.
Failure submit_failure(const SubmitResult& submitted, bool keyed) {
  const Status& refused = submitted.status();
  Failure failure = from_status(refused);
  if (refused.code() == StatusCode::kNotFound) failure.error_code = "unknown_job_type";
  if (refused.code() == StatusCode::kInvalidArgument) {
    failure.error_code = "invalid_payload";
    failure.fields = submitted.field_errors();
  }
  if (refused.code() == StatusCode::kAlreadyExists && keyed) {
    failure.error_code = "idempotency_conflict";
  }
  return failure;
}

void set_submitted(const SubmittedJob& submitted, v1::SubmitJobResponse& out) {
  out.set_job_id(submitted.job_id);
  out.set_trace_id(submitted.trace_id);
  to_proto(submitted.status, *out.mutable_status());
  out.set_replayed(submitted.replayed);
}

template <class Context>
grpc::Status fail(Context* context, const Failure& failure) {
  v1::ErrorDetails details;
  details.set_code(failure.error_code);
  for (const auto& field : failure.fields) {
    auto* out = details.add_field_errors();
    out->set_field(field.field);
    out->set_message(field.message);
  }
  context->AddTrailingMetadata(std::string(kErrorDetailsKey), details.SerializeAsString());
  return {failure.code, failure.message};
}

}  // namespace

class GrpcJobServer::Impl final
    : public v1::JobService::WithCallbackMethod_WatchJobs<
          v1::JobService::WithCallbackMethod_WatchJob<v1::JobService::Service>> {
 public:
  Impl(GrpcServerSettings settings, JobService& jobs, StatusStore& statuses,
       JobTypeRegistry& job_types)
      : settings_(std::move(settings)),
        jobs_(jobs),
        statuses_(statuses),
        job_types_(job_types),
        guard_(settings_.keys, settings_.open_reads, false),
        limiter_(settings_.submit_rate_per_second),
        watch_slots_(settings_.max_watch_streams) {}

  Status start();
  void stop();
  uint16_t port() const noexcept { return server_.port(); }

  // Unary calls: gRPC's synchronous server, whose threads may block (a
  // submit waits for its commit, a lookup for the progress query).
  grpc::Status SubmitJob(grpc::ServerContext* context, const v1::SubmitJobRequest* request,
                         v1::SubmitJobResponse* response) override;
  grpc::Status SubmitJobs(grpc::ServerContext* context, const v1::SubmitJobsRequest* request,
                          v1::SubmitJobsResponse* response) override;
  grpc::Status GetJob(grpc::ServerContext* context, const v1::GetJobRequest* request,
                      v1::GetJobResponse* response) override;
  grpc::Status ListJobs(grpc::ServerContext* context, const v1::ListJobsRequest* request,
                        v1::ListJobsResponse* response) override;
  grpc::Status GetJobHistory(grpc::ServerContext* context, const v1::GetJobHistoryRequest* request,
                             v1::GetJobHistoryResponse* response) override;
  grpc::Status CancelJob(grpc::ServerContext* context, const v1::CancelJobRequest* request,
                         v1::CancelJobResponse* response) override;
  grpc::Status ListJobTypes(grpc::ServerContext* context, const v1::ListJobTypesRequest* request,
                            v1::ListJobTypesResponse* response) override;
  // Dead letters and retries.
  grpc::Status ListDeadLetters(grpc::ServerContext* context,
                               const v1::ListDeadLettersRequest* request,
                               v1::ListDeadLettersResponse* response) override;
  grpc::Status ReplayDeadLetter(grpc::ServerContext* context,
                                const v1::ReplayDeadLetterRequest* request,
                                v1::ReplayDeadLetterResponse* response) override;
  grpc::Status ReplayDeadLetters(grpc::ServerContext* context,
                                 const v1::ReplayDeadLettersRequest* request,
                                 v1::ReplayDeadLettersResponse* response) override;
  grpc::Status DeleteDeadLetter(grpc::ServerContext* context,
                                const v1::DeleteDeadLetterRequest* request,
                                v1::DeleteDeadLetterResponse* response) override;
  grpc::Status RetryJob(grpc::ServerContext* context, const v1::RetryJobRequest* request,
                        v1::RetryJobResponse* response) override;
  grpc::Status PauseJobType(grpc::ServerContext* context, const v1::PauseJobTypeRequest* request,
                            v1::PauseJobTypeResponse* response) override;
  grpc::Status ResumeJobType(grpc::ServerContext* context, const v1::ResumeJobTypeRequest* request,
                             v1::ResumeJobTypeResponse* response) override;
  // What both answer: an admin key, a valid job type hosted by some pool.
  grpc::Status set_paused(grpc::ServerContext* context, const std::string& job_type, bool paused);
  // The stream: the callback API, so that an open watch holds no thread.
  grpc::ServerWriteReactor<v1::JobStatus>* WatchJob(grpc::CallbackServerContext* context,
                                                    const v1::WatchJobRequest* request) override;
  grpc::ServerWriteReactor<v1::JobStatus>* WatchJobs(grpc::CallbackServerContext* context,
                                                     const v1::WatchJobsRequest* request) override;

 private:
  class Watch;
  friend class Watch;

  // The refusal of a call that lacks what `need` asks for.
  std::optional<Failure> check_access(const grpc::ServerContextBase& context, Need need) const;
  void forget(Watch* watch, std::shared_ptr<Watch>& keep);
  // Registers a new watch, already finishing (`ready` false) when the
  // server is stopping or the caller may not read.
  struct Opened {
    std::shared_ptr<Watch> watch;
    bool ready;
  };
  Opened open_watch(grpc::CallbackServerContext* context);

  const GrpcServerSettings settings_;
  JobService& jobs_;
  StatusStore& statuses_;
  JobTypeRegistry& job_types_;
  const AccessGuard guard_;
  RateLimiter limiter_;
  rpc::GrpcServer server_;

  StreamSlots watch_slots_;
  Mutex watches_mutex_;
  bool stopping_ DTQ_GUARDED_BY(watches_mutex_) = false;
  std::unordered_map<Watch*, std::shared_ptr<Watch>> watches_ DTQ_GUARDED_BY(watches_mutex_);
};

// One WatchJob call. Statuses from the subscription queue up and are
// written one at a time (gRPC allows one write in flight); whatever merges
// into nothing the client has not seen is skipped. gRPC and the store
// call in on their own threads; every decision is taken under `mutex_` and
// every gRPC operation is started after it is released, because gRPC may
// run a reaction (even OnDone) inline.
//
// A WatchJobs call is the same reactor following every job: no snapshot,
// no JobFeed (each job's changes arrive in the store's order), only the
// statuses that pass its filter, and at most kMaxQueued waiting: a client
// that falls further behind is ended (RESOURCE_EXHAUSTED) rather than
// holding the server's memory.
//
// Lifetime: the server's `watches_` holds it from creation to OnDone, so
// stop() can reach it safely; gRPC's last call is OnDone.
class GrpcJobServer::Impl::Watch final : public grpc::ServerWriteReactor<v1::JobStatus> {
 public:
  Watch(Impl& server, grpc::CallbackServerContext* context) : server_(server), context_(context) {}

  // Runs once the server holds the watch: looks the job up and subscribes.
  void begin(const std::string& job_id) {
    if (!is_uuid(job_id)) return finish_with(malformed_id());
    if (!server_.watch_slots_.claim()) {
      return finish_with({grpc::StatusCode::RESOURCE_EXHAUSTED, "too_many_streams",
                          "too many open watches; retry later"});
    }
    reserved_ = true;
    auto snapshot = server_.statuses_.get(job_id);
    if (!snapshot.ok()) return finish_with(job_failure(snapshot.status()));
    subscription_ =
        follow_job(server_.statuses_, std::move(snapshot).value(), [this](const JobStatus& status) {
          {
            MutexLock lock(mutex_);
            queued_.push_back(status);
          }
          advance();
        });
    {
      MutexLock lock(mutex_);
      started_ = true;
    }
    advance();
  }

  // Runs once the server holds the watch: follows every job that passes
  // the filter (an unset state or an empty job type: any).
  void begin_all(std::optional<JobState> state, std::string job_type) {
    if (!server_.watch_slots_.claim()) {
      return finish_with({grpc::StatusCode::RESOURCE_EXHAUSTED, "too_many_streams",
                          "too many open watches; retry later"});
    }
    reserved_ = true;
    all_jobs_ = true;
    subscription_ = server_.statuses_.subscribe(
        "", [this, state, job_type = std::move(job_type)](const JobStatus& status) {
          if (state && status.state != *state) return;
          if (!job_type.empty() && status.job_type != job_type) return;
          bool overflowed = false;
          {
            MutexLock lock(mutex_);
            overflowed = queued_.size() >= kMaxQueued;
            if (!overflowed) queued_.push_back(status);
          }
          if (overflowed) {
            finish_with({grpc::StatusCode::RESOURCE_EXHAUSTED, "too_many_streams",
                         "the client fell too far behind the stream of every job"});
          } else {
            advance();
          }
        });
    {
      MutexLock lock(mutex_);
      started_ = true;
      headers_owed_ = true;
    }
    advance();
  }

  // Ends the call with `failure` as soon as no write is in flight.
  void finish_with(const Failure& failure) {
    {
      MutexLock lock(mutex_);
      if (finish_wanted_ || finished_) return;
      finish_wanted_ = fail(context_, failure);
    }
    advance();
  }

  void OnWriteDone(bool ok) override { on_sent(ok); }
  void OnSendInitialMetadataDone(bool ok) override { on_sent(ok); }

  void OnCancel() override {
    {
      MutexLock lock(mutex_);
      if (!finish_wanted_) finish_wanted_ = grpc::Status::CANCELLED;
    }
    advance();
  }

  void OnDone() override {
    // No callback runs once the subscription is gone.
    subscription_.reset();
    if (reserved_) server_.watch_slots_.release();
    std::shared_ptr<Watch> keep;
    server_.forget(this, keep);
    // `keep` may be the last owner: nothing touches this after here.
  }

 private:
  void on_sent(bool ok) {
    {
      MutexLock lock(mutex_);
      writing_ = false;
      // The client went away; Finish is still owed.
      if (!ok && !finish_wanted_) finish_wanted_ = grpc::Status::CANCELLED;
    }
    advance();
  }

  // Starts the next gRPC operation if none is in flight.
  void advance() {
    enum class Op { kNone, kHeaders, kWrite, kWriteLast, kFinish } op = Op::kNone;
    grpc::Status status;
    {
      MutexLock lock(mutex_);
      if (finished_ || writing_) return;
      if (finish_wanted_) {
        finished_ = true;
        status = *finish_wanted_;
        op = Op::kFinish;
      } else if (headers_owed_) {
        headers_owed_ = false;
        writing_ = true;
        op = Op::kHeaders;
      } else if (started_ && all_jobs_ && !queued_.empty()) {
        to_proto(queued_.front(), out_);
        queued_.pop_front();
        writing_ = true;
        op = Op::kWrite;
      } else if (started_ && !all_jobs_) {
        while (!queued_.empty()) {
          const auto next = feed_.next(queued_.front());
          queued_.pop_front();
          if (!next) continue;  // nothing the client has not seen
          to_proto(*next, out_);
          if (feed_.ended()) {
            finished_ = true;
            op = Op::kWriteLast;
          } else {
            writing_ = true;
            op = Op::kWrite;
          }
          break;
        }
      }
    }
    switch (op) {
      case Op::kHeaders:
        StartSendInitialMetadata();
        break;
      case Op::kWrite:
        StartWrite(&out_);
        break;
      case Op::kWriteLast:
        StartWriteAndFinish(&out_, grpc::WriteOptions(), grpc::Status::OK);
        break;
      case Op::kFinish:
        Finish(status);
        break;
      case Op::kNone:
        break;
    }
  }

  Impl& server_;
  grpc::CallbackServerContext* const context_;
  static constexpr size_t kMaxQueued = 10000;  // statuses a WatchJobs call may fall behind

  bool reserved_ = false;  // set in begin(), read in OnDone()
  bool all_jobs_ = false;  // a WatchJobs call; set before started_
  std::unique_ptr<StatusSubscription> subscription_;

  Mutex mutex_;
  std::deque<JobStatus> queued_ DTQ_GUARDED_BY(mutex_);
  // The snapshot is queued: writing may begin.
  bool started_ DTQ_GUARDED_BY(mutex_) = false;
  bool writing_ DTQ_GUARDED_BY(mutex_) = false;  // a StartWrite (or the headers) in flight
  // A WatchJobs call sends its headers as soon as it is subscribed: they
  // tell the client that every change from then on reaches it, so a list it
  // reads after them misses nothing (the call has no snapshot).
  bool headers_owed_ DTQ_GUARDED_BY(mutex_) = false;
  bool finished_ DTQ_GUARDED_BY(mutex_) = false;  // Finish (or the last write) has been started
  std::optional<grpc::Status> finish_wanted_ DTQ_GUARDED_BY(mutex_);
  JobFeed feed_ DTQ_GUARDED_BY(mutex_);  // what the client is sent
  v1::JobStatus out_;                    // the message in flight; untouched until OnWriteDone
};

Status GrpcJobServer::Impl::start() {
  return server_.start(
      {.address = settings_.listen_address, .max_message_bytes = settings_.max_message_bytes},
      {this});
}

void GrpcJobServer::Impl::stop() {
  if (!server_.serving()) return;
  std::vector<std::shared_ptr<Watch>> open;
  {
    MutexLock lock(watches_mutex_);
    stopping_ = true;
    for (const auto& [raw, watch] : watches_) open.push_back(watch);
  }
  for (const auto& watch : open) {
    watch->finish_with({grpc::StatusCode::UNAVAILABLE, "unavailable", "the server is stopping"});
  }
  server_.stop(settings_.shutdown_grace);
}

void GrpcJobServer::Impl::forget(Watch* watch, std::shared_ptr<Watch>& keep) {
  MutexLock lock(watches_mutex_);
  if (auto found = watches_.find(watch); found != watches_.end()) {
    keep = std::move(found->second);
    watches_.erase(found);
  }
}

GrpcJobServer::Impl::Opened GrpcJobServer::Impl::open_watch(grpc::CallbackServerContext* context) {
  auto watch = std::make_shared<Watch>(*this, context);
  bool stopping = false;
  {
    MutexLock lock(watches_mutex_);
    stopping = stopping_;
    watches_.emplace(watch.get(), watch);
  }
  if (stopping) {
    watch->finish_with({grpc::StatusCode::UNAVAILABLE, "unavailable", "the server is stopping"});
  } else if (auto refused = check_access(*context, Need::kRead)) {
    watch->finish_with(*refused);
  } else {
    return {watch, true};
  }
  return {watch, false};
}

grpc::ServerWriteReactor<v1::JobStatus>* GrpcJobServer::Impl::WatchJob(
    grpc::CallbackServerContext* context, const v1::WatchJobRequest* request) {
  // `watches_` keeps the reactor alive until OnDone.
  auto [watch, ready] = open_watch(context);
  if (ready) watch->begin(request->job_id());
  return watch.get();
}

grpc::ServerWriteReactor<v1::JobStatus>* GrpcJobServer::Impl::WatchJobs(
    grpc::CallbackServerContext* context, const v1::WatchJobsRequest* request) {
  std::optional<JobState> state;
  if (request->state() != v1::JOB_STATE_UNSPECIFIED) state = from_proto(request->state());
  auto [watch, ready] = open_watch(context);
  if (!ready) return watch.get();
  if (request->state() != v1::JOB_STATE_UNSPECIFIED && !state) {
    watch->finish_with({grpc::StatusCode::INVALID_ARGUMENT,
                        "invalid_argument",
                        "unknown state",
                        {{"state", "one of the JobState values"}}});
  } else {
    watch->begin_all(state, request->job_type());
  }
  return watch.get();
}

std::optional<Failure> GrpcJobServer::Impl::check_access(const grpc::ServerContextBase& context,
                                                         Need need) const {
  const auto& metadata = context.client_metadata();
  const auto found = metadata.find("authorization");
  const Verdict verdict = guard_.check(
      need, found == metadata.end() ? std::nullopt
                                    : std::optional<std::string_view>(std::string_view(
                                          found->second.data(), found->second.size())));
  switch (verdict.kind) {
    case Verdict::Kind::kAllowed:
      return std::nullopt;
    case Verdict::Kind::kUnauthenticated:
      return Failure{grpc::StatusCode::UNAUTHENTICATED, "unauthorized",
                     verdict.message + " (metadata authorization: Bearer KEY)"};
    case Verdict::Kind::kForbidden:
      return Failure{grpc::StatusCode::PERMISSION_DENIED, "forbidden", verdict.message};
    case Verdict::Kind::kUnavailable:
      spdlog::error("API keys: {}", verdict.message);
      return Failure{grpc::StatusCode::UNAVAILABLE, "unavailable", "cannot check the API key now"};
  }
  return std::nullopt;
}

grpc::Status GrpcJobServer::Impl::SubmitJob(grpc::ServerContext* context,
                                            const v1::SubmitJobRequest* request,
                                            v1::SubmitJobResponse* response) {
  if (auto refused = check_access(*context, Need::kSubmit)) return fail(context, *refused);
  if (!limiter_.allow()) {
    return fail(context, {grpc::StatusCode::RESOURCE_EXHAUSTED, "rate_limited",
                          "over the submit rate; retry shortly"});
  }
  const std::string owner = caller_owner(*context);
  std::string payload;
  SubmitOptions options;
  if (auto refused = read_submit(*request, owner, payload, options)) {
    return fail(context, *refused);
  }
  const SubmitResult submitted = [&]() -> SubmitResult {
    try {
      return jobs_.submit(request->job_type(), payload, options);
    } catch (const std::exception& e) {
      spdlog::error("gRPC SubmitJob: {}", e.what());
      return internal_error("internal error");
    }
  }();
  if (!submitted.ok()) {
    return fail(context, submit_failure(submitted, !request->idempotency_key().empty()));
  }
  set_submitted(*submitted, *response);
  return grpc::Status::OK;
}

grpc::Status GrpcJobServer::Impl::SubmitJobs(grpc::ServerContext* context,
                                             const v1::SubmitJobsRequest* request,
                                             v1::SubmitJobsResponse* response) {
  if (auto refused = check_access(*context, Need::kSubmit)) return fail(context, *refused);
  // One call against the submit rate, whatever it holds, as REST's batch.
  if (!limiter_.allow()) {
    return fail(context, {grpc::StatusCode::RESOURCE_EXHAUSTED, "rate_limited",
                          "over the submit rate; retry shortly"});
  }
  const auto count = static_cast<size_t>(request->jobs_size());
  if (count == 0 || count > kMaxBatchJobs) {
    return fail(context, {grpc::StatusCode::INVALID_ARGUMENT,
                          "invalid_request",
                          "a batch holds 1 to " + std::to_string(kMaxBatchJobs) + " jobs, not " +
                              std::to_string(count),
                          {{"jobs", "1 to " + std::to_string(kMaxBatchJobs) + " jobs"}}});
  }
  const std::string owner = caller_owner(*context);
  // A job that cannot be read is refused here, the others go to the
  // service together; position[k] is batch[k]'s place among the jobs.
  std::vector<std::string> payloads(count);
  std::vector<BatchSubmission> batch;
  std::vector<size_t> position;
  batch.reserve(count);
  position.reserve(count);
  for (size_t i = 0; i < count; ++i) response->add_results();
  for (size_t i = 0; i < count; ++i) {
    const v1::SubmitJobRequest& job = request->jobs(static_cast<int>(i));
    SubmitOptions options;
    if (auto refused = read_submit(job, owner, payloads[i], options)) {
      set_error(*refused, *response->mutable_results(static_cast<int>(i))->mutable_error());
      continue;
    }
    batch.push_back({.job_type = job.job_type(), .payload = payloads[i], .options = options});
    position.push_back(i);
  }
  if (batch.empty()) return grpc::Status::OK;
  auto submitted = [&]() -> StatusOr<std::vector<SubmitResult>> {
    try {
      return jobs_.submit_batch(batch);
    } catch (const std::exception& e) {
      spdlog::error("gRPC SubmitJobs: {}", e.what());
      return internal_error("internal error");
    }
  }();
  if (!submitted.ok()) return fail(context, from_status(submitted.status()));
  for (size_t k = 0; k < batch.size(); ++k) {
    const SubmitResult& result = (*submitted)[k];
    v1::SubmitJobResult& out = *response->mutable_results(static_cast<int>(position[k]));
    if (result.ok()) {
      set_submitted(*result, *out.mutable_job());
    } else {
      set_error(submit_failure(result, !batch[k].options.idempotency_key.empty()),
                *out.mutable_error());
    }
  }
  return grpc::Status::OK;
}

grpc::Status GrpcJobServer::Impl::GetJob(grpc::ServerContext* context,
                                         const v1::GetJobRequest* request,
                                         v1::GetJobResponse* response) {
  if (auto refused = check_access(*context, Need::kRead)) return fail(context, *refused);
  if (!is_uuid(request->job_id())) return fail(context, malformed_id());
  auto view = jobs_.job(request->job_id());
  if (!view.ok()) return fail(context, job_failure(view.status()));
  response->set_job_id(request->job_id());
  to_proto(view->status, *response->mutable_status());
  // A result exists only once the job ended; its absence is not an error.
  if (view->result) to_proto(*view->result, *response->mutable_result());
  return grpc::Status::OK;
}

grpc::Status GrpcJobServer::Impl::GetJobHistory(grpc::ServerContext* context,
                                                const v1::GetJobHistoryRequest* request,
                                                v1::GetJobHistoryResponse* response) {
  if (auto refused = check_access(*context, Need::kRead)) return fail(context, *refused);
  if (!is_uuid(request->job_id())) return fail(context, malformed_id());
  // Unknown jobs are NOT_FOUND, as in GetJob: the history alone cannot tell.
  auto status = jobs_.status(request->job_id());
  if (!status.ok()) return fail(context, job_failure(status.status()));
  if (settings_.history == nullptr)
    return fail(context, from_status(unavailable("this server keeps no job history")));
  constexpr size_t kMaxHistoryEvents = 1000;  // as REST's
  auto events = settings_.history->list(request->job_id(), kMaxHistoryEvents);
  if (!events.ok()) return fail(context, from_status(events.status()));
  response->set_job_id(request->job_id());
  for (const auto& event : *events) {
    auto* out = response->add_events();
    out->set_job_id(event.job_id);
    out->set_job_type(event.job_type);
    out->set_at(event.at);
    out->set_kind(std::string(to_string(event.kind)));
    out->set_attempt(event.attempt);
    out->set_worker(event.worker);
    out->set_error_code(event.error_code);
    out->set_related_job_id(event.related_job_id);
    out->set_detail(event.detail);
  }
  return grpc::Status::OK;
}

grpc::Status GrpcJobServer::Impl::ListJobs(grpc::ServerContext* context,
                                           const v1::ListJobsRequest* request,
                                           v1::ListJobsResponse* response) {
  if (auto refused = check_access(*context, Need::kRead)) return fail(context, *refused);
  StatusListQuery query;
  if (request->state() != v1::JOB_STATE_UNSPECIFIED) {
    query.state = from_proto(request->state());
    if (!query.state) {
      return fail(context, {grpc::StatusCode::INVALID_ARGUMENT,
                            "invalid_argument",
                            "unknown state",
                            {{"state", "one of the JobState values"}}});
    }
  }
  if (request->limit() > kMaxListLimit) {
    return fail(context,
                {grpc::StatusCode::INVALID_ARGUMENT,
                 "invalid_argument",
                 "bad limit",
                 {{"limit", "0 (the default, 50) or 1 to " + std::to_string(kMaxListLimit)}}});
  }
  query.limit = request->limit() == 0 ? kDefaultListLimit : request->limit();
  query.job_type = request->job_type();
  query.cursor = request->cursor();
  auto page = jobs_.list(query);
  if (!page.ok()) {
    Failure failure = from_status(page.status());
    if (page.status().code() == StatusCode::kInvalidArgument) {
      failure.fields.push_back({"cursor", page.status().message()});
    }
    return fail(context, failure);
  }
  for (const auto& status : page->statuses) to_proto(status, *response->add_jobs());
  response->set_next_cursor(page->next_cursor);
  return grpc::Status::OK;
}

grpc::Status GrpcJobServer::Impl::CancelJob(grpc::ServerContext* context,
                                            const v1::CancelJobRequest* request,
                                            v1::CancelJobResponse* response) {
  if (auto refused = check_access(*context, Need::kSubmit)) return fail(context, *refused);
  if (!is_uuid(request->job_id())) return fail(context, malformed_id());
  auto cancelled = jobs_.cancel(request->job_id());
  if (!cancelled.ok()) return fail(context, job_failure(cancelled.status()));
  to_proto(*cancelled, *response->mutable_status());
  return grpc::Status::OK;
}

grpc::Status GrpcJobServer::Impl::ListJobTypes(grpc::ServerContext* context,
                                               const v1::ListJobTypesRequest* /*request*/,
                                               v1::ListJobTypesResponse* response) {
  if (auto refused = check_access(*context, Need::kRead)) return fail(context, *refused);
  auto listed = job_types_.list();
  if (!listed.ok()) return fail(context, from_status(listed.status()));
  for (const auto& info : *listed) {
    auto* out = response->add_job_types();
    out->set_job_type(info.job_type);
    out->set_name(info.name);
    out->set_version(info.version);
    out->set_description(info.description);
    out->set_payload_schema_json(info.payload_schema_json);
    out->set_abi_version(info.abi_version);
    out->set_concurrency(info.concurrency);
    out->set_pools(info.pools);
    out->set_in_flight(info.in_flight);
    out->set_isolation(info.isolation);
    out->set_runner_crashes(info.runner_crashes);
    out->set_crash_looping(info.crash_looping);
    out->set_last_crash(info.last_crash);
    out->set_paused(info.paused);
  }
  return grpc::Status::OK;
}

// Dead letters and retries.

grpc::Status GrpcJobServer::Impl::ListDeadLetters(grpc::ServerContext* context,
                                                  const v1::ListDeadLettersRequest* request,
                                                  v1::ListDeadLettersResponse* response) {
  if (auto refused = check_access(*context, Need::kRead)) return fail(context, *refused);
  if (!request->job_type().empty() && !is_valid_job_type(request->job_type())) {
    return fail(context, {grpc::StatusCode::INVALID_ARGUMENT,
                          "invalid_argument",
                          "bad job type",
                          {{"job_type", "empty (every type) or a job type"}}});
  }
  if (request->limit() > kMaxListLimit) {
    return fail(context,
                {grpc::StatusCode::INVALID_ARGUMENT,
                 "invalid_argument",
                 "bad limit",
                 {{"limit", "0 (the default, 50) or 1 to " + std::to_string(kMaxListLimit)}}});
  }
  const size_t limit = request->limit() == 0 ? kDefaultListLimit : request->limit();
  auto letters = jobs_.dead_letters(request->job_type(), limit);
  if (!letters.ok()) return fail(context, from_status(letters.status()));
  for (const DeadLetter& letter : *letters) {
    auto* out = response->add_dead_letters();
    out->set_job_id(letter.message.job_id);
    out->set_job_type(letter.message.job_type);
    out->set_trace_id(letter.message.trace_id);
    out->set_submitted_at(letter.message.submitted_at);
    out->set_payload_json(letter.message.payload);
    out->mutable_error()->set_code(letter.error.code);
    out->mutable_error()->set_message(letter.error.message);
    out->set_attempts(letter.attempts);
    out->set_failed_at(letter.failed_at);
    out->set_replayed_as(letter.replayed_as);
  }
  return grpc::Status::OK;
}

grpc::Status GrpcJobServer::Impl::ReplayDeadLetter(grpc::ServerContext* context,
                                                   const v1::ReplayDeadLetterRequest* request,
                                                   v1::ReplayDeadLetterResponse* response) {
  if (auto refused = check_access(*context, Need::kAdmin)) return fail(context, *refused);
  if (!is_uuid(request->job_id())) return fail(context, malformed_id());
  auto replayed = jobs_.replay(request->job_id());
  if (!replayed.ok()) return fail(context, job_failure(replayed.status()));
  response->set_job_id(*replayed);
  return grpc::Status::OK;
}

grpc::Status GrpcJobServer::Impl::ReplayDeadLetters(grpc::ServerContext* context,
                                                    const v1::ReplayDeadLettersRequest* request,
                                                    v1::ReplayDeadLettersResponse* response) {
  if (auto refused = check_access(*context, Need::kAdmin)) return fail(context, *refused);
  if (!is_valid_job_type(request->job_type())) {
    return fail(context, {grpc::StatusCode::INVALID_ARGUMENT,
                          "invalid_argument",
                          "which job type's dead letters to replay",
                          {{"job_type", "required, a job type"}}});
  }
  auto replayed = jobs_.replay_all(request->job_type());
  if (!replayed.ok()) return fail(context, from_status(replayed.status()));
  response->set_replayed(static_cast<uint32_t>(*replayed));
  return grpc::Status::OK;
}

grpc::Status GrpcJobServer::Impl::DeleteDeadLetter(grpc::ServerContext* context,
                                                   const v1::DeleteDeadLetterRequest* request,
                                                   v1::DeleteDeadLetterResponse* /*response*/) {
  if (auto refused = check_access(*context, Need::kAdmin)) return fail(context, *refused);
  if (!is_uuid(request->job_id())) return fail(context, malformed_id());
  if (Status deleted = jobs_.delete_dead_letter(request->job_id()); !deleted.ok()) {
    return fail(context, job_failure(deleted));
  }
  return grpc::Status::OK;
}

grpc::Status GrpcJobServer::Impl::RetryJob(grpc::ServerContext* context,
                                           const v1::RetryJobRequest* request,
                                           v1::RetryJobResponse* response) {
  if (auto refused = check_access(*context, Need::kAdmin)) return fail(context, *refused);
  if (!is_uuid(request->job_id())) return fail(context, malformed_id());
  auto retried = jobs_.retry(request->job_id());
  if (!retried.ok()) return fail(context, job_failure(retried.status()));
  response->set_job_id(*retried);
  return grpc::Status::OK;
}

// Pausing job types.

grpc::Status GrpcJobServer::Impl::set_paused(grpc::ServerContext* context,
                                             const std::string& job_type, bool paused) {
  if (auto refused = check_access(*context, Need::kAdmin)) return fail(context, *refused);
  if (!is_valid_job_type(job_type)) {
    return fail(context, {grpc::StatusCode::INVALID_ARGUMENT,
                          "invalid_argument",
                          "bad job type",
                          {{"job_type", "a job type: lower case letters, digits and _"}}});
  }
  const Status set = job_types_.set_paused(job_type, paused);
  if (set.code() == StatusCode::kNotFound) {
    return fail(context, {grpc::StatusCode::NOT_FOUND, "unknown_job_type", set.message(), {}});
  }
  if (!set.ok()) return fail(context, from_status(set));
  return grpc::Status::OK;
}

grpc::Status GrpcJobServer::Impl::PauseJobType(grpc::ServerContext* context,
                                               const v1::PauseJobTypeRequest* request,
                                               v1::PauseJobTypeResponse* response) {
  grpc::Status answered = set_paused(context, request->job_type(), true);
  if (!answered.ok()) return answered;
  response->set_job_type(request->job_type());
  response->set_paused(true);
  return answered;
}

grpc::Status GrpcJobServer::Impl::ResumeJobType(grpc::ServerContext* context,
                                                const v1::ResumeJobTypeRequest* request,
                                                v1::ResumeJobTypeResponse* response) {
  grpc::Status answered = set_paused(context, request->job_type(), false);
  if (!answered.ok()) return answered;
  response->set_job_type(request->job_type());
  response->set_paused(false);
  return answered;
}

GrpcJobServer::GrpcJobServer(GrpcServerSettings settings, JobService& jobs, StatusStore& statuses,
                             JobTypeRegistry& job_types)
    : impl_(std::make_unique<Impl>(std::move(settings), jobs, statuses, job_types)) {}

GrpcJobServer::~GrpcJobServer() {
  stop();
}

Status GrpcJobServer::start() {
  return impl_->start();
}

uint16_t GrpcJobServer::port() const noexcept {
  return impl_->port();
}

void GrpcJobServer::stop() {
  impl_->stop();
}

}  // namespace dtq::api
