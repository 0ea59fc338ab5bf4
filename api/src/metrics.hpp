// Metrics: the Prometheus series GET /metrics serves — jobs by type and
// state, submit-to-end durations, jobs in flight and jobs waiting for a pool
// (fed by a subscription to every job's status), HTTP requests by route and
// code, submits by outcome, the time each operation spent in the backends,
// and the event streams open. docs/deploy.md lists every series.
//
// Thread-safety: every member function is thread-safe. Ownership: borrows
// the StatusStore, which must outlive the object; the subscription ends in
// the destructor.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "dtq/core/ports/status_store.hpp"
#include "plugin_health.hpp"

namespace dtq::api {

class Metrics {
 public:
  explicit Metrics(StatusStore& statuses);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // `route` is the route's template ("/v1/jobs/{id}"), never the raw path,
  // so the label set stays bounded.
  void count_request(std::string_view route, int code);
  // A submit's outcome: accepted, or the error code it was refused with
  // (invalid_payload for a payload its plugin refused). Bounded: the
  // codes a submit can answer. A batch counts each of its jobs.
  void count_submit(std::string_view outcome, double jobs = 1);
  // How long `operation` (submit, status, result, cancel, list, job_types)
  // waited on the backends: the validator, the stores and the queue.
  void observe_backend(std::string_view operation, std::chrono::steady_clock::duration took);
  // The job types' runner crashes so far, and whether they keep crashing.
  void set_plugin_health(const std::vector<JobTypeInfo>& types) { plugin_health_.set(types); }
  // The live event streams (SSE) open now.
  void set_open_streams(size_t count) { streams_.Set(static_cast<double>(count)); }
  // The Prometheus text exposition format.
  std::string render() const;

 private:
  struct Seen {
    JobState state;
    std::chrono::steady_clock::time_point first_seen;
    bool seen_queued;  // the duration is only meaningful from the submit (or when due)
  };

  void on_change(const JobStatus& status);

  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Counter>& jobs_;
  prometheus::Family<prometheus::Histogram>& durations_;
  prometheus::Family<prometheus::Gauge>& in_flight_;
  prometheus::Family<prometheus::Gauge>& waiting_;
  prometheus::Family<prometheus::Gauge>& scheduled_;
  prometheus::Family<prometheus::Counter>& submits_;
  prometheus::Family<prometheus::Histogram>& backend_;
  prometheus::Gauge& streams_;
  PluginHealthMetrics plugin_health_{*registry_};

  std::mutex mutex_;
  std::unordered_map<std::string, Seen> seen_;  // jobs not yet ended
  std::unique_ptr<StatusSubscription> subscription_;
};

}  // namespace dtq::api
