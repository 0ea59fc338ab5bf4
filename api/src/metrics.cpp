#include "metrics.hpp"

#include <prometheus/text_serializer.h>

namespace dtq::api {

Metrics::Metrics(StatusStore& statuses)
    : requests_(prometheus::BuildCounter()
                    .Name("dtq_http_requests_total")
                    .Help("HTTP requests by route and status code")
                    .Register(*registry_)),
      jobs_(prometheus::BuildCounter()
                .Name("dtq_jobs_total")
                .Help("Jobs that entered each state, by job type")
                .Register(*registry_)),
      durations_(prometheus::BuildHistogram()
                     .Name("dtq_job_duration_seconds")
                     .Help("From submit to a terminal state, by job type and final state")
                     .Register(*registry_)),
      in_flight_(prometheus::BuildGauge()
                     .Name("dtq_jobs_in_flight")
                     .Help("Jobs running now, by job type")
                     .Register(*registry_)),
      waiting_(prometheus::BuildGauge()
                   .Name("dtq_jobs_waiting")
                   .Help("Jobs submitted and not yet running, by job type: the queue's depth as "
                         "this API saw the jobs' statuses since it started")
                   .Register(*registry_)),
      scheduled_(prometheus::BuildGauge()
                     .Name("dtq_jobs_scheduled")
                     .Help("Delayed jobs waiting for their run_at, by job type, as this API saw "
                           "the jobs' statuses since it started")
                     .Register(*registry_)),
      submits_(prometheus::BuildCounter()
                   .Name("dtq_api_submits_total")
                   .Help("Submits by outcome: accepted, or the error code of the refusal")
                   .Register(*registry_)),
      backend_(prometheus::BuildHistogram()
                   .Name("dtq_api_backend_duration_seconds")
                   .Help("Time an API operation waited on its backends (validator, stores, "
                         "queue), by operation")
                   .Register(*registry_)),
      streams_(prometheus::BuildGauge()
                   .Name("dtq_api_event_streams")
                   .Help("Live event streams (SSE) open now")
                   .Register(*registry_)
                   .Add({})) {
  // Last: the callback touches everything above.
  subscription_ = statuses.subscribe("", [this](const JobStatus& status) { on_change(status); });
}

Metrics::~Metrics() {
  subscription_.reset();
}

void Metrics::count_request(std::string_view route, int code) {
  requests_.Add({{"route", std::string(route)}, {"code", std::to_string(code)}}).Increment();
}

void Metrics::count_submit(std::string_view outcome, double jobs) {
  submits_.Add({{"outcome", std::string(outcome)}}).Increment(jobs);
}

void Metrics::observe_backend(std::string_view operation,
                              std::chrono::steady_clock::duration took) {
  // From a loopback Redis (a fraction of a millisecond) to a validation
  // that waits for its plugin's limit.
  static const prometheus::Histogram::BucketBoundaries kBuckets{
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  backend_.Add({{"operation", std::string(operation)}}, kBuckets)
      .Observe(std::chrono::duration<double>(took).count());
}

void Metrics::on_change(const JobStatus& status) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  auto [it, inserted] = seen_.try_emplace(
      status.job_id,
      Seen{status.state, now,
           status.state == JobState::kQueued || status.state == JobState::kScheduled});
  const JobState previous = it->second.state;
  if (!inserted && previous == status.state) return;
  const std::string state(to_string(status.state));
  jobs_.Add({{"job_type", status.job_type}, {"state", state}}).Increment();
  auto& running = in_flight_.Add({{"job_type", status.job_type}});
  if (!inserted && previous == JobState::kRunning) running.Decrement();
  if (status.state == JobState::kRunning) running.Increment();
  auto& waiting = waiting_.Add({{"job_type", status.job_type}});
  if (!inserted && previous == JobState::kQueued) waiting.Decrement();
  if (status.state == JobState::kQueued) waiting.Increment();
  auto& scheduled = scheduled_.Add({{"job_type", status.job_type}});
  if (!inserted && previous == JobState::kScheduled) {
    scheduled.Decrement();
    // A delayed job's duration runs from when it was due, not its submit.
    it->second.first_seen = now;
  }
  if (status.state == JobState::kScheduled) scheduled.Increment();
  if (is_terminal(status.state)) {
    if (it->second.seen_queued) {
      static const prometheus::Histogram::BucketBoundaries kBuckets{
          0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800};
      const std::chrono::duration<double> elapsed = now - it->second.first_seen;
      durations_.Add({{"job_type", status.job_type}, {"state", state}}, kBuckets)
          .Observe(elapsed.count());
    }
    seen_.erase(it);
    return;
  }
  it->second.state = status.state;
}

std::string Metrics::render() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace dtq::api
