#include "job_client.hpp"

#include <dtq/v1/jobs.grpc.pb.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <climits>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "dtq/core/model.hpp"
#include "dtq/core/model_json.hpp"
#include "dtq/core/thread_annotations.hpp"

namespace dtq::cli {
namespace {

using nlohmann::ordered_json;

std::string url_encode(const std::string& text) {
  std::ostringstream out;
  for (const unsigned char c : text) {
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out << c;
    } else {
      out << '%' << std::uppercase << std::hex << std::setw(2) << std::setfill('0')
          << static_cast<int>(c);
    }
  }
  return out.str();
}

v1::JobPriority priority_of(JobPriority priority) {
  switch (priority) {
    case JobPriority::kHigh:
      return v1::JOB_PRIORITY_HIGH;
    case JobPriority::kLow:
      return v1::JOB_PRIORITY_LOW;
    case JobPriority::kNormal:
      break;
  }
  return v1::JOB_PRIORITY_NORMAL;
}

// Unspecified, and any class this version does not know, is normal.
JobPriority priority_from(v1::JobPriority priority) {
  switch (priority) {
    case v1::JOB_PRIORITY_HIGH:
      return JobPriority::kHigh;
    case v1::JOB_PRIORITY_LOW:
      return JobPriority::kLow;
    default:
      return JobPriority::kNormal;
  }
}

// --- REST: the API's routes (docs/operators.md) ------------------------------

class RestJobClient final : public JobClient {
 public:
  RestJobClient(const std::string& server, std::string key) : api_(server, std::move(key)) {}

  ApiReply submit(const std::string& job_type, const std::string& payload_json,
                  const SubmitWhen& when, JobPriority priority) override {
    // The payload is spliced in as text: the server parses and validates it.
    std::string body =
        "{\"job_type\":" + ordered_json(job_type).dump() + ",\"payload\":" + payload_json;
    if (priority != JobPriority::kNormal) {
      body += ",\"priority\":" + ordered_json(to_string(priority)).dump();
    }
    if (!when.run_at.empty()) body += ",\"run_at\":" + ordered_json(when.run_at).dump();
    if (when.delay_seconds) body += ",\"delay_seconds\":" + std::to_string(*when.delay_seconds);
    return api_.post("/v1/jobs", body + "}");
  }
  ApiReply submit_batch(const std::string& batch_json) override {
    return api_.post("/v1/jobs:batch", batch_json);
  }
  ApiReply job(const std::string& job_id) override {
    return api_.get("/v1/jobs/" + url_encode(job_id));
  }
  ApiReply history(const std::string& job_id) override {
    return api_.get("/v1/jobs/" + url_encode(job_id) + "/history");
  }
  ApiReply list_jobs(const JobListQuery& query) override {
    return api_.get(
        "/v1/jobs?limit=" + std::to_string(query.limit) + "&state=" + url_encode(query.state) +
        "&job_type=" + url_encode(query.job_type) + "&cursor=" + url_encode(query.cursor));
  }
  ApiReply cancel(const std::string& job_id) override {
    return api_.post("/v1/jobs/" + url_encode(job_id) + "/cancel", "");
  }
  ApiReply job_types() override { return api_.get("/v1/job-types"); }
  ApiReply set_paused(const std::string& job_type, bool paused) override {
    return api_.post("/v1/job-types/" + url_encode(job_type) + (paused ? ":pause" : ":resume"), "");
  }
  ApiReply dead_letters(const std::string& job_type, size_t limit) override {
    return api_.get("/v1/dead-letters?limit=" + std::to_string(limit) +
                    "&job_type=" + url_encode(job_type));
  }
  ApiReply replay(const std::string& job_id) override {
    return api_.post("/v1/dead-letters/" + url_encode(job_id) + ":replay", "");
  }
  ApiReply replay_all(const std::string& job_type) override {
    return api_.post("/v1/dead-letters:replay?job_type=" + url_encode(job_type), "");
  }
  ApiReply delete_dead_letter(const std::string& job_id) override {
    return api_.del("/v1/dead-letters/" + url_encode(job_id));
  }
  ApiReply retry(const std::string& job_id) override {
    return api_.post("/v1/jobs/" + url_encode(job_id) + ":retry", "");
  }
  ApiReply watch_job(const std::string& job_id, const StatusSink& sink,
                     const std::atomic<bool>* stop) override {
    return api_.stream_events("/v1/jobs/" + url_encode(job_id) + "/events", sink, stop);
  }
  ApiReply watch_jobs(const StatusSink& sink, const std::atomic<bool>* stop,
                      const std::function<void()>& on_watching) override {
    // GET /v1/events sends its headers and a first heartbeat once it has
    // subscribed.
    return api_.stream_events("/v1/events", sink, stop, on_watching);
  }

