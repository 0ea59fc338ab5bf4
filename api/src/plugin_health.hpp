// How the plugins' runners fare, as both HTTP faces show it: the REST API
// (ApiServer) and a worker's admin port (AdminServer). One readiness body
// and one pair of gauges, so a probe or a dashboard reads either the same.
//
// Thread-safety: readiness_body() is pure; PluginHealthGauges::set() may be
// called from any thread (prometheus-cpp's gauges are). Ownership: the
// gauges are registered in, and live as long as, the registry given.
#pragma once

#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <string>
#include <vector>

#include "dtq/core/ports/job_type_registry.hpp"

namespace dtq::api {

// {"status":"ready"}, or {"status":"degraded","crash_looping_plugins":[...]}
// naming each job type whose runners keep crashing, with its last crash.
std::string readiness_body(const std::vector<JobTypeInfo>& types);

// dtq_plugin_runner_crashes and dtq_plugin_crash_looping, by job type.
class PluginHealthGauges {
 public:
  explicit PluginHealthGauges(prometheus::Registry& registry);
  void set(const std::vector<JobTypeInfo>& types);

 private:
  prometheus::Family<prometheus::Gauge>& crashes_;
  prometheus::Family<prometheus::Gauge>& looping_;
};

}  // namespace dtq::api
