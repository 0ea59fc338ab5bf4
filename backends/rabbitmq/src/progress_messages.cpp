#include "progress_messages.hpp"

#include <simdjson.h>

#include <nlohmann/json.hpp>

#include "dtq/core/time.hpp"

namespace dtq::rabbitmq {
namespace {

using Json = nlohmann::ordered_json;

std::string dump(const Json& json) {
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// A parsed JSON object, read field by field.
class Fields {
 public:
  Status parse(std::string_view json, std::string_view what) {
    if (auto error = parser_.parse(simdjson::padded_string(json)).get(root_); error) {
      return invalid_argument(std::string(what) +
                              ": malformed JSON: " + simdjson::error_message(error));
    }
    if (root_.type() != simdjson::dom::element_type::OBJECT) {
      return invalid_argument(std::string(what) + ": expected a JSON object");
    }
    return {};
  }
  // The string field `key`, or nullopt-ish empty when absent or not a string.
  bool string(std::string_view key, std::string& out) const {
    std::string_view value;
    if (root_[key].get(value) != simdjson::SUCCESS) return false;
    out = std::string(value);
    return true;
  }
  bool integer(std::string_view key, int64_t& out) const {
    return root_[key].get(out) == simdjson::SUCCESS;
  }

 private:
  simdjson::dom::parser parser_;
  simdjson::dom::element root_;
};

}  // namespace

std::string to_json(const ProgressRequest& request) {
  Json json;
  json["job_id"] = request.job_id;
  json["request_id"] = request.request_id;
  json["requested_at"] = request.requested_at;
  return dump(json);
}

StatusOr<ProgressRequest> parse_progress_request(std::string_view json) {
  Fields fields;
  if (Status s = fields.parse(json, "progress request"); !s.ok()) return s;
  ProgressRequest request;
  if (!fields.string("job_id", request.job_id)) {
    return invalid_argument("progress request: missing string field \"job_id\"");
  }
  fields.string("request_id", request.request_id);
  fields.string("requested_at", request.requested_at);
  return request;
}

std::string reply_json(std::string_view job_id, const StatusOr<JobStatus>& status) {
  Json json;
  json["job_id"] = job_id;
  if (status.ok()) {
    json["state"] = to_string(status->state);
    json["progress_percent"] = status->progress_percent;
    json["message"] = status->message;
    json["timestamp"] = status->updated_at.empty() ? now_rfc3339() : status->updated_at;
    if (!status->trace_id.empty()) json["trace_id"] = status->trace_id;
    if (!status->error_code.empty()) json["error_code"] = status->error_code;
    if (!status->error_message.empty()) json["error_message"] = status->error_message;
  } else {
    const bool unknown = status.status().code() == StatusCode::kNotFound ||
                         status.status().code() == StatusCode::kInvalidArgument;
    json["state"] = unknown ? kNotFoundState : kUnavailableState;
    json["progress_percent"] = 0;
    json["message"] = status.status().message();
    json["timestamp"] = now_rfc3339();
  }
  return dump(json);
}

StatusOr<JobStatus> parse_progress_reply(std::string_view json, std::string_view job_id) {
  Fields fields;
  if (Status s = fields.parse(json, "progress reply"); !s.ok()) return internal_error(s.message());
  JobStatus status;
  std::string state;
  int64_t progress = 0;
  if (!fields.string("job_id", status.job_id) || !fields.string("state", state)) {
    return internal_error("progress reply: missing \"job_id\" or \"state\"");
  }
  if (status.job_id != job_id) {
    return internal_error("progress reply names job " + status.job_id + ", not " +
                          std::string(job_id));
  }
  fields.string("message", status.message);
  if (state == kNotFoundState) {
    return not_found("unknown job " + status.job_id +
                     (status.message.empty() ? "" : ": " + status.message));
  }
  if (state == kUnavailableState) {
    return unavailable("the worker could not read the status of job " + status.job_id +
                       (status.message.empty() ? "" : ": " + status.message));
  }
  const auto parsed = parse_job_state(state);
  if (!parsed) return internal_error("progress reply: unknown state \"" + state + "\"");
  status.state = *parsed;
  if (!fields.integer("progress_percent", progress) || progress < 0 || progress > 100) {
    return internal_error("progress reply: progress_percent missing or outside 0..100");
  }
  status.progress_percent = static_cast<int>(progress);
  fields.string("timestamp", status.updated_at);
  fields.string("trace_id", status.trace_id);
  fields.string("error_code", status.error_code);
  fields.string("error_message", status.error_message);
  return status;
}

}  // namespace dtq::rabbitmq