 private:
  ApiClient api_;
};

// --- gRPC: dtq.v1.JobService --------------------------------------------------

constexpr auto kCallTimeout = std::chrono::seconds(30);

// By name, so that a state added to both (JOB_STATE_X, "x") needs nothing here.
std::optional<JobState> from_proto(v1::JobState state) {
  const std::string& name = v1::JobState_Name(state);
  constexpr std::string_view kPrefix = "JOB_STATE_";
  if (!name.starts_with(kPrefix)) return std::nullopt;
  std::string lower = name.substr(kPrefix.size());
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return parse_job_state(lower);
}

// JOB_STATE_UNSPECIFIED for a state this version of the contract lacks.
v1::JobState to_proto(JobState state) {
  std::string name = "JOB_STATE_" + std::string(to_string(state));
  for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  v1::JobState out = v1::JOB_STATE_UNSPECIFIED;
  return v1::JobState_Parse(name, &out) ? out : v1::JOB_STATE_UNSPECIFIED;
}

// REST's JSON of a status: the model's own encoding, as REST sends it.
ordered_json status_json(const v1::JobStatus& in) {
  JobStatus status;
  status.job_id = in.job_id();
  status.state = from_proto(in.state()).value_or(JobState::kQueued);
  status.progress_percent = in.progress_percent();
  status.updated_at = in.updated_at();
  status.message = in.message();
  status.trace_id = in.trace_id();
  status.job_type = in.job_type();
  status.error_code = in.error_code();
  status.error_message = in.error_message();
  status.attempt = in.attempt();
  status.run_at = in.run_at();
  status.priority = priority_from(in.priority());
  return ordered_json::parse(to_json(status));
}

ordered_json result_json(const v1::JobResult& in) {
  JobResult result;
  result.schema_version = in.schema_version();
  result.job_id = in.job_id();
  result.job_type = in.job_type();
  result.input = in.input_json();
  result.output = in.output_json();
  result.final_state = from_proto(in.final_state()).value_or(JobState::kFailed);
  result.started_at = in.started_at();
  result.completed_at = in.completed_at();
  if (in.has_error()) result.error = JobError{in.error().code(), in.error().message()};
  result.trace_id = in.trace_id();
  result.attempts = in.attempts();
  return ordered_json::parse(to_json(result));
}

// REST writes an optional text that is absent as null; proto3 sends it empty.
ordered_json text_or_null(const std::string& text) {
  return text.empty() ? ordered_json() : ordered_json(text);
}

ordered_json object_or_empty(const std::string& text) {
  ordered_json parsed = ordered_json::parse(text, nullptr, false);
  return parsed.is_discarded() || !parsed.is_object() ? ordered_json::object() : parsed;
}

ApiReply answer(long code, const ordered_json& body) {
  return ApiReply{.code = code, .body = body.dump(), .transport = {}, .protocol = {}};
}

// A submit's, a replay's or a retry's 202: the new job, as REST answers it.
ApiReply new_job(const std::string& id, const char* of, const std::string& original,
                 const std::string& trace_id = {}) {
  ordered_json body = {{"job_id", id}};
  if (of != nullptr) body[of] = original;
  if (!trace_id.empty()) body["trace_id"] = trace_id;
  body["status_url"] = "/v1/jobs/" + id + "/status";
  body["events_url"] = "/v1/jobs/" + id + "/events";
  return answer(202, body);
}

// The HTTP status REST answers for what gRPC answers with `code`.
long http_status(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return 200;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE:
      return 400;
    case grpc::StatusCode::UNAUTHENTICATED:
      return 401;
    case grpc::StatusCode::PERMISSION_DENIED:
      return 403;
    case grpc::StatusCode::NOT_FOUND:
      return 404;
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::ABORTED:
      return 409;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return 429;
    case grpc::StatusCode::UNIMPLEMENTED:
      return 501;
    case grpc::StatusCode::UNAVAILABLE:
      return 503;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return 504;
    default:
      return 500;
  }
}

