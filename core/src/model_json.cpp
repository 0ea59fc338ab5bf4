#include "dtq/core/model_json.hpp"

#include <simdjson.h>

#include <nlohmann/json.hpp>
#include <unordered_set>

#include "dtq/core/ids.hpp"
#include "dtq/core/time.hpp"

namespace dtq {
namespace {

// Results embed the payload and output as JSON, not as strings, and they are
// written once per job on the hot path: splice the already-valid JSON text
// rather than parse it into a tree only to print it again.
void append_quoted(std::string& out, std::string_view text) {
  out += nlohmann::json(text).dump();
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
  if (out.size() > 1) out += ',';
  append_quoted(out, name);
  out += ':';
  append_quoted(out, value);
}

void append_raw(std::string& out, std::string_view name, std::string_view raw_json) {
  if (out.size() > 1) out += ',';
  append_quoted(out, name);
  out += ':';
  out += raw_json;
}

class Reader {
 public:
  explicit Reader(std::string_view what) : what_(what) {}

  Status parse(std::string_view json) {
    if (auto error = parser_.parse(simdjson::padded_string(json)).get(root_); error) {
      return invalid_argument(std::string(what_) +
                              ": malformed JSON: " + simdjson::error_message(error));
    }
    if (root_.type() != simdjson::dom::element_type::OBJECT) {
      return invalid_argument(std::string(what_) + ": expected a JSON object");
    }
    return {};
  }

  // A string member; `required` ones missing are an error.
  Status string(std::string_view key, std::string& out, bool required) {
    std::string_view value;
    const auto error = root_[key].get(value);
    if (error == simdjson::NO_SUCH_FIELD) {
      return required ? missing(key) : Status{};
    }
    if (error) return wrong_type(key, "a string");
    out = std::string(value);
    return {};
  }

  Status object(std::string_view key, std::string& out, bool required, bool null_allowed = false) {
    simdjson::dom::element element;
    if (root_[key].get(element) == simdjson::NO_SUCH_FIELD)
      return required ? missing(key) : Status{};
    if (null_allowed && element.is_null()) return {};
    if (element.type() != simdjson::dom::element_type::OBJECT) return wrong_type(key, "an object");
    out = simdjson::minify(element);
    return {};
  }

  Status integer(std::string_view key, int64_t& out, bool required) {
    const auto error = root_[key].get(out);
    if (error == simdjson::NO_SUCH_FIELD) return required ? missing(key) : Status{};
    if (error) return wrong_type(key, "an integer");
    return {};
  }

  simdjson::dom::element root() const { return root_; }

 private:
  Status missing(std::string_view key) const {
    return invalid_argument(std::string(what_) + ": missing required field \"" + std::string(key) +
                            "\"");
  }
  Status wrong_type(std::string_view key, std::string_view type) const {
    return invalid_argument(std::string(what_) + ": field \"" + std::string(key) + "\" must be " +
                            std::string(type));
  }

