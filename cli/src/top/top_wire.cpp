#include "top_wire.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "dtq/core/model_json.hpp"

namespace dtq::cli::top {
namespace {

using json = nlohmann::ordered_json;

std::string text(const json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int64_t integer(const json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

// A JSON value as a form field shows it: strings bare, the rest as JSON.
std::string as_field_text(const json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

}  // namespace

std::optional<std::vector<JobTypeInfo>> parse_job_types(const std::string& body) {
  const json root = json::parse(body, nullptr, false);
  if (!root.is_object() || !root.contains("job_types") || !root["job_types"].is_array()) {
    return std::nullopt;
  }
  std::vector<JobTypeInfo> types;
  for (const auto& type : root["job_types"]) {
    if (!type.is_object()) return std::nullopt;
    JobTypeInfo info{.job_type = text(type, "job_type"),
                     .name = text(type, "name"),
                     .version = text(type, "version"),
                     .description = text(type, "description"),
                     .payload_schema = {},
                     .pools = integer(type, "pools"),
                     .in_flight = integer(type, "in_flight")};
    // The schema arrives as an object (or, from older servers, as its text).
    if (const auto schema = type.find("payload_schema"); schema != type.end()) {
      info.payload_schema = schema->is_string() ? schema->get<std::string>() : schema->dump();
    }
    types.push_back(std::move(info));
  }
  return types;
}

std::optional<ListingPage> parse_listing(const std::string& body) {
  const json root = json::parse(body, nullptr, false);
  if (!root.is_object() || !root.contains("jobs") || !root["jobs"].is_array()) return std::nullopt;
  ListingPage page;
  for (const auto& job : root["jobs"]) {
    auto status = parse_job_status(job.dump());
    if (status.ok()) page.jobs.push_back(std::move(*status));
  }
  page.next_cursor = text(root, "next_cursor");
  return page;
}

std::string error_text(long code, const std::string& body) {
  const json root = json::parse(body, nullptr, false);
  std::string line = "HTTP " + std::to_string(code);
  if (!root.is_object() || !root.contains("error") || !root["error"].is_object()) {
    return body.empty() ? line : line + ": " + body.substr(0, 200);
  }
  const json& error = root["error"];
  line += ": " + text(error, "message");
  if (const auto details = error.find("details"); details != error.end() && details->is_array()) {
    for (const auto& detail : *details) {
      if (!detail.is_object()) continue;
      const std::string field = text(detail, "field");
      line += "; " + (field.empty() ? std::string("(payload)") : field) + ": " +
              text(detail, "message");
    }
  }
  return line;
}

std::vector<std::string> describe_job(const std::string& body) {
  const json root = json::parse(body, nullptr, false);
  if (!root.is_object()) return {"(unreadable answer)"};
  const auto result = root.find("result");
  if (result == root.end() || !result->is_object()) return {"result: none yet"};
  std::vector<std::string> lines;
  lines.push_back("final state: " + text(*result, "final_state"));
  lines.push_back("attempts: " + std::to_string(integer(*result, "attempts")));
  lines.push_back("started: " + text(*result, "started_at"));
  lines.push_back("ended: " + text(*result, "completed_at"));
  if (const auto output = result->find("output"); output != result->end() && !output->is_null()) {
    lines.push_back("output: " + output->dump());
  }
  if (const auto error = result->find("error"); error != result->end() && error->is_object()) {
    lines.push_back("error: " + text(*error, "code") + ": " + text(*error, "message"));
  }
  if (const auto input = result->find("input"); input != result->end()) {
    lines.push_back("input: " + input->dump());
  }
  return lines;
}

std::string new_job_id(const std::string& body) {
  const auto answer = nlohmann::json::parse(body, nullptr, false);
  const auto id = answer.is_object() ? answer.find("job_id") : answer.end();
  return id != answer.end() && id->is_string() ? id->get<std::string>() : std::string();
}

std::optional<std::map<std::string, int64_t>> count_dead_letters(const std::string& body) {
  const json root = json::parse(body, nullptr, false);
  if (!root.is_object() || !root.contains("dead_letters") || !root["dead_letters"].is_array()) {
    return std::nullopt;
  }
  std::map<std::string, int64_t> counts;
  for (const auto& letter : root["dead_letters"]) {
    if (letter.is_object() && text(letter, "replayed_as").empty())
      ++counts[text(letter, "job_type")];
  }
  return counts;
}

std::vector<std::string> describe_history(const std::string& body) {
  const json root = json::parse(body, nullptr, false);
  if (!root.is_object() || !root.contains("events") || !root["events"].is_array()) {
    return {"(unreadable answer)"};
  }
  std::vector<std::string> lines;
  for (const auto& event : root["events"]) {
    if (!event.is_object()) continue;
    const std::string at = text(event, "at");
    // 2026-12-06T17:21:40.648Z: the time of day is enough beside the job.
    std::string line = at.size() >= 23 ? at.substr(11, 12) : at;
    line += "  " + text(event, "kind");
    if (const int64_t attempt = integer(event, "attempt"); attempt > 0) {
      line += "  attempt " + std::to_string(attempt);
    }
    for (const char* key : {"worker", "error_code", "related_job_id", "detail"}) {
      if (const std::string value = text(event, key); !value.empty()) line += "  " + value;
    }
    lines.push_back(std::move(line));
  }
  if (lines.empty()) lines.emplace_back("(no events stored)");
  return lines;
}

std::vector<FormField> form_fields(const std::string& payload_schema) {
  const json schema = json::parse(payload_schema, nullptr, false);
  std::vector<FormField> fields;
  if (!schema.is_object() || !schema.contains("properties") || !schema["properties"].is_object()) {
    return fields;
  }
  std::vector<std::string> required;
  if (const auto it = schema.find("required"); it != schema.end() && it->is_array()) {
    for (const auto& name : *it) {
      if (name.is_string()) required.push_back(name.get<std::string>());
    }
  }
  for (const auto& [name, property] : schema["properties"].items()) {
    FormField field{.name = name, .title = name};
    if (property.is_object()) {
      if (const std::string title = text(property, "title"); !title.empty()) field.title = title;
      field.type = text(property, "type");
      field.description = text(property, "description");
      if (const auto choices = property.find("enum");
          choices != property.end() && choices->is_array()) {
        for (const auto& choice : *choices) field.choices.push_back(as_field_text(choice));
      }
      if (const auto initial = property.find("default"); initial != property.end()) {
        field.initial = as_field_text(*initial);
      }
    }
    field.required = std::find(required.begin(), required.end(), name) != required.end();
    fields.push_back(std::move(field));
  }
  return fields;
}

bool is_json_object(const std::string& text) {
  return json::parse(text, nullptr, false).is_object();
}

BuiltPayload build_payload(const std::vector<FormField>& fields,
                           const std::vector<std::string>& answers) {
  json payload = json::object();
  for (size_t i = 0; i < fields.size() && i < answers.size(); ++i) {
    const FormField& field = fields[i];
    const std::string& answer = answers[i];
    if (answer.empty()) continue;
    if (field.type == "string") {
      payload[field.name] = answer;
      continue;
    }
    json value = json::parse(answer, nullptr, false);
    if (value.is_discarded()) {
      // A property of no declared type takes any JSON, else the text.
      if (field.type.empty()) {
        payload[field.name] = answer;
        continue;
      }
      return {.json = {}, .error = field.title + ": not " + field.type + " JSON: " + answer};
    }
    payload[field.name] = std::move(value);
  }
  return {.json = payload.dump(), .error = {}};
}

}  // namespace dtq::cli::top
