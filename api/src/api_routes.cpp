#include "api_routes.hpp"

#include <simdjson.h>

#include <charconv>
#include <map>
#include <string>
#include <utility>
#include <variant>

#include "dtq/core/ids.hpp"
#include "dtq/core/model_json.hpp"
#include "dtq/core/uri.hpp"

namespace dtq::api {
namespace {

using nlohmann::ordered_json;
using Pistache::Http::Code;

Reply malformed_id() {
  return error_reply(Code::Bad_Request, "malformed_id", "malformed job id");
}

// The model's own JSON of a status or result, as a member of a larger body.
template <class T>
ordered_json member(const T& value) {
  return ordered_json::parse(to_json(value));
}

// A submission: {job_type, payload, priority?, run_at? | delay_seconds?},
// and in a batch idempotency_key? (a single submit's comes in a header).
struct Submission {
  std::string job_type;
  std::string payload;  // minified JSON object
  JobPriority priority = JobPriority::kNormal;
  std::optional<Clock::time_point> run_at;  // resolve_run_at()'s
  std::string idempotency_key;
};

// The body's run_at or delay_seconds (both optional) into `submission`,
// or what is wrong with them into `details`.
void read_run_at(const simdjson::dom::element& root, Submission& submission,
                 ordered_json& details) {
  std::string_view run_at;
  std::optional<int64_t> delay;
  simdjson::dom::element given;
  if (root["run_at"].get(given) == simdjson::SUCCESS && given.get(run_at) != simdjson::SUCCESS) {
    details.push_back({{"field", "/run_at"}, {"message", "an RFC 3339 time, as a string"}});
    return;
  }
  if (root["delay_seconds"].get(given) == simdjson::SUCCESS) {
    int64_t seconds = 0;
    if (given.get(seconds) != simdjson::SUCCESS) {
      details.push_back({{"field", "/delay_seconds"}, {"message", "a whole number of seconds"}});
      return;
    }
    delay = seconds;
  }
  auto resolved = resolve_run_at(run_at, delay, Clock::now());
  if (!resolved.ok()) {
    details.push_back({{"field", run_at.empty() ? "/delay_seconds" : "/run_at"},
                       {"message", resolved.status().message()}});
    return;
  }
  submission.run_at = *resolved;
}

// One submission object (a POST /v1/jobs body, a job of a batch) as a
// Submission; what is wrong with it goes in `details`. `keyed`: it may
// carry its idempotency_key.
Submission read_job(const simdjson::dom::element& root, bool keyed, ordered_json& details) {
  std::string_view job_type;
  simdjson::dom::element payload;
  Submission submission;
  if (!root.is_object()) {
    details.push_back({{"field", ""}, {"message", "the body must be a JSON object"}});
    return submission;
  }
  if (root["job_type"].get(job_type) != simdjson::SUCCESS) {
    details.push_back({{"field", "/job_type"}, {"message", "required, a string"}});
  }
  if (root["payload"].get(payload) != simdjson::SUCCESS || !payload.is_object()) {
    details.push_back({{"field", "/payload"}, {"message", "required, a JSON object"}});
  }
  // Optional; absent is normal.
  simdjson::dom::element given;
  if (root["priority"].get(given) == simdjson::SUCCESS) {
    std::string_view text;
    const auto parsed =
        given.get(text) == simdjson::SUCCESS ? parse_job_priority(text) : std::nullopt;
    if (parsed) {
      submission.priority = *parsed;
    } else {
      details.push_back({{"field", "/priority"}, {"message", "one of high, normal, low"}});
    }
  }
  if (keyed && root["idempotency_key"].get(given) == simdjson::SUCCESS) {
    std::string_view key;
    if (given.get(key) != simdjson::SUCCESS) {
      details.push_back({{"field", "/idempotency_key"}, {"message", "a string"}});
    } else if (Status valid = check_idempotency_key(key); !valid.ok()) {
      details.push_back({{"field", "/idempotency_key"}, {"message", valid.message()}});
    } else {
      submission.idempotency_key = std::string(key);
    }
  }
  read_run_at(root, submission, details);
  if (details.empty()) {
    submission.job_type = std::string(job_type);
    submission.payload = simdjson::minify(payload);
  }
  return submission;
}

// The error a submission's object is refused with, field by field.
Reply invalid_request(ordered_json details) {
  return error_reply(Code::Bad_Request, "invalid_request", "the body must be {job_type, payload}",
                     std::move(details));
}

// The body as a Submission, or the 400 that says what is wrong with it.
std::variant<Submission, Reply> read_submission(const std::string& body) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (const auto error = parser.parse(simdjson::padded_string(body)).get(root); error) {
    return error_reply(Code::Bad_Request, "malformed_json",
                       std::string("malformed JSON: ") + simdjson::error_message(error));
  }
  ordered_json details = ordered_json::array();
  Submission submission = read_job(root, false, details);
  if (!details.empty()) return invalid_request(std::move(details));
  return submission;
}

// What an accepted submission is answered with: POST /v1/jobs's 202 body,
// and a batch's result for the job.
ordered_json accepted_json(const SubmittedJob& job) {
  const std::string& id = job.job_id;
  ordered_json body = {{"job_id", id},
                       {"trace_id", job.trace_id},
                       {"status_url", "/v1/jobs/" + id + "/status"},
                       {"events_url", "/v1/jobs/" + id + "/events"}};
  // A delayed job says so, and when it is due.
  if (job.status.state == JobState::kScheduled) {
    body["state"] = to_string(JobState::kScheduled);
    body["run_at"] = job.status.run_at;
  }
  return body;
}

// What a refused submission is answered with, and in `outcome` what the
// metrics count it as. `keyed`: it carried an idempotency key.
Reply submit_refusal(const SubmitResult& submitted, bool keyed, std::string_view& outcome) {
  const Status& refused = submitted.status();
  if (refused.code() == StatusCode::kNotFound) {
    outcome = "unknown_job_type";
    return error_reply(Code::Not_Found, "unknown_job_type", refused.message());
  }
  if (refused.code() == StatusCode::kAlreadyExists && keyed) {
    outcome = "idempotency_conflict";
    return error_reply(Code::Conflict, "idempotency_conflict", refused.message());
  }
  if (refused.code() != StatusCode::kInvalidArgument) {
    outcome = "backend_error";
    return status_error(refused);
  }
  outcome = "invalid_payload";
  ordered_json details = ordered_json::array();
  for (const auto& field : submitted.field_errors()) {
    details.push_back({{"field", field.field}, {"message", field.message}});
  }
  return error_reply(Code::Bad_Request, "invalid_payload", refused.message(), std::move(details));
}

// A refused job of a batch: the error POST /v1/jobs would have answered,
// with its HTTP code.
ordered_json batch_refusal(const Reply& refused) {
  ordered_json item = ordered_json::parse(refused.body);
  item["http_status"] = static_cast<int>(refused.code);
  return item;
}

// The state= filter of a list or a stream (none when absent or empty); an
// error reply for a value that is not a state.
std::optional<Reply> read_state_filter(const Pistache::Http::Uri::Query& query,
                                       std::optional<JobState>& state) {
  const auto given = query.get("state");
  if (!given || given->empty()) return std::nullopt;
  state = parse_job_state(query_decode(*given));
  if (state) return std::nullopt;
  return error_reply(
      Code::Bad_Request, "invalid_argument", "unknown state",
      ordered_json::array(
          {{{"field", "state"},
            {"message", "one of scheduled, queued, running, completed, failed, cancelled"}}}));
}

// The limit= of a list (the default when absent or empty); an error reply
// for a value out of range.
std::optional<Reply> read_limit(const Pistache::Http::Uri::Query& query, size_t& limit) {
  const auto given = query.get("limit");
  if (!given || given->empty()) return std::nullopt;
  size_t value = 0;
  const auto [end, error] = std::from_chars(given->data(), given->data() + given->size(), value);
  if (error != std::errc() || end != given->data() + given->size() || value == 0 ||
      value > kMaxListLimit) {
    return error_reply(Code::Bad_Request, "invalid_argument", "bad limit",
                       ordered_json::array({{{"field", "limit"},
                                             {"message", "an integer from 1 to " +
                                                             std::to_string(kMaxListLimit)}}}));
  }
  limit = value;
  return std::nullopt;
}

// The answer to a request for an event stream that was not opened.
std::optional<Reply> unless_opened(SseHub::Opened opened) {
  if (opened != SseHub::Opened::kAtLimit) return std::nullopt;
  return error_reply(Code::Too_Many_Requests, "too_many_streams",
                     "too many open event streams; retry later");
}

// The most events one history answer holds: a job's life is a few dozen.
constexpr size_t kMaxHistoryEvents = 1000;

ordered_json job_event_json(const JobEvent& event) {
  auto text_or_null = [](const std::string& text) {
    return text.empty() ? ordered_json() : ordered_json(text);
  };
  return {{"at", event.at},
          {"kind", to_string(event.kind)},
          {"job_type", event.job_type},
          {"attempt", event.attempt},
          {"worker", text_or_null(event.worker)},
          {"error_code", text_or_null(event.error_code)},
          {"related_job_id", text_or_null(event.related_job_id)},
          {"detail", event.detail}};
}

}  // namespace

