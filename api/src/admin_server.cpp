#include "dtq/api/admin_server.hpp"

#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <atomic>
#include <nlohmann/json.hpp>

#include "plugin_health.hpp"

namespace dtq::api {
namespace {

using nlohmann::json;
using Pistache::Http::Code;

std::string render_metrics(const std::vector<JobTypeInfo>& pools) {
  prometheus::Registry registry;
  auto& in_flight = prometheus::BuildGauge()
                        .Name("dtq_pool_in_flight")
                        .Help("Jobs this worker's pool is running now, by job type")
                        .Register(registry);
  auto& concurrency = prometheus::BuildGauge()
                          .Name("dtq_pool_concurrency")
                          .Help("Workers in this worker's pool, by job type")
                          .Register(registry);
  for (const auto& pool : pools) {
    in_flight.Add({{"job_type", pool.job_type}}).Set(pool.in_flight);
    concurrency.Add({{"job_type", pool.job_type}}).Set(pool.concurrency);
  }
  PluginHealthGauges(registry).set(pools);
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
        response.send(Code::Ok, render_metrics(pools_()),
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
    try {
      endpoint_ = std::make_unique<Pistache::Http::Endpoint>(
          Pistache::Address(settings_.bind_address, Pistache::Port(settings_.port)));
      endpoint_->init(
          Pistache::Http::Endpoint::options().threads(1).flags(Pistache::Tcp::Options::ReuseAddr));
      endpoint_->setHandler(std::make_shared<Handler>(this));
      endpoint_->serveThreaded();
      port_.store(static_cast<uint16_t>(endpoint_->getPort()));
    } catch (const std::exception& e) {
      endpoint_.reset();
      return unavailable("cannot listen on " + settings_.bind_address + ":" +
                         std::to_string(settings_.port) + ": " + e.what());
    }
    return {};
  }

  void stop() {
    if (endpoint_) {
      endpoint_->shutdown();
      endpoint_.reset();
    }
  }

  uint16_t port() const noexcept { return port_.load(); }

 private:
  AdminSettings settings_;
  std::function<AdminReadiness()> readiness_;
  std::function<std::vector<JobTypeInfo>()> pools_;
  std::unique_ptr<Pistache::Http::Endpoint> endpoint_;
  std::atomic<uint16_t> port_{0};
};

AdminServer::AdminServer(AdminSettings settings, std::function<AdminReadiness()> readiness,
                         std::function<std::vector<JobTypeInfo>()> pools)
    : impl_(std::make_unique<Impl>(std::move(settings), std::move(readiness), std::move(pools))) {}

AdminServer::~AdminServer() {
  stop();
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
