// JobClient: what the CLI's job verbs and `dtq top` ask a dtq server, one
// method per operation, over REST (RestJobClient, on ApiClient) or over the
// gRPC JobService (GrpcJobClient, proto/dtq/v1/jobs.proto) for a server that
// runs with --rest=off. make_job_client() picks one from the server address:
// grpc://HOST:PORT (or grpcs:// for TLS) is gRPC, anything else REST.
//
// Every answer is the REST API's: its status code and its JSON body (a
// job, a listing, {"error":{"code","message","details"}}, ...), so the
// verbs print, parse and map to exit codes the same way whichever protocol
// carried it. GrpcJobClient builds those bodies from the messages (the same
// fields: JobService is REST's typed face) and a failed call's code and
// dtq-error-bin details into the REST status and error body; `protocol`
// then names the gRPC code for the messages.
//
// Thread-safety: one object per thread. Ownership: each owns its
// connection (a curl handle; a gRPC channel).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "api_client.hpp"
#include "dtq/core/priority.hpp"

namespace dtq::cli {

// ListJobs' filter and page; empty strings: any.
struct JobListQuery {
  std::string state;  // "queued", "running", ...
  std::string job_type;
  size_t limit = 50;
  std::string cursor;
};

// When a submitted job runs: now when both are unset; else a delayed job,
// scheduled until then (docs/operators.md#delayed-jobs).
struct SubmitWhen {
  std::string run_at;                    // RFC 3339
  std::optional<int64_t> delay_seconds;  // from now
};

// A stream's events: each a job status as REST's JSON; return false to stop.
using StatusSink = std::function<bool(std::string_view status_json)>;

class JobClient {
 public:
  virtual ~JobClient() = default;

  virtual ApiReply submit(const std::string& job_type, const std::string& payload_json,
                          const SubmitWhen& when, JobPriority priority = JobPriority::kNormal) = 0;
  // A batch submit. `batch_json` is POST /v1/jobs:batch's body,
  // {"jobs":[{job_type, payload, priority?, run_at?|delay_seconds?,
  // idempotency_key?}, ...]}; the answer its 200 {"results":[...]}, one per
  // job in order (over gRPC: SubmitJobs, its results in that shape).
  virtual ApiReply submit_batch(const std::string& batch_json) = 0;
  virtual ApiReply job(const std::string& job_id) = 0;      // status and, once ended, result
  virtual ApiReply history(const std::string& job_id) = 0;  // its stored events, oldest first
  virtual ApiReply list_jobs(const JobListQuery& query) = 0;
  virtual ApiReply cancel(const std::string& job_id) = 0;
  virtual ApiReply job_types() = 0;
  virtual ApiReply set_paused(const std::string& job_type, bool paused) = 0;
  virtual ApiReply dead_letters(const std::string& job_type, size_t limit) = 0;
  virtual ApiReply replay(const std::string& job_id) = 0;
  virtual ApiReply replay_all(const std::string& job_type) = 0;
  virtual ApiReply delete_dead_letter(const std::string& job_id) = 0;
  virtual ApiReply retry(const std::string& job_id) = 0;

  // A job's statuses (a snapshot first) until the terminal one, `sink`
  // returns false, or `stop` (when given) becomes true, noticed within
  // about a second. A refused or broken stream answers its error; a
  // stream that ended or was stopped answers 200.
  virtual ApiReply watch_job(const std::string& job_id, const StatusSink& sink,
                             const std::atomic<bool>* stop = nullptr) = 0;
  // Every job's changes, no snapshot, until `sink` returns false, `stop`
  // becomes true or the server ends the stream. `on_watching` (when given)
  // runs once the server is following every job: a change after that
  // reaches `sink`, so a listing read from then on misses nothing between
  // the two.
  virtual ApiReply watch_jobs(const StatusSink& sink, const std::atomic<bool>* stop = nullptr,
                              const std::function<void()>& on_watching = {}) = 0;
};

// True when `server` names the gRPC JobService (grpc:// or grpcs://).
bool is_grpc_server(std::string_view server);

// The client for `server`: gRPC for grpc://HOST:PORT and grpcs://HOST:PORT
// (TLS, the system's roots or $GRPC_DEFAULT_SSL_ROOTS_FILE_PATH), REST for
// an http(s):// URL. `key` empty: no key is sent.
std::unique_ptr<JobClient> make_job_client(const std::string& server, std::string key);

// The API key the client verbs send: $DTQ_API_KEY, else $DTQ_API_TOKEN.
std::string resolve_api_key();

// Prints why a request failed (the server's error, its field errors) to
// stderr and returns the verb's exit code: 2 for the caller's mistake (a
// 4xx), 1 otherwise (no answer, the server's fault). client_commands.cpp.
int report_reply(const ApiReply& reply);

}  // namespace dtq::cli
