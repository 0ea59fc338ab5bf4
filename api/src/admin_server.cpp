#include "dtq/api/admin_server.hpp"

#include <pistache/http.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <atomic>
#include <nlohmann/json.hpp>

#include "http_listener.hpp"
#include "plugin_health.hpp"

namespace dtq::api {
namespace {

using nlohmann::json;
using Pistache::Http::Code;

prometheus::Family<prometheus::Counter>& counter(prometheus::Registry& registry,
                                                 const std::string& name, const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
}

// Each scrape builds its series afresh from the pools' own counters (a
// counter set to a running total is still a counter: it only goes up while
// the process lives, and Prometheus sees the restart as a reset).
void render_pool_counters(prometheus::Registry& registry, const std::vector<PoolMetrics>& pools) {
  auto& started = counter(registry, "dtq_worker_attempts_started_total",
                          "Attempts handed to the plugin, by job type");
  auto& retried = counter(registry, "dtq_worker_attempts_retried_total",
                          "Failed attempts that another attempt followed, by job type");
  auto& abandoned =
      counter(registry, "dtq_worker_attempts_abandoned_total",
              "Attempts whose plugin ignored its timeout or a cancellation past the grace");
  auto& ended = counter(registry, "dtq_worker_jobs_total",
                        "Jobs this worker ended, by job type and outcome "
                        "(completed, failed, cancelled)");
  auto& dead = counter(registry, "dtq_worker_jobs_dead_lettered_total",
                       "Failed jobs the queue took as dead letters, by job type");
  auto& released = counter(registry, "dtq_worker_jobs_released_total",
                           "Jobs handed back to the queue for redelivery, by job type");
  auto& errors = counter(registry, "dtq_worker_backend_errors_total",
                         "Failed calls to a backend, by job type and port (queue, status, result)");
  auto& lag = prometheus::BuildGauge()
                  .Name("dtq_worker_consumer_lag")
                  .Help(
                      "Jobs on the queue partitions this worker holds that are not finished yet, "
                      "by job type; summed over a type's workers, its consumer lag")
                  .Register(registry);
  auto& durations = prometheus::BuildHistogram()
                        .Name("dtq_worker_attempt_duration_seconds")
                        .Help("How long each attempt ran in the plugin, by job type")
                        .Register(registry);
  for (const auto& pool : pools) {
    const std::string& type = pool.job_type;
    started.Add({{"job_type", type}}).Increment(static_cast<double>(pool.attempts_started));
    retried.Add({{"job_type", type}}).Increment(static_cast<double>(pool.attempts_retried));
    abandoned.Add({{"job_type", type}}).Increment(static_cast<double>(pool.attempts_abandoned));
    ended.Add({{"job_type", type}, {"outcome", "completed"}})
        .Increment(static_cast<double>(pool.jobs_completed));
    ended.Add({{"job_type", type}, {"outcome", "failed"}})
        .Increment(static_cast<double>(pool.jobs_failed));
    ended.Add({{"job_type", type}, {"outcome", "cancelled"}})
        .Increment(static_cast<double>(pool.jobs_cancelled));
    dead.Add({{"job_type", type}}).Increment(static_cast<double>(pool.jobs_dead_lettered));
    released.Add({{"job_type", type}}).Increment(static_cast<double>(pool.jobs_released));
    errors.Add({{"job_type", type}, {"port", "queue"}})
        .Increment(static_cast<double>(pool.queue_errors));
    errors.Add({{"job_type", type}, {"port", "status"}})
        .Increment(static_cast<double>(pool.status_errors));
    errors.Add({{"job_type", type}, {"port", "result"}})
        .Increment(static_cast<double>(pool.result_errors));
    if (pool.consumer_lag)
      lag.Add({{"job_type", type}}).Set(static_cast<double>(*pool.consumer_lag));
    if (pool.duration_counts.size() == pool.duration_bounds.size() + 1) {
      const std::vector<double> counts(pool.duration_counts.begin(), pool.duration_counts.end());
      durations.Add({{"job_type", type}}, pool.duration_bounds)
          .ObserveMultiple(counts, pool.duration_sum_seconds);
    }
  }
}

std::string render_metrics(const std::vector<JobTypeInfo>& pools,
                           const std::vector<PoolMetrics>& counted, bool ready) {
  prometheus::Registry registry;
  auto& in_flight = prometheus::BuildGauge()
                        .Name("dtq_pool_in_flight")
                        .Help("Jobs this worker's pool is running now, by job type")
                        .Register(registry);
  auto& concurrency = prometheus::BuildGauge()
                          .Name("dtq_pool_concurrency")
                          .Help("Workers in this worker's pool, by job type")
                          .Register(registry);
  auto& ready_gauge = prometheus::BuildGauge()
                          .Name("dtq_worker_ready")
                          .Help(
                              "1 while /readyz answers 200 (the backends answer, the pools "
                              "take work), else 0; by job type")
                          .Register(registry);
  for (const auto& pool : pools) {
    in_flight.Add({{"job_type", pool.job_type}}).Set(pool.in_flight);
    concurrency.Add({{"job_type", pool.job_type}}).Set(pool.concurrency);
    ready_gauge.Add({{"job_type", pool.job_type}}).Set(ready ? 1 : 0);
  }
  PluginHealthMetrics(registry).set(pools);
  render_pool_counters(registry, counted);
  return prometheus::TextSerializer().Serialize(registry.Collect());
}

}  // namespace

class AdminServer::Impl {
 public:
  Impl(AdminSettings settings, std::function<AdminReadiness()> readiness,
       std::function<std::vector<JobTypeInfo>()> pools)
      : settings_(std::move(settings)),
        readiness_(std::move(readiness)),
        pools_(std::move(pools)) {}