void JobRoutes::add_to(ApiRouteTable& table) {
  // A route whose handler waits on the backends: off the reactor threads.
  const auto backend = [](Need need, std::function<Reply(Exchange&)> handle) {
    return ApiRoute{.need = need,
                    .handle = [handle = std::move(handle)](Exchange& e) -> std::optional<Reply> {
                      return handle(e);
                    },
                    .waits_on_backends = true};
  };
  // The event streams stay on their reactor, which writes them; the lookup
  // of a job's snapshot is one read.
  table.add("GET", "/v1/events", {Need::kRead, [this](Exchange& e) { return all_events(e); }});
  table.add("GET", "/v1/job-types",
            backend(Need::kRead, [this](Exchange&) { return job_type_list(); }));
  table.add("GET", "/v1/jobs",
            backend(Need::kRead, [this](Exchange& e) { return list(e.request); }));
  table.add("POST", "/v1/jobs",
            backend(Need::kSubmit, [this](Exchange& e) { return submit(e.request); }));
  table.add("POST", std::string(kBatchSubmitPath),
            backend(Need::kSubmit, [this](Exchange& e) { return submit_batch(e.request); }));
  table.add("GET", "/v1/jobs/{id}",
            backend(Need::kRead, [this](Exchange& e) { return job(e.params.get("id")); }));
  table.add("GET", "/v1/jobs/{id}/status",
            backend(Need::kRead, [this](Exchange& e) { return job_status(e.params.get("id")); }));
  table.add("GET", "/v1/jobs/{id}/history",
            backend(Need::kRead, [this](Exchange& e) { return job_history(e.params.get("id")); }));
  table.add("POST", "/v1/jobs/{id}/cancel", backend(Need::kSubmit, [this](Exchange& e) {
              return cancel(e.request, e.params.get("id"));
            }));
  table.add("GET", "/v1/jobs/{id}/events",
            {Need::kRead, [this](Exchange& e) { return events(e); }});

  // Dead letters and retries: what changes them needs an admin key.
  table.add("POST", "/v1/jobs/{id}:retry", backend(Need::kAdmin, [this](Exchange& e) {
              return retry(e.request, e.params.get("id"));
            }));
  table.add("GET", "/v1/dead-letters",
            backend(Need::kRead, [this](Exchange& e) { return dead_letter_list(e.request); }));
  table.add("POST", "/v1/dead-letters:replay",
            backend(Need::kAdmin, [this](Exchange& e) { return replay_all(e.request); }));
  table.add("POST", "/v1/dead-letters/{id}:replay", backend(Need::kAdmin, [this](Exchange& e) {
              return replay(e.request, e.params.get("id"));
            }));
  table.add("DELETE", "/v1/dead-letters/{id}", backend(Need::kAdmin, [this](Exchange& e) {
              return delete_dead_letter(e.request, e.params.get("id"));
            }));

  // Pausing a job type's pools: admin, as what changes dead letters.
  table.add("POST", "/v1/job-types/{job_type}:pause", backend(Need::kAdmin, [this](Exchange& e) {
              return set_paused(e.request, e.params.get("job_type"), true);
            }));
  table.add("POST", "/v1/job-types/{job_type}:resume", backend(Need::kAdmin, [this](Exchange& e) {
              return set_paused(e.request, e.params.get("job_type"), false);
            }));
}

