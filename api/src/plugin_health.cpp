#include "plugin_health.hpp"

#include <nlohmann/json.hpp>

namespace dtq::api {

std::string readiness_body(const std::vector<JobTypeInfo>& types) {
  using nlohmann::json;
  json looping = json::array();
  for (const auto& type : types) {
    if (type.crash_looping)
      looping.push_back({{"job_type", type.job_type}, {"last_crash", type.last_crash}});
  }
  if (looping.empty()) return R"({"status":"ready"})";
  return json{{"status", "degraded"}, {"crash_looping_plugins", std::move(looping)}}.dump(
      -1, ' ', false, json::error_handler_t::replace);
}

PluginHealthGauges::PluginHealthGauges(prometheus::Registry& registry)
    : crashes_(prometheus::BuildGauge()
                   .Name("dtq_plugin_runner_crashes")
                   .Help("Plugin runner processes lost while serving since start, by job type")
                   .Register(registry)),
      looping_(prometheus::BuildGauge()
                   .Name("dtq_plugin_crash_looping")
                   .Help("1 while a job type's plugin runners keep crashing")
                   .Register(registry)) {}

void PluginHealthGauges::set(const std::vector<JobTypeInfo>& types) {
  for (const auto& type : types) {
    crashes_.Add({{"job_type", type.job_type}}).Set(static_cast<double>(type.runner_crashes));
    looping_.Add({{"job_type", type.job_type}}).Set(type.crash_looping ? 1 : 0);
  }
}

}  // namespace dtq::api