const char* code_name(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "INTERNAL";
  }
}

// The REST error code for a failed call without dtq's details (one refused
// by gRPC itself).
const char* fallback_code(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "invalid_argument";
    case grpc::StatusCode::NOT_FOUND:
      return "not_found";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "unauthorized";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "forbidden";
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "conflict";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "rate_limited";
    case grpc::StatusCode::UNAVAILABLE:
      return "unavailable";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "timeout";
    default:
      return "internal";
  }
}

// What follow()'s canceller thread shares with the reading one.
struct Canceller {
  Mutex mutex;
  CondVar changed;
  bool done DTQ_GUARDED_BY(mutex) = false;  // the stream ended: nothing to cancel
  std::atomic<bool> stopped{false};         // `stop` cancelled it
};

class GrpcJobClient final : public JobClient {
 public:
  GrpcJobClient(std::string server, std::string key)
      : server_(std::move(server)), key_(std::move(key)) {
    const bool tls = server_.starts_with("grpcs://");
    std::string target = server_.substr(tls ? 8 : 7);
    while (!target.empty() && target.back() == '/') target.pop_back();
    auto credentials = tls ? grpc::SslCredentials(grpc::SslCredentialsOptions{})
                           : grpc::InsecureChannelCredentials();
    stub_ = v1::JobService::NewStub(grpc::CreateChannel(target, credentials));
  }

  ApiReply submit(const std::string& job_type, const std::string& payload_json,
                  const SubmitWhen& when, JobPriority priority) override {
    v1::SubmitJobRequest request;
    request.set_job_type(job_type);
    request.set_payload_json(payload_json);
    request.set_priority(priority_of(priority));
    request.set_run_at(when.run_at);
    // Out of int32's range is out of the server's too: it refuses it.
    if (when.delay_seconds) {
      request.set_delay_seconds(
          static_cast<int32_t>(std::clamp<int64_t>(*when.delay_seconds, INT32_MIN, INT32_MAX)));
    }
    v1::SubmitJobResponse response;
    grpc::ClientContext context;
    prepare(context);
    const grpc::Status status = stub_->SubmitJob(&context, request, &response);
    if (!status.ok()) return failure(status, context);
    ApiReply reply = new_job(response.job_id(), nullptr, {}, response.trace_id());
    if (response.status().state() == v1::JOB_STATE_SCHEDULED) {
      // As REST's 202 says it.
      ordered_json body = ordered_json::parse(reply.body);
      body["state"] = "scheduled";
      body["run_at"] = response.status().run_at();
      reply.body = body.dump();
    }
    return reply;
  }

