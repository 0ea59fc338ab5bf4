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

PluginHealthMetrics::PluginHealthMetrics(prometheus::Registry& registry)
    : crashes_(prometheus::BuildCounter()
                   .Name("dtq_plugin_runner_crashes_total")
                   .Help("Plugin runner processes lost while serving since start, by job type")
                   .Register(registry)),
      looping_(prometheus::BuildGauge()
                   .Name("dtq_plugin_crash_looping")
                   .Help("1 while a job type's plugin runners keep crashing")
                   .Register(registry)) {}

void PluginHealthMetrics::set(const std::vector<JobTypeInfo>& types) {
  MutexLock lock(mutex_);
  for (const auto& type : types) {
    auto& crashes = crashes_.Add({{"job_type", type.job_type}});
    const double total = static_cast<double>(type.runner_crashes);
    if (total > crashes.Value()) crashes.Increment(total - crashes.Value());
    looping_.Add({{"job_type", type.job_type}}).Set(type.crash_looping ? 1 : 0);
  }
}

}  // namespace dtq::api
