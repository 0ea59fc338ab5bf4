// A plugin that does nothing but one progress report and a result, so the
// benchmark measures the host<->plugin boundary and nothing else.
#include <dtq/plugin.hpp>

class NoopPlugin {
 public:
  static constexpr dtq::sdk::PluginInfo kInfo{
      .name = "No-op",
      .job_type = "bench_noop",
      .version = "1.0.0",
      .description = "Reports 50% and completes; for benchmarks.",
      .payload_schema_json = R"({"type":"object"})",
  };

  void validate(std::string_view, dtq::sdk::Validation&) const {}

  std::string run(dtq::sdk::Job& job) {
    job.progress(50);
    return "{}";
  }
};

DTQ_PLUGIN(NoopPlugin)