  ApiReply submit_batch(const std::string& batch_json) override {
    // REST's body read into SubmitJobs: what is not of the right type is
    // sent so that the server refuses it, job by job, as REST's would.
    const ordered_json batch = ordered_json::parse(batch_json, nullptr, false);
    if (batch.is_discarded() || !batch.is_object() || !batch.contains("jobs") ||
        !batch["jobs"].is_array()) {
      return answer(400, {{"error",
                           {{"code", "invalid_request"},
                            {"message", "the body must be {jobs: [...]}"},
                            {"details", ordered_json::array()}}}});
    }
    v1::SubmitJobsRequest request;
    for (const auto& job : batch["jobs"]) {
      v1::SubmitJobRequest& out = *request.add_jobs();
      if (!job.is_object()) continue;
      out.set_job_type(job.value("job_type", ordered_json()).is_string()
                           ? job["job_type"].get<std::string>()
                           : std::string());
      if (job.contains("payload") && job["payload"].is_object()) {
        out.set_payload_json(job["payload"].dump());
      }
      if (job.contains("priority")) {
        const auto priority = job["priority"].is_string()
                                  ? parse_job_priority(job["priority"].get<std::string>())
                                  : std::nullopt;
        // A number no version knows: the server's invalid_request.
        out.set_priority(priority ? priority_of(*priority) : static_cast<v1::JobPriority>(-1));
      }
      if (job.contains("run_at") && job["run_at"].is_string()) {
        out.set_run_at(job["run_at"].get<std::string>());
      }
      if (job.contains("delay_seconds") && job["delay_seconds"].is_number_integer()) {
        out.set_delay_seconds(static_cast<int32_t>(
            std::clamp<int64_t>(job["delay_seconds"].get<int64_t>(), INT32_MIN, INT32_MAX)));
      }
      if (job.contains("idempotency_key") && job["idempotency_key"].is_string()) {
        out.set_idempotency_key(job["idempotency_key"].get<std::string>());
      }
    }
    v1::SubmitJobsResponse response;
    grpc::ClientContext context;
    prepare(context);
    const grpc::Status status = stub_->SubmitJobs(&context, request, &response);
    if (!status.ok()) return failure(status, context);
    ordered_json results = ordered_json::array();
    for (const auto& result : response.results()) {
      if (result.has_job()) {
        const auto& job = result.job();
        ordered_json accepted =
            ordered_json::parse(new_job(job.job_id(), nullptr, {}, job.trace_id()).body);
        if (job.status().state() == v1::JOB_STATE_SCHEDULED) {
          accepted["state"] = "scheduled";
          accepted["run_at"] = job.status().run_at();
        }
        if (job.replayed()) accepted["replayed"] = true;
        results.push_back(std::move(accepted));
        continue;
      }
      const auto& error = result.error();
      const auto code = static_cast<grpc::StatusCode>(error.code());
      ordered_json details = ordered_json::array();
      for (const auto& field : error.details().field_errors()) {
        details.push_back({{"field", field.field()}, {"message", field.message()}});
      }
      results.push_back(
          {{"error",
            {{"code", error.details().code().empty() ? std::string(fallback_code(code))
                                                     : error.details().code()},
             {"message", error.message()},
             {"details", std::move(details)}}},
           {"http_status", http_status(code)}});
    }
    return answer(200, {{"results", std::move(results)}});
  }

  ApiReply job(const std::string& job_id) override {
    v1::GetJobRequest request;
    request.set_job_id(job_id);
    v1::GetJobResponse response;
    grpc::ClientContext context;
    prepare(context);
    const grpc::Status status = stub_->GetJob(&context, request, &response);
    if (!status.ok()) return failure(status, context);
    ordered_json body = {{"job_id", response.job_id()}, {"status", status_json(response.status())}};
    if (response.has_result()) body["result"] = result_json(response.result());
    return answer(200, body);
  }

