// How the plugins' runners fare, as both HTTP faces show it: the REST API
// (ApiServer) and a worker's admin port (AdminServer). One readiness body
// and one pair of series, so a probe or a dashboard reads either the same.
//
// Thread-safety: readiness_body() is pure; PluginHealthMetrics::set() may
// be called from any thread. Ownership: the series are registered in, and
// live as long as, the registry given.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <string>
#include <vector>

#include "dtq/core/ports/job_type_registry.hpp"
#include "dtq/core/thread_annotations.hpp"

namespace dtq::api {

// {"status":"ready"}, or {"status":"degraded","crash_looping_plugins":[...]}
// naming each job type whose runners keep crashing, with its last crash.
std::string readiness_body(const std::vector<JobTypeInfo>& types);

// dtq_plugin_runner_crashes_total and dtq_plugin_crash_looping, by job type.
class PluginHealthMetrics {
 public:
  explicit PluginHealthMetrics(prometheus::Registry& registry);
  // The engine's running totals: the counter moves up to each.
  void set(const std::vector<JobTypeInfo>& types);

 private:
  prometheus::Family<prometheus::Counter>& crashes_;
  prometheus::Family<prometheus::Gauge>& looping_;
  Mutex mutex_;  // two scrapes at once must not both add the same crashes
};

}  // namespace dtq::api