std::optional<Reply> JobRoutes::check_body(const Pistache::Http::Request& request,
                                           bool needs_json_body, size_t limit) const {
  if (limit == 0) limit = body_limit_;
  if (request.body().size() > limit) {
    return error_reply(Code::Request_Entity_Too_Large, "payload_too_large",
                       "the body is over " + std::to_string(limit) + " bytes");
  }
  if (needs_json_body) {
    const auto type = request.headers().tryGet<Pistache::Http::Header::ContentType>();
    if (!type || type->mime() != json_mime()) {
      return error_reply(Code::Unsupported_Media_Type, "unsupported_media_type",
                         "the body must be application/json");
    }
  }
  return std::nullopt;
}

Reply JobRoutes::submit(const Pistache::Http::Request& request) {
  std::string_view outcome = "accepted";
  Reply reply = submit_reply(request, outcome);
  metrics_.count_submit(outcome);
  return reply;
}

Reply JobRoutes::submit_reply(const Pistache::Http::Request& request, std::string_view& outcome) {
  if (auto refused = check_body(request, true)) {
    outcome = refused->code == Code::Request_Entity_Too_Large ? "payload_too_large"
                                                              : "unsupported_media_type";
    return *refused;
  }
  if (!limiter_.allow()) {
    outcome = "rate_limited";
    return error_reply(Code::Too_Many_Requests, "rate_limited",
                       "over the submit rate; retry shortly");
  }
  // Idempotency-Key: when sent, 1 to 255 printable ASCII characters; an
  // empty one is malformed, not absent.
  std::string key;
  if (const auto header = request.headers().tryGetRaw("Idempotency-Key")) {
    key = header->value();
    if (Status valid = check_idempotency_key(key); !valid.ok()) {
      outcome = "invalid_idempotency_key";
      return error_reply(
          Code::Bad_Request, "invalid_idempotency_key", valid.message(),
          ordered_json::array({{{"field", "Idempotency-Key"}, {"message", valid.message()}}}));
    }
  }
  auto read = read_submission(request.body());
  if (auto* refused = std::get_if<Reply>(&read)) {
    outcome = "malformed_request";
    return std::move(*refused);
  }
  // Not a structured binding: clang before 16 cannot capture one in a
  // lambda, and the thread_safety check parses this file with clang 14.
  const Submission& submission = std::get<Submission>(read);
  const auto authorization = request.headers().tryGetRaw("Authorization");
  const std::string owner = idempotency_owner(
      authorization ? std::optional<std::string_view>(authorization->value()) : std::nullopt);
  const SubmitOptions options{.idempotency_key = key,
                              .key_owner = owner,
                              .run_at = submission.run_at,
                              .priority = submission.priority};
  const SubmitResult submitted = timed(
      "submit", [&] { return jobs_.submit(submission.job_type, submission.payload, options); });
  if (!submitted.ok()) return submit_refusal(submitted, !key.empty(), outcome);
  Reply accepted{Code::Accepted, dump(accepted_json(*submitted))};
  // A repeat gets the first answer again (202 and the same body, as
  // Stripe replays a saved response), marked as such.
  if (submitted->replayed) {
    outcome = "replayed";
    accepted.headers.emplace_back("Idempotent-Replayed", "true");
  }
  return accepted;
}