  // REST's JSON of the history.
  ApiReply history(const std::string& job_id) override {
    v1::GetJobHistoryRequest request;
    request.set_job_id(job_id);
    v1::GetJobHistoryResponse response;
    grpc::ClientContext context;
    prepare(context);
    const grpc::Status status = stub_->GetJobHistory(&context, request, &response);
    if (!status.ok()) return failure(status, context);
    ordered_json events = ordered_json::array();
    for (const auto& event : response.events()) {
      events.push_back({{"at", event.at()},
                        {"kind", event.kind()},
                        {"job_type", event.job_type()},
                        {"attempt", event.attempt()},
                        {"worker", text_or_null(event.worker())},
                        {"error_code", text_or_null(event.error_code())},
                        {"related_job_id", text_or_null(event.related_job_id())},
                        {"detail", event.detail()}});
    }
    return answer(200, {{"job_id", response.job_id()}, {"events", events}});
  }

  ApiReply list_jobs(const JobListQuery& query) override {
    v1::ListJobsRequest request;
    if (!query.state.empty()) {
      const auto state = parse_job_state(query.state);
      if (!state || to_proto(*state) == v1::JOB_STATE_UNSPECIFIED) {
        // What REST answers for ?state= it does not know.
        return answer(400,
                      {{"error",
                        {{"code", "invalid_argument"},
                         {"message", "bad state"},
                         {"details", ordered_json::array({{{"field", "state"},
                                                           {"message",
                                                            "one of queued, running, "
                                                            "completed, failed, cancelled"}}})}}}});
      }
      request.set_state(to_proto(*state));
    }
    request.set_job_type(query.job_type);
    request.set_limit(static_cast<uint32_t>(query.limit));
    request.set_cursor(query.cursor);
    v1::ListJobsResponse response;
    grpc::ClientContext context;
    prepare(context);
    const grpc::Status status = stub_->ListJobs(&context, request, &response);
    if (!status.ok()) return failure(status, context);
    ordered_json jobs = ordered_json::array();
    for (const auto& job : response.jobs()) jobs.push_back(status_json(job));
    return answer(
        200, {{"jobs", std::move(jobs)}, {"next_cursor", text_or_null(response.next_cursor())}});
  }

  ApiReply cancel(const std::string& job_id) override {
    v1::CancelJobRequest request;
    request.set_job_id(job_id);
    v1::CancelJobResponse response;
    grpc::ClientContext context;
    prepare(context);
    const grpc::Status status = stub_->CancelJob(&context, request, &response);
    if (!status.ok()) return failure(status, context);
    return answer(200, status_json(response.status()));
  }

  ApiReply job_types() override {
    v1::ListJobTypesResponse response;
    grpc::ClientContext context;
    prepare(context);
    const grpc::Status status = stub_->ListJobTypes(&context, {}, &response);
    if (!status.ok()) return failure(status, context);
    ordered_json types = ordered_json::array();
    for (const auto& info : response.job_types()) {
      types.push_back({{"job_type", info.job_type()},
                       {"name", info.name()},
                       {"version", info.version()},
                       {"description", info.description()},
                       {"payload_schema", object_or_empty(info.payload_schema_json())},
                       {"abi_version", info.abi_version()},
                       {"concurrency", info.concurrency()},
                       {"pools", info.pools()},
                       {"in_flight", info.in_flight()},
                       {"isolation", info.isolation()},
                       {"runner_crashes", info.runner_crashes()},
                       {"crash_looping", info.crash_looping()},
                       {"last_crash", info.last_crash()},
                       {"paused", info.paused()}});
    }
    return answer(200, {{"job_types", std::move(types)}});
  }

  ApiReply set_paused(const std::string& job_type, bool paused) override {
    grpc::ClientContext context;
    prepare(context);
    grpc::Status status;
    if (paused) {
      v1::PauseJobTypeRequest request;
      request.set_job_type(job_type);
      v1::PauseJobTypeResponse response;
      status = stub_->PauseJobType(&context, request, &response);
    } else {
      v1::ResumeJobTypeRequest request;
      request.set_job_type(job_type);
      v1::ResumeJobTypeResponse response;
      status = stub_->ResumeJobType(&context, request, &response);
    }
    if (!status.ok()) return failure(status, context);
    return answer(200, {{"job_type", job_type}, {"paused", paused}});
  }

