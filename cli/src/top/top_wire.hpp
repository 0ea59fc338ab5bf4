// What `dtq top` reads from and writes to the REST API, as plain values:
// the job types, a listing page, a job's detail, and the submit form that
// a plugin's payload schema describes (one field per top-level property)
// and the payload its answers make.
//
// Thread-safety: pure functions. Ownership: values.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "dtq/core/model.hpp"
#include "top_model.hpp"

namespace dtq::cli::top {

// GET /v1/job-types; nothing when the body is not that shape.
std::optional<std::vector<JobTypeInfo>> parse_job_types(const std::string& body);

struct ListingPage {
  std::vector<JobStatus> jobs;  // newest first
  std::string next_cursor;
};
// GET /v1/jobs; nothing when the body is not that shape.
std::optional<ListingPage> parse_listing(const std::string& body);

// The {"error":{"message","details"}} of a refusal as one line, or the body.
std::string error_text(long code, const std::string& body);

// GET /v1/jobs/{id} as lines for the details view: the result's output or
// error, attempts and times, each line "name: value".
std::vector<std::string> describe_job(const std::string& body);

// A submit's or a replay's 202 {"job_id",...}: the new job's id; empty
// when the body is not that shape.
std::string new_job_id(const std::string& body);

// GET /v1/dead-letters: per job type, the letters not replayed yet;
// nothing when the body is not that shape.
std::optional<std::map<std::string, int64_t>> count_dead_letters(const std::string& body);

// GET /v1/jobs/{id}/history as lines for the details view, oldest first:
// "HH:MM:SS.mmm  kind  attempt N  worker  error  detail", what is empty left out.
std::vector<std::string> describe_history(const std::string& body);

// One field of the submit form: a top-level property of the schema.
struct FormField {
  std::string name;         // the property's key
  std::string title;        // its title, else its name
  std::string type;         // "string", "integer", "number", "boolean", "array", "object", or ""
  std::string description;  // shown beside the field
  bool required = false;
  std::vector<std::string> choices;  // its enum, when it has one (as text)
  std::string initial;               // its default, as the field's text
};

// The form of a payload schema; empty when the schema names no properties
// (the payload is then typed whole, as JSON).
std::vector<FormField> form_fields(const std::string& payload_schema);

bool is_json_object(const std::string& text);

struct BuiltPayload {
  std::string json;   // the payload, when every answer read
  std::string error;  // else which field is wrong and why
};
// The payload from the form's answers (one per field, as typed): an empty
// answer leaves the property out; strings are taken as typed; numbers,
// booleans, arrays and objects must be their JSON. Whether the payload is
// valid is the plugin's to say: the server's answer shows in the form.
BuiltPayload build_payload(const std::vector<FormField>& fields,
                           const std::vector<std::string>& answers);

}  // namespace dtq::cli::top
