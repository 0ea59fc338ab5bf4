// The smallest useful dtq plugin: greets someone. Shows the whole contract —
// metadata with a payload schema, validate() as the payload's authority, and
// run() reporting progress and returning its output.
#include <dtq/plugin.hpp>

#include <nlohmann/json.hpp>

class HelloPlugin {
 public:
  static constexpr dtq::sdk::PluginInfo kInfo{
      .name = "Hello",
      .job_type = "hello",
      .version = "1.0.0",
      .description = "Greets someone by name.",
      .payload_schema_json = R"({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Hello",
        "type": "object",
        "properties": {"name": {"type": "string", "title": "Name", "minLength": 1, "maxLength": 80}},
        "required": ["name"],
        "additionalProperties": false
      })",
      .default_concurrency = 2,
      .default_timeout_ms = 5000,
  };

  void validate(std::string_view payload, dtq::sdk::Validation& v) const {
    const auto doc = nlohmann::json::parse(payload);
    for (const auto& [key, value] : doc.items()) {
      if (key != "name") v.error("/" + key, "unknown property");
    }
    const auto name = doc.find("name");
    if (name == doc.end() || !name->is_string() || name->get<std::string>().empty()) {
      v.error("/name", "a non-empty string is required");
    }
    if (v.ok()) v.normalized(nlohmann::json{{"name", *name}}.dump());
  }

  std::string run(dtq::sdk::Job& job) {
    job.progress(0, "thinking of a greeting");
    const auto name = nlohmann::json::parse(job.payload()).at("name").get<std::string>();
    job.progress(50, "greeting chosen");
    return nlohmann::json{{"greeting", "Hello, " + name + "!"}}.dump();
  }
};

DTQ_PLUGIN(HelloPlugin)