  std::string_view what_;
  simdjson::dom::parser parser_;
  simdjson::dom::element root_;
};

#define DTQ_RETURN_IF_ERROR(expr)       \
  do {                                  \
    if (Status s_ = (expr); !s_.ok()) { \
      return s_;                        \
    }                                   \
  } while (false)

Status check_schema_version(std::string_view what, const std::string& version) {
  if (version.rfind("1.", 0) != 0) {
    return invalid_argument(std::string(what) + ": unsupported schema_version \"" + version +
                            "\" (this dtq reads 1.x)");
  }
  return {};
}

Status parse_state(std::string_view what, std::string_view key, const std::string& text,
                   JobState& out) {
  const auto state = parse_job_state(text);
  if (!state) {
    return invalid_argument(std::string(what) + ": field \"" + std::string(key) +
                            "\" has unknown state \"" + text + "\"");
  }
  out = *state;
  return {};
}

// The optional "priority": absent is normal, anything but the three
// classes is an error.
Status parse_priority(std::string_view what, Reader& reader, JobPriority& out) {
  std::string text;
  DTQ_RETURN_IF_ERROR(reader.string("priority", text, false));
  if (text.empty()) return {};
  const auto priority = parse_job_priority(text);
  if (!priority) {
    return invalid_argument(std::string(what) +
                            ": field \"priority\" must be high, normal or low, not \"" + text +
                            "\"");
  }
  out = *priority;
  return {};
}

}  // namespace

std::string to_json(const JobMessage& message) {
  std::string out = "{";
  append_field(out, "schema_version", message.schema_version);
  append_field(out, "job_id", message.job_id);
  append_field(out, "job_type", message.job_type);
  append_field(out, "submitted_at", message.submitted_at);
  append_field(out, "trace_id", message.trace_id);
  append_raw(out, "payload", message.payload.empty() ? "{}" : message.payload);
  // Absent for normal: a normal job's message stays the contract's own.
  if (message.priority != JobPriority::kNormal) {
    append_field(out, "priority", to_string(message.priority));
  }
  out += '}';
  return out;
}

StatusOr<JobMessage> parse_job_message(std::string_view json) {
  constexpr std::string_view kWhat = "job message";
  Reader reader(kWhat);
  DTQ_RETURN_IF_ERROR(reader.parse(json));
  JobMessage message;
  message.schema_version.clear();
  DTQ_RETURN_IF_ERROR(reader.string("schema_version", message.schema_version, false));
  if (message.schema_version.empty()) message.schema_version = std::string(kSchemaVersion);
  DTQ_RETURN_IF_ERROR(check_schema_version(kWhat, message.schema_version));
  DTQ_RETURN_IF_ERROR(reader.string("job_id", message.job_id, true));
  DTQ_RETURN_IF_ERROR(reader.string("job_type", message.job_type, true));
  DTQ_RETURN_IF_ERROR(reader.string("submitted_at", message.submitted_at, true));
  DTQ_RETURN_IF_ERROR(reader.string("trace_id", message.trace_id, true));
  DTQ_RETURN_IF_ERROR(reader.object("payload", message.payload, true));
  DTQ_RETURN_IF_ERROR(parse_priority(kWhat, reader, message.priority));
  if (Status valid = check_job_message(message); !valid.ok()) return valid;
  return message;
}

Status check_job_message(const JobMessage& message) {
  if (!is_uuid(message.job_id)) {
    return invalid_argument("job message: job_id is not a UUID (\"" + message.job_id + "\")");
  }
  const std::string what = "job message " + message.job_id;
  if (!is_uuid(message.trace_id)) return invalid_argument(what + ": trace_id is not a UUID");
  if (!is_valid_job_type(message.job_type)) {
    return invalid_argument(what + ": job_type \"" + message.job_type +
                            "\" is not a valid job type");
  }
  if (!parse_rfc3339(message.submitted_at)) {
    return invalid_argument(what + ": submitted_at is not an RFC 3339 time");
  }
  return {};
}

Status check_job_batch(std::span<const JobMessage> messages) {
  // Every single enqueue() comes through here: nothing to repeat, no set.
  if (messages.size() == 1) return check_job_message(messages.front());
  std::unordered_set<std::string_view> ids;
  ids.reserve(messages.size());
  for (const auto& message : messages) {
    if (Status s = check_job_message(message); !s.ok()) return s;
    if (!ids.insert(message.job_id).second) {
      return already_exists("job " + message.job_id + " appears twice in the batch");
    }
  }
  return {};
}

std::string to_json(const JobStatus& status) {
  std::string out = "{";
  append_field(out, "job_id", status.job_id);
  append_field(out, "state", to_string(status.state));
  append_raw(out, "progress_percent", std::to_string(status.progress_percent));
  append_field(out, "updated_at", status.updated_at);
  append_field(out, "message", status.message);
  if (!status.trace_id.empty()) append_field(out, "trace_id", status.trace_id);
  if (!status.job_type.empty()) append_field(out, "job_type", status.job_type);
  if (!status.error_code.empty()) append_field(out, "error_code", status.error_code);
  if (!status.error_message.empty()) append_field(out, "error_message", status.error_message);
  if (status.attempt != 0) append_raw(out, "attempt", std::to_string(status.attempt));
  if (!status.run_at.empty()) append_field(out, "run_at", status.run_at);
  if (status.priority != JobPriority::kNormal) {
    append_field(out, "priority", to_string(status.priority));
  }
  out += '}';
  return out;
}

StatusOr<JobStatus> parse_job_status(std::string_view json) {
  constexpr std::string_view kWhat = "job status";
  Reader reader(kWhat);
  DTQ_RETURN_IF_ERROR(reader.parse(json));
  JobStatus status;
  std::string state;
  int64_t progress = 0;
  int64_t attempt = 0;
  DTQ_RETURN_IF_ERROR(reader.string("job_id", status.job_id, true));
  DTQ_RETURN_IF_ERROR(reader.string("state", state, true));
  DTQ_RETURN_IF_ERROR(parse_state(kWhat, "state", state, status.state));
  DTQ_RETURN_IF_ERROR(reader.integer("progress_percent", progress, true));
  if (progress < 0 || progress > 100)
    return invalid_argument("job status: progress_percent outside 0..100");
  status.progress_percent = static_cast<int>(progress);
  DTQ_RETURN_IF_ERROR(reader.string("updated_at", status.updated_at, true));
  DTQ_RETURN_IF_ERROR(reader.string("message", status.message, false));
  DTQ_RETURN_IF_ERROR(reader.string("trace_id", status.trace_id, false));
  DTQ_RETURN_IF_ERROR(reader.string("job_type", status.job_type, false));
  DTQ_RETURN_IF_ERROR(reader.string("error_code", status.error_code, false));
  DTQ_RETURN_IF_ERROR(reader.string("error_message", status.error_message, false));
  DTQ_RETURN_IF_ERROR(reader.integer("attempt", attempt, false));
  DTQ_RETURN_IF_ERROR(reader.string("run_at", status.run_at, false));
  status.attempt = static_cast<uint32_t>(std::max<int64_t>(attempt, 0));
  DTQ_RETURN_IF_ERROR(parse_priority(kWhat, reader, status.priority));
  return status;
}

std::string to_json(const JobResult& result) {
  std::string out = "{";
  append_field(out, "schema_version", result.schema_version);
  append_field(out, "job_id", result.job_id);
  append_field(out, "job_type", result.job_type);
  append_raw(out, "input", result.input.empty() ? "{}" : result.input);
  append_raw(out, "output", result.output.empty() ? "null" : result.output);
  append_field(out, "final_state", to_string(result.final_state));
  append_field(out, "started_at", result.started_at);
  append_field(out, "completed_at", result.completed_at);
  if (result.error) {
    std::string error = "{";
    append_field(error, "code", result.error->code);
    append_field(error, "message", result.error->message);
    error += '}';
    append_raw(out, "error", error);
  } else {
    append_raw(out, "error", "null");
  }
  append_field(out, "trace_id", result.trace_id);
  append_raw(out, "attempts", std::to_string(result.attempts));
  out += '}';
  return out;
}

StatusOr<JobResult> parse_job_result(std::string_view json) {
  constexpr std::string_view kWhat = "job result";
  Reader reader(kWhat);
  DTQ_RETURN_IF_ERROR(reader.parse(json));
  JobResult result;
  std::string state;
  int64_t attempts = 0;
  DTQ_RETURN_IF_ERROR(reader.string("schema_version", result.schema_version, true));
  DTQ_RETURN_IF_ERROR(check_schema_version(kWhat, result.schema_version));
  DTQ_RETURN_IF_ERROR(reader.string("job_id", result.job_id, true));
  DTQ_RETURN_IF_ERROR(reader.string("job_type", result.job_type, true));
  DTQ_RETURN_IF_ERROR(reader.object("input", result.input, true));
  DTQ_RETURN_IF_ERROR(reader.object("output", result.output, false, true));
  DTQ_RETURN_IF_ERROR(reader.string("final_state", state, true));
  DTQ_RETURN_IF_ERROR(parse_state(kWhat, "final_state", state, result.final_state));
  DTQ_RETURN_IF_ERROR(reader.string("started_at", result.started_at, false));
  DTQ_RETURN_IF_ERROR(reader.string("completed_at", result.completed_at, true));
  DTQ_RETURN_IF_ERROR(reader.string("trace_id", result.trace_id, false));
  DTQ_RETURN_IF_ERROR(reader.integer("attempts", attempts, false));
  result.attempts = static_cast<uint32_t>(std::max<int64_t>(attempts, 0));
  simdjson::dom::element error;
  if (reader.root()["error"].get(error) == simdjson::SUCCESS && !error.is_null()) {
    std::string_view code;
    std::string_view message;
    if (error["code"].get(code) || error["message"].get(message)) {
      return invalid_argument("job result: error must be {\"code\", \"message\"} or null");
    }
    result.error = JobError{std::string(code), std::string(message)};
  }
  return result;
}

}  // namespace dtq