Reply JobRoutes::submit_batch(const Pistache::Http::Request& request) {
  if (auto refused = check_body(request, true, batch_body_limit_)) {
    metrics_.count_submit(refused->code == Code::Request_Entity_Too_Large
                              ? "payload_too_large"
                              : "unsupported_media_type");
    return *refused;
  }
  // One request against the submit rate, whatever it holds: the rate
  // guards the server's request handling, which a batch spends once.
  if (!limiter_.allow()) {
    metrics_.count_submit("rate_limited");
    return error_reply(Code::Too_Many_Requests, "rate_limited",
                       "over the submit rate; retry shortly");
  }
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  simdjson::dom::array items;
  if (const auto error = parser.parse(simdjson::padded_string(request.body())).get(root); error) {
    metrics_.count_submit("malformed_request");
    return error_reply(Code::Bad_Request, "malformed_json",
                       std::string("malformed JSON: ") + simdjson::error_message(error));
  }
  if (!root.is_object() || root["jobs"].get(items) != simdjson::SUCCESS || items.size() == 0 ||
      items.size() > kMaxBatchJobs) {
    metrics_.count_submit("malformed_request");
    return error_reply(
        Code::Bad_Request, "invalid_request",
        "the body must be {jobs: [1 to " + std::to_string(kMaxBatchJobs) + " submissions]}",
        ordered_json::array({{{"field", "/jobs"},
                              {"message", "required, an array of 1 to " +
                                              std::to_string(kMaxBatchJobs) + " objects"}}}));
  }
  const auto authorization = request.headers().tryGetRaw("Authorization");
  const std::string owner = idempotency_owner(
      authorization ? std::optional<std::string_view>(authorization->value()) : std::nullopt);
  // A job whose object is malformed is refused here, the others go to the
  // service together; `answers` holds each job's answer in the batch's order.
  std::vector<Submission> read(items.size());
  std::vector<ordered_json> answers(items.size());
  std::vector<BatchSubmission> batch;
  std::vector<size_t> position;  // of batch[i] among the jobs
  batch.reserve(items.size());
  position.reserve(items.size());
  std::map<std::string_view, double> outcomes;
  size_t i = 0;
  for (const simdjson::dom::element item : items) {
    ordered_json details = ordered_json::array();
    read[i] = read_job(item, true, details);
    if (details.size() == 1 && details[0]["field"] == "/idempotency_key") {
      // As the Idempotency-Key header of a single submit.
      ++outcomes["invalid_idempotency_key"];
      const std::string message = details[0]["message"];
      answers[i] = batch_refusal(
          error_reply(Code::Bad_Request, "invalid_idempotency_key", message, std::move(details)));
    } else if (!details.empty()) {
      ++outcomes["malformed_request"];
      answers[i] = batch_refusal(invalid_request(std::move(details)));
    } else {
      batch.push_back({.job_type = read[i].job_type,
                       .payload = read[i].payload,
                       .options = {.idempotency_key = read[i].idempotency_key,
                                   .key_owner = owner,
                                   .run_at = read[i].run_at,
                                   .priority = read[i].priority}});
      position.push_back(i);
    }
    ++i;
  }
  if (!batch.empty()) {
    auto submitted = timed("submit_batch", [&] { return jobs_.submit_batch(batch); });
    if (!submitted.ok()) return status_error(submitted.status());
    for (size_t k = 0; k < batch.size(); ++k) {
      const SubmitResult& result = (*submitted)[k];
      std::string_view outcome = "accepted";
      if (result.ok()) {
        answers[position[k]] = accepted_json(*result);
        if (result->replayed) {
          outcome = "replayed";
          answers[position[k]]["replayed"] = true;
        }
      } else {
        answers[position[k]] = batch_refusal(
            submit_refusal(result, !batch[k].options.idempotency_key.empty(), outcome));
      }
      ++outcomes[outcome];
    }
  }
  for (const auto& [outcome, count] : outcomes) metrics_.count_submit(outcome, count);
  ordered_json results = ordered_json::array();
  for (auto& answer : answers) results.push_back(std::move(answer));
  return Reply{Code::Ok, dump({{"results", std::move(results)}})};
}