  ApiReply dead_letters(const std::string& job_type, size_t limit) override {
    v1::ListDeadLettersRequest request;
    request.set_job_type(job_type);
    request.set_limit(static_cast<uint32_t>(limit));
    v1::ListDeadLettersResponse response;
    grpc::ClientContext context;
    prepare(context);
    const grpc::Status status = stub_->ListDeadLetters(&context, request, &response);
    if (!status.ok()) return failure(status, context);
    ordered_json list = ordered_json::array();
    for (const auto& letter : response.dead_letters()) {
      list.push_back(
          {{"job_id", letter.job_id()},
           {"job_type", letter.job_type()},
           {"trace_id", letter.trace_id()},
           {"submitted_at", letter.submitted_at()},
           {"payload", object_or_empty(letter.payload_json())},
           {"error", {{"code", letter.error().code()}, {"message", letter.error().message()}}},
           {"attempts", letter.attempts()},
           {"failed_at", letter.failed_at()},
           {"replayed_as", text_or_null(letter.replayed_as())}});
    }
    return answer(200, {{"dead_letters", std::move(list)}});
  }

  ApiReply replay(const std::string& job_id) override {
    v1::ReplayDeadLetterRequest request;
    request.set_job_id(job_id);
    v1::ReplayDeadLetterResponse response;
    grpc::ClientContext context;
    prepare(context);
    const grpc::Status status = stub_->ReplayDeadLetter(&context, request, &response);
    if (!status.ok()) return failure(status, context);
    return new_job(response.job_id(), "replay_of", job_id);
  }

  ApiReply replay_all(const std::string& job_type) override {
    v1::ReplayDeadLettersRequest request;
    request.set_job_type(job_type);
    v1::ReplayDeadLettersResponse response;
    grpc::ClientContext context;
    prepare(context);
    const grpc::Status status = stub_->ReplayDeadLetters(&context, request, &response);
    if (!status.ok()) return failure(status, context);
    return answer(200, {{"job_type", job_type}, {"replayed", response.replayed()}});
  }

  ApiReply delete_dead_letter(const std::string& job_id) override {
    v1::DeleteDeadLetterRequest request;
    request.set_job_id(job_id);
    v1::DeleteDeadLetterResponse response;
    grpc::ClientContext context;
    prepare(context);
    const grpc::Status status = stub_->DeleteDeadLetter(&context, request, &response);
    if (!status.ok()) return failure(status, context);
    return answer(200, {{"job_id", job_id}, {"deleted", true}});
  }

  ApiReply retry(const std::string& job_id) override {
    v1::RetryJobRequest request;
    request.set_job_id(job_id);
    v1::RetryJobResponse response;
    grpc::ClientContext context;
    prepare(context);
    const grpc::Status status = stub_->RetryJob(&context, request, &response);
    if (!status.ok()) return failure(status, context);
    return new_job(response.job_id(), "retry_of", job_id);
  }

  ApiReply watch_job(const std::string& job_id, const StatusSink& sink,
                     const std::atomic<bool>* stop) override {
    v1::WatchJobRequest request;
    request.set_job_id(job_id);
    grpc::ClientContext context;
    prepare(context, /*unary=*/false);
    return follow(context, stub_->WatchJob(&context, request), sink, stop);
  }

  ApiReply watch_jobs(const StatusSink& sink, const std::atomic<bool>* stop,
                      const std::function<void()>& on_watching) override {
    grpc::ClientContext context;
    prepare(context, /*unary=*/false);
    return follow(context, stub_->WatchJobs(&context, {}), sink, stop, on_watching);
  }

 private:
  // The key as grpc_job_server.cpp reads it; a deadline on unary calls.
  void prepare(grpc::ClientContext& context, bool unary = true) const {
    if (!key_.empty()) context.AddMetadata("authorization", "Bearer " + key_);
    if (unary) context.set_deadline(std::chrono::system_clock::now() + kCallTimeout);
  }