  // Pistache copies the handler it is given for each of its threads: the
  // copies share the Impl.
  class Handler final : public Pistache::Http::Handler {
   public:
    HTTP_PROTOTYPE(Handler)
    explicit Handler(Impl* impl) : impl_(impl) {}
    void onRequest(const Pistache::Http::Request& request,
                   Pistache::Http::ResponseWriter response) override {
      impl_->handle(request, std::move(response));
    }

   private:
    Impl* impl_;
  };

  void handle(const Pistache::Http::Request& request,
              Pistache::Http::ResponseWriter response) const {
    const auto json_type = Pistache::Http::Mime::MediaType::fromString("application/json");
    try {
      if (request.method() != Pistache::Http::Method::Get) {
        response.headers().add<Pistache::Http::Header::Allow>(Pistache::Http::Method::Get);
        response.send(Code::Method_Not_Allowed, R"({"error":{"code":"method_not_allowed"}})",
                      json_type);
        return;
      }
      const std::string& path = request.resource();
      if (path == "/healthz") {
        response.send(Code::Ok, R"({"status":"ok"})", json_type);
      } else if (path == "/readyz") {
        const auto [code, body] = readyz();
        response.send(code, body, json_type);
      } else if (path == "/metrics") {
        const std::vector<PoolMetrics> counted =
            pool_metrics_ ? pool_metrics_() : std::vector<PoolMetrics>{};
        response.send(Code::Ok, render_metrics(pools_(), counted, readiness_().ready),
                      Pistache::Http::Mime::MediaType::fromString("text/plain; version=0.0.4"));
      } else {
        response.send(Code::Not_Found, R"({"error":{"code":"not_found"}})", json_type);
      }
    } catch (const std::exception& e) {
      response.send(Code::Internal_Server_Error,
                    json{{"error", {{"code", "internal"}, {"message", e.what()}}}}.dump(),
                    json_type);
    }
  }

  std::pair<Code, std::string> readyz() const {
    const AdminReadiness readiness = readiness_();
    if (!readiness.ready) {
      return {Code::Service_Unavailable,
              json{{"status", "not_ready"}, {"reason", readiness.reason}}.dump()};
    }
    return {Code::Ok, readiness_body(pools_())};
  }

  Status start() {
    listener_ = std::make_unique<HttpListener>(
        HttpListenerSettings{.bind_address = settings_.bind_address, .port = settings_.port});
    if (Status started = listener_->start(std::make_shared<Handler>(this)); !started.ok()) {
      listener_.reset();
      return started;
    }
    port_.store(listener_->port());
    return {};
  }

  void stop() {
    if (listener_) {
      listener_->stop();
      listener_.reset();
    }
  }

  uint16_t port() const noexcept { return port_.load(); }

  // Set before start(): read by the server's thread only after.
  std::function<std::vector<PoolMetrics>()> pool_metrics_;

 private:
  AdminSettings settings_;
  std::function<AdminReadiness()> readiness_;
  std::function<std::vector<JobTypeInfo>()> pools_;
  std::unique_ptr<HttpListener> listener_;
  std::atomic<uint16_t> port_{0};
};

AdminServer::AdminServer(AdminSettings settings, std::function<AdminReadiness()> readiness,
                         std::function<std::vector<JobTypeInfo>()> pools)
    : impl_(std::make_unique<Impl>(std::move(settings), std::move(readiness), std::move(pools))) {}

AdminServer::~AdminServer() {
  stop();
}

void AdminServer::set_pool_metrics(std::function<std::vector<PoolMetrics>()> pool_metrics) {
  impl_->pool_metrics_ = std::move(pool_metrics);
}

Status AdminServer::start() {
  return impl_->start();
}
uint16_t AdminServer::port() const noexcept {
  return impl_->port();
}
void AdminServer::stop() {
  impl_->stop();
}

}  // namespace dtq::api
