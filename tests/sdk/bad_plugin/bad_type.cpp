// A plugin that compiles and links but that no dtq host accepts: its job
// type "Bad Type" breaks the [a-z][a-z0-9_]{0,63} rule of the loader.
#include <dtq/plugin.hpp>

class BadTypePlugin {
 public:
  static constexpr dtq::sdk::PluginInfo kInfo{
      .name = "Bad type",
      .job_type = "Bad Type",
      .version = "1.0.0",
      .description = "Refused by the loader: its job type is not a job type.",
      .payload_schema_json = R"({"type":"object"})",
  };

  void validate(std::string_view /*payload*/, dtq::sdk::Validation& v) const { v.normalized("{}"); }
  std::string run(dtq::sdk::Job& /*job*/) { return "{}"; }
};

DTQ_PLUGIN(BadTypePlugin)