Reply JobRoutes::job_status(std::string_view id) {
  if (!is_uuid(id)) return malformed_id();
  auto status = timed("status", [&] { return jobs_.status(id); });
  if (!status.ok()) return job_error(status.status());
  return Reply{Code::Ok, to_json(*status)};
}

Reply JobRoutes::job_history(std::string_view id) {
  if (!is_uuid(id)) return malformed_id();
  // An unknown job is a 404, as on every /v1/jobs/{id} route; the history
  // alone cannot tell (a job may have no event yet).
  auto status = timed("status", [&] { return jobs_.status(id); });
  if (!status.ok()) return job_error(status.status());
  if (history_ == nullptr) return status_error(unavailable("this server keeps no job history"));
  auto events = timed("history", [&] { return history_->list(id, kMaxHistoryEvents); });
  if (!events.ok()) return status_error(events.status());
  ordered_json list = ordered_json::array();
  for (const auto& event : *events) list.push_back(job_event_json(event));
  return Reply{Code::Ok, dump({{"job_id", id}, {"events", std::move(list)}})};
}

Reply JobRoutes::job(std::string_view id) {
  if (!is_uuid(id)) return malformed_id();
  auto view = timed("job", [&] { return jobs_.job(id); });
  if (!view.ok()) return job_error(view.status());
  ordered_json body = {{"job_id", id}, {"status", member(view->status)}};
  // A result exists only once the job ended; its absence is not an error.
  if (view->result) body["result"] = member(*view->result);
  return Reply{Code::Ok, dump(body)};
}