  // A failed call as REST would have answered it: the HTTP status for its
  // code, and {"error":{code,message,details}} from its dtq-error-bin. A
  // call that never reached dtq (UNAVAILABLE without dtq's details: no
  // server there) is "not reached", as a refused connection is over REST.
  [[nodiscard]] ApiReply failure(const grpc::Status& status,
                                 const grpc::ClientContext& context) const {
    v1::ErrorDetails details;
    bool has_details = false;
    const auto& trailers = context.GetServerTrailingMetadata();
    if (const auto found = trailers.find("dtq-error-bin"); found != trailers.end()) {
      has_details =
          details.ParseFromArray(found->second.data(), static_cast<int>(found->second.size()));
    }
    if (!has_details && status.error_code() == grpc::StatusCode::UNAVAILABLE) {
      return ApiReply{.code = 0,
                      .body = {},
                      .transport = status.error_message() + " (" + server_ + ")",
                      .protocol = {}};
    }
    ordered_json fields = ordered_json::array();
    for (const auto& field : details.field_errors()) {
      fields.push_back({{"field", field.field()}, {"message", field.message()}});
    }
    const std::string code = has_details && !details.code().empty()
                                 ? details.code()
                                 : std::string(fallback_code(status.error_code()));
    ApiReply reply = answer(
        http_status(status.error_code()),
        {{"error",
          {{"code", code}, {"message", status.error_message()}, {"details", std::move(fields)}}}});
    reply.protocol = std::string("gRPC ") + code_name(status.error_code());
    return reply;
  }

  // Reads a stream to its end, handing each status to `sink` as REST's
  // JSON. A second thread cancels the call when `stop` becomes true: Read()
  // blocks while no status comes.
  ApiReply follow(grpc::ClientContext& context,
                  std::unique_ptr<grpc::ClientReader<v1::JobStatus>> reader, const StatusSink& sink,
                  const std::atomic<bool>* stop,
                  const std::function<void()>& on_watching = {}) const {
    Canceller watch;
    std::thread canceller;
    if (stop != nullptr) {
      canceller = std::thread([&watch, &context, stop] {
        MutexLock lock(watch.mutex);
        while (!watch.done) {
          if (stop->load()) {
            watch.stopped = true;
            context.TryCancel();
            return;
          }
          watch.changed.wait_for(lock, std::chrono::milliseconds(200));
        }
      });
    }
    if (on_watching) {
      // WatchJobs sends its headers once it has subscribed (a refused or
      // cancelled call ends this wait too, and then its first Read).
      reader->WaitForInitialMetadata();
      on_watching();
    }
    v1::JobStatus status;
    bool sink_stopped = false;
    while (reader->Read(&status)) {
      if (!sink(status_json(status).dump())) {
        sink_stopped = true;
        context.TryCancel();
        break;
      }
    }
    const grpc::Status ended = reader->Finish();
    if (canceller.joinable()) {
      {
        MutexLock lock(watch.mutex);
        watch.done = true;
      }
      watch.changed.notify_all();
      canceller.join();
    }
    if (ended.ok() || sink_stopped || watch.stopped) return ApiReply{.code = 200};
    return failure(ended, context);
  }

  std::string server_;
  std::string key_;
  std::unique_ptr<v1::JobService::Stub> stub_;
};

}  // namespace

bool is_grpc_server(std::string_view server) {
  return server.starts_with("grpc://") || server.starts_with("grpcs://");
}

std::unique_ptr<JobClient> make_job_client(const std::string& server, std::string key) {
  if (is_grpc_server(server)) return std::make_unique<GrpcJobClient>(server, std::move(key));
  return std::make_unique<RestJobClient>(server, std::move(key));
}

}  // namespace dtq::cli