Reply JobRoutes::cancel(const Pistache::Http::Request& request, std::string_view id) {
  if (auto refused = check_body(request, false)) return *refused;
  if (!is_uuid(id)) return malformed_id();
  auto cancelled = timed("cancel", [&] { return jobs_.cancel(id); });
  if (!cancelled.ok()) return job_error(cancelled.status());
  return Reply{Code::Ok, to_json(*cancelled)};
}

Reply JobRoutes::list(const Pistache::Http::Request& request) {
  const auto& query = request.query();
  StatusListQuery list_query;
  list_query.limit = kDefaultListLimit;
  if (auto refused = read_state_filter(query, list_query.state)) return *refused;
  if (auto type = query.get("job_type")) list_query.job_type = query_decode(*type);
  if (auto cursor = query.get("cursor")) list_query.cursor = query_decode(*cursor);
  if (auto refused = read_limit(query, list_query.limit)) return *refused;
  auto page = timed("list", [&] { return jobs_.list(list_query); });
  if (!page.ok()) return status_error(page.status());
  ordered_json jobs = ordered_json::array();
  for (const auto& status : page->statuses) jobs.push_back(member(status));
  ordered_json cursor =
      page->next_cursor.empty() ? ordered_json() : ordered_json(page->next_cursor);
  return Reply{Code::Ok, dump({{"jobs", std::move(jobs)}, {"next_cursor", std::move(cursor)}})};
}

Reply JobRoutes::job_type_list() const {
  auto listed = timed("job_types", [&] { return job_types_.list(); });
  if (!listed.ok()) return status_error(listed.status());
  // ordered_json: the schema's properties keep the plugin's order, which is
  // the order a generated form shows its fields in.
  ordered_json types = ordered_json::array();
  for (const auto& info : *listed) {
    ordered_json schema = ordered_json::parse(info.payload_schema_json, nullptr, false);
    types.push_back(
        {{"job_type", info.job_type},
         {"name", info.name},
         {"version", info.version},
         {"description", info.description},
         {"payload_schema", schema.is_discarded() ? ordered_json::object() : std::move(schema)},
         {"abi_version", info.abi_version},
         {"concurrency", info.concurrency},
         {"pools", info.pools},
         {"in_flight", info.in_flight},
         {"isolation", info.isolation},
         {"runner_crashes", info.runner_crashes},
         {"crash_looping", info.crash_looping},
         {"last_crash", info.last_crash},
         {"paused", info.paused}});
  }
  return Reply{Code::Ok, dump({{"job_types", std::move(types)}})};
}

Reply JobRoutes::set_paused(const Pistache::Http::Request& request, std::string_view job_type,
                            bool paused) {
  if (auto refused = check_body(request, false)) return *refused;
  if (!is_valid_job_type(job_type)) {
    return error_reply(Code::Bad_Request, "invalid_argument", "bad job type",
                       ordered_json::array({{{"field", "job_type"},
                                             {"message",
                                              "a job type: lower case letters, digits "
                                              "and _ (for example weather)"}}}));
  }
  const Status set = timed(paused ? "pause_job_type" : "resume_job_type",
                           [&] { return job_types_.set_paused(job_type, paused); });
  if (set.code() == StatusCode::kNotFound) {
    return error_reply(Code::Not_Found, "unknown_job_type",
                       "no pool hosts job type \"" + std::string(job_type) + "\"");
  }
  if (!set.ok()) return status_error(set);
  return Reply{Code::Ok, dump({{"job_type", job_type}, {"paused", paused}})};
}

std::optional<Reply> JobRoutes::events(Exchange& exchange) {
  const std::string_view id = exchange.params.get("id");
  if (!is_uuid(id)) return malformed_id();
  auto snapshot = jobs_.status(id);
  if (!snapshot.ok()) return job_error(snapshot.status());
  return unless_opened(
      sse_.open(exchange.response, exchange.transport, std::move(snapshot).value()));
}

std::optional<Reply> JobRoutes::all_events(Exchange& exchange) {
  const auto& query = exchange.request.query();
  SseHub::Filter filter;
  if (auto refused = read_state_filter(query, filter.state)) return refused;
  if (auto type = query.get("job_type")) filter.job_type = query_decode(*type);
  return unless_opened(sse_.open_all(exchange.response, exchange.transport, std::move(filter)));
}

// Dead letters and retries.

namespace {

ordered_json dead_letter_json(const DeadLetter& letter) {
  ordered_json payload = ordered_json::parse(letter.message.payload, nullptr, false);
  return {{"job_id", letter.message.job_id},
          {"job_type", letter.message.job_type},
          {"trace_id", letter.message.trace_id},
          {"submitted_at", letter.message.submitted_at},
          {"payload", payload.is_discarded() ? ordered_json::object() : std::move(payload)},
          {"error", {{"code", letter.error.code}, {"message", letter.error.message}}},
          {"attempts", letter.attempts},
          {"failed_at", letter.failed_at},
          {"replayed_as",
           letter.replayed_as.empty() ? ordered_json() : ordered_json(letter.replayed_as)}};
}

// The 202 of a replay or a retry: the new job, as a submit answers it.
Reply new_job_reply(const std::string& id, std::string_view of, std::string_view original) {
  return Reply{Code::Accepted, dump({{"job_id", id},
                                     {of, original},
                                     {"status_url", "/v1/jobs/" + id + "/status"},
                                     {"events_url", "/v1/jobs/" + id + "/events"}})};
}

// The job_type= of a dead-letter request: absent or empty is "", else a
// valid job type; an error reply otherwise.
std::optional<Reply> read_job_type(const Pistache::Http::Uri::Query& query, std::string& type) {
  const auto given = query.get("job_type");
  if (!given || given->empty()) return std::nullopt;
  type = query_decode(*given);
  if (is_valid_job_type(type)) return std::nullopt;
  return error_reply(Code::Bad_Request, "invalid_argument", "bad job type",
                     ordered_json::array({{{"field", "job_type"},
                                           {"message",
                                            "a job type: lower case letters, digits "
                                            "and _ (for example weather)"}}}));
}

}  // namespace

Reply JobRoutes::dead_letter_list(const Pistache::Http::Request& request) {
  const auto& query = request.query();
  std::string type;
  size_t limit = kDefaultListLimit;
  if (auto refused = read_job_type(query, type)) return *refused;
  if (auto refused = read_limit(query, limit)) return *refused;
  auto letters = timed("dead_letters", [&] { return jobs_.dead_letters(type, limit); });
  if (!letters.ok()) return status_error(letters.status());
  ordered_json list = ordered_json::array();
  for (const auto& letter : *letters) list.push_back(dead_letter_json(letter));
  return Reply{Code::Ok, dump({{"dead_letters", std::move(list)}})};
}

Reply JobRoutes::replay(const Pistache::Http::Request& request, std::string_view id) {
  if (auto refused = check_body(request, false)) return *refused;
  if (!is_uuid(id)) return malformed_id();
  auto replayed = timed("replay", [&] { return jobs_.replay(id); });
  if (!replayed.ok()) return job_error(replayed.status());
  return new_job_reply(*replayed, "replay_of", id);
}

Reply JobRoutes::replay_all(const Pistache::Http::Request& request) {
  if (auto refused = check_body(request, false)) return *refused;
  std::string type;
  if (auto refused = read_job_type(request.query(), type)) return *refused;
  if (type.empty()) {
    return error_reply(
        Code::Bad_Request, "invalid_argument", "which job type's dead letters to replay",
        ordered_json::array({{{"field", "job_type"}, {"message", "required, a job type"}}}));
  }
  auto replayed = timed("replay", [&] { return jobs_.replay_all(type); });
  if (!replayed.ok()) return status_error(replayed.status());
  return Reply{Code::Ok, dump({{"job_type", type}, {"replayed", *replayed}})};
}

Reply JobRoutes::delete_dead_letter(const Pistache::Http::Request& request, std::string_view id) {
  if (auto refused = check_body(request, false)) return *refused;
  if (!is_uuid(id)) return malformed_id();
  const Status deleted = timed("delete_dead_letter", [&] { return jobs_.delete_dead_letter(id); });
  if (!deleted.ok()) return job_error(deleted);
  return Reply{Code::Ok, dump({{"job_id", id}, {"deleted", true}})};
}

Reply JobRoutes::retry(const Pistache::Http::Request& request, std::string_view id) {
  if (auto refused = check_body(request, false)) return *refused;
  if (!is_uuid(id)) return malformed_id();
  auto retried = timed("retry", [&] { return jobs_.retry(id); });
  if (!retried.ok()) return job_error(retried.status());
  return new_job_reply(*retried, "retry_of", id);
}

}  // namespace dtq::api
