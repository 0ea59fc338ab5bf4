#include "dtq/api/api_server.hpp"

#include <pistache/http.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include "access_guard.hpp"
#include "api_routes.hpp"
#include "handler_pool.hpp"
#include "http_connection.hpp"
#include "http_listener.hpp"
#include "http_reply.hpp"
#include "metrics.hpp"
#include "openapi_route.hpp"
#include "plugin_health.hpp"
#include "reactor_task.hpp"
#include "route_table.hpp"
#include "sse_hub.hpp"
#include "static_files.hpp"
#include "write_guard.hpp"

namespace dtq::api {
namespace {

using Pistache::Http::Code;
using Pistache::Http::Method;
using Pistache::Http::Request;
using Pistache::Http::ResponseWriter;

// Runs `work` (routing, a route's handler) for `request`: an exception out
// of it is a bug, logged and answered 500 in the error shape.
template <typename Work>
std::optional<Reply> guarded(const Request& request, Work&& work) {
  try {
    return std::forward<Work>(work)();
  } catch (const std::exception& e) {
    spdlog::error("{} {}: {}", Pistache::Http::methodString(request.method()), request.resource(),
                  e.what());
    return error_reply(Code::Internal_Server_Error, "internal", "internal error");
  }
}

}  // namespace

// Serves every request that HardenedHandler has read: CORS, the route
// table (with each route's access), the UI's files, the request metrics.
class ApiServer::Impl final : public RequestSink {
 public:
  Impl(ApiSettings settings, JobService& jobs, StatusStore& statuses, JobTypeRegistry& job_types)
      : settings_(std::move(settings)),
        guard_(settings_.keys, settings_.open_reads, settings_.metrics_need_key),
        job_types_(job_types),
        metrics_(statuses),
        sse_(statuses, settings_.max_sse_streams, settings_.sse_heartbeat),
        job_routes_(jobs, job_types, sse_, metrics_, settings_.body_limit,
                    settings_.submit_rate_per_second, settings_.history,
                    settings_.batch_body_limit) {
    if (!settings_.static_dir.empty()) static_files_.emplace(settings_.static_dir);
    add_operator_routes();
    // The document describes the REST job routes: served only with them.
    if (settings_.job_routes) add_openapi_route(routes_);
    if (settings_.job_routes) job_routes_.add_to(routes_);
  }

  Status start();
  void stop();
  Served serve(const Request& request, ResponseWriter response, Pistache::Tcp::Transport* transport,
               std::function<void()> answered) override;
  void refused(int code) override { metrics_.count_request("malformed", code); }

  std::atomic<uint16_t> port{0};
  std::atomic<bool> ready{false};
  std::mutex not_ready_mutex;
  std::string not_ready_reason = "the worker engine is not running";
  const ApiRouteTable& routes() const { return routes_; }

 private:
  // /healthz, /readyz and /metrics.
  void add_operator_routes();
  // Ready; "degraded", still 200, naming the job types whose plugin runners
  // keep crashing: the rest of the node serves, and a balancer must not
  // take it all out for one plugin.
  Reply readiness();
  // Where a request goes: answered already (a refusal, a preflight; a
  // file, sent by then: no reply), or to a route's handler.
  struct Routed {
    std::optional<Reply> reply;
    const ApiRoute* route = nullptr;  // the handler to run, when set
    PathParams params;
  };
  // A request whose handler waits on backends, on its way to the handler
  // pool: the task owns it all.
  struct Pending {
    Request request;
    ResponseWriter response;
    Pistache::Tcp::Transport* transport;
    const ApiRoute* route;
    PathParams params;
    std::string route_name;
    std::function<void()> answered;
  };
  // Where `request` goes, and in `route_name` the route that took it, for
  // the metrics.
  Routed route(const Request& request, ResponseWriter& response, std::string& route_name);
  // Runs `route`'s handler; its reply, if it did not answer on its own.
  std::optional<Reply> run_handler(const ApiRoute& route, const Request& request,
                                   ResponseWriter& response, Pistache::Tcp::Transport* transport,
                                   PathParams params);
  // Counts and sends `reply` (when there is one) for `route_name`.
  void answer(ResponseWriter& response, const std::optional<Reply>& reply,
              const std::string& route_name);
  // Serves `pending` on a handler thread, and answers on its reactor.
  void serve_later(const std::shared_ptr<Pending>& pending);
  // The refusal of a request whose Host this server does not answer to.
  std::optional<Reply> check_host(const Request& request) const;
  // The refusal of a request that lacks what `need` asks for.
  std::optional<Reply> check_access(const Request& request, Need need) const;
  void add_cors(const Request& request, ResponseWriter& response) const;

  const ApiSettings settings_;
  const AccessGuard guard_;
  JobTypeRegistry& job_types_;
  Metrics metrics_;
  SseHub sse_;
  JobRoutes job_routes_;
  std::optional<StaticFiles> static_files_;
  ApiRouteTable routes_;
  HandlerPool handlers_{settings_.handler_threads, settings_.max_queued_requests};
  std::unique_ptr<HttpListener> listener_;
};

void ApiServer::Impl::add_operator_routes() {
  const auto health = [](Exchange&) { return Reply{Code::Ok, R"({"status":"ok"})"}; };
  routes_.add("GET", "/healthz", {Need::kNothing, health, true});
  routes_.add("GET", "/readyz", {Need::kNothing, [this](Exchange&) { return readiness(); }, true});
  routes_.add("GET", "/metrics",
              {Need::kMetrics, [this](Exchange& exchange) -> std::optional<Reply> {
                 if (auto listed = job_types_.list(); listed.ok())
                   metrics_.set_plugin_health(*listed);
                 metrics_.set_open_streams(sse_.open_streams());
                 exchange.response.send(
                     Code::Ok, metrics_.render(),
                     Pistache::Http::Mime::MediaType::fromString("text/plain; version=0.0.4"));
                 return std::nullopt;
               }});
}

Reply ApiServer::Impl::readiness() {
  if (!ready.load()) {
    std::lock_guard lock(not_ready_mutex);
    return error_reply(Code::Service_Unavailable, "not_ready", not_ready_reason);
  }
  auto listed = job_types_.list();
  return Reply{Code::Ok, readiness_body(listed.ok() ? *listed : std::vector<JobTypeInfo>{})};
}

Status ApiServer::Impl::start() {
  // Past max_request_bytes Pistache answers 413 itself; below it the
  // handler answers 413 in the JSON error shape for a body over its
  // route's limit (body_limit; batch_body_limit for the batch submit).
  const HttpLimits limits{.body_limit = settings_.body_limit,
                          .max_header_bytes = settings_.max_header_bytes,
                          .bulk_body_limit = settings_.job_routes ? settings_.batch_body_limit : 0,
                          .bulk_path = kBatchSubmitPath};
  listener_ = std::make_unique<HttpListener>(
      HttpListenerSettings{.bind_address = settings_.bind_address,
                           .port = settings_.port,
                           .threads = settings_.threads,
                           .max_request_bytes = limits.largest() + settings_.max_header_bytes,
                           .max_response_bytes = 64 << 20});
  if (Status started = listener_->start(std::make_shared<HardenedHandler>(limits, *this));
      !started.ok()) {
    listener_.reset();
    return started;
  }
  port.store(listener_->port());
  return {};
}

void ApiServer::Impl::stop() {
  // Streams and handler threads first: their writes need the transport
  // still running.
  sse_.stop();
  handlers_.stop();
  if (listener_) {
    listener_->stop();
    listener_.reset();
  }
}

Served ApiServer::Impl::serve(const Request& request, ResponseWriter response,
                              Pistache::Tcp::Transport* transport, std::function<void()> answered) {
  std::string route_name = "other";
  Routed routed;
  bool later = false;  // the handler waits on backends: it runs on a handler thread
  const std::optional<Reply> reply = guarded(request, [&]() -> std::optional<Reply> {
    add_cors(request, response);
    routed = route(request, response, route_name);
    if (routed.route == nullptr) return std::move(routed.reply);
    if (routed.route->waits_on_backends && handlers_.enabled()) {
      later = true;
      return std::nullopt;
    }
    return run_handler(*routed.route, request, response, transport, std::move(routed.params));
  });
  if (!later) {
    answer(response, reply, route_name);
    return Served::kAnswered;
  }
  auto pending = std::make_shared<Pending>(Pending{request, std::move(response), transport,
                                                   routed.route, std::move(routed.params),
                                                   std::move(route_name), std::move(answered)});
  if (handlers_.post([this, pending] { serve_later(pending); })) return Served::kLater;
  Reply busy = error_reply(Code::Service_Unavailable, "overloaded",
                           "too many requests wait for the backends; retry shortly");
  busy.headers.emplace_back("Retry-After", "1");
  answer(pending->response, busy, pending->route_name);
  return Served::kAnswered;
}

void ApiServer::Impl::serve_later(const std::shared_ptr<Pending>& pending) {
  std::optional<Reply> reply = guarded(pending->request, [this, &pending] {
    return run_handler(*pending->route, pending->request, pending->response, pending->transport,
                       std::move(pending->params));
  });
  // Pistache 0.0.5 is safe only on the connection's reactor (see
  // reactor_task.hpp): the answer is sent there, and the connection reads
  // on from there.
  run_on_reactor(
      *pending->transport,
      [this, pending, reply = std::move(reply)] {
        answer(pending->response, reply, pending->route_name);
        pending->answered();
      },
      [pending] { pending->answered(); });
}

std::optional<Reply> ApiServer::Impl::run_handler(const ApiRoute& route, const Request& request,
                                                  ResponseWriter& response,
                                                  Pistache::Tcp::Transport* transport,
                                                  PathParams params) {
  Exchange exchange{request, response, transport, std::move(params)};
  return route.handle(exchange);
}

void ApiServer::Impl::answer(ResponseWriter& response, const std::optional<Reply>& reply,
                             const std::string& route_name) {
  if (!reply) {
    metrics_.count_request(route_name, 200);
    return;
  }
  metrics_.count_request(route_name, static_cast<int>(reply->code));
  send_reply(response, *reply);
}

ApiServer::Impl::Routed ApiServer::Impl::route(const Request& request, ResponseWriter& response,
                                               std::string& route_name) {
  const Method method = request.method();
  const std::string& resource = request.resource();
  if (method == Method::Options && !settings_.cors_origins.empty()) {
    route_name = "preflight";
    response.headers()
        .add<Pistache::Http::Header::AccessControlAllowMethods>("GET, POST, OPTIONS")
        .add<Pistache::Http::Header::AccessControlAllowHeaders>(
            "Authorization, Content-Type, Idempotency-Key");
    return {Reply{Code::No_Content, "", {{"Access-Control-Max-Age", "600"}}}};
  }
  const std::string method_name = Pistache::Http::methodString(method);
  auto match = routes_.match(method_name, resource);
  using Kind = ApiRouteTable::Match::Kind;
  const bool probe = match.kind == Kind::kFound && match.route->handler.probe;
  if (auto refused = probe ? std::nullopt : check_host(request)) return {std::move(refused)};
  if (match.kind == Kind::kMethodNotAllowed) {
    route_name = match.pattern;
    Reply refused = error_reply(Code::Method_Not_Allowed, "method_not_allowed",
                                method_name + " is not allowed on " + match.pattern);
    refused.headers.emplace_back("Allow", match.allow);
    return {std::move(refused)};
  }
  if (match.kind == Kind::kNotFound) {
    const auto segments = path_segments(resource);
    const bool api_path = !segments.empty() && segments.front() == "v1";
    if (static_files_ && method == Method::Get && !api_path) {
      route_name = "static";
      return {static_files_->serve(resource, response)};
    }
    return {error_reply(Code::Not_Found, "not_found", "no route " + resource)};
  }
  route_name = match.pattern;
  if (auto refused = check_access(request, match.route->handler.need)) return {std::move(refused)};
  return {std::nullopt, &match.route->handler, std::move(match.params)};
}

std::optional<Reply> ApiServer::Impl::check_host(const Request& request) const {
  const auto host = request.headers().tryGetRaw("Host");
  // A request without a Host (HTTP/1.0) is no browser's: rebinding needs one.
  if (!host || host_allowed(host->value(), settings_.allowed_hosts)) return std::nullopt;
  return error_reply(
      Code::Forbidden, "forbidden_host",
      "this server does not answer to the host \"" + host->value() + "\" (see --allowed-hosts)");
}

std::optional<Reply> ApiServer::Impl::check_access(const Request& request, Need need) const {
  const auto header = request.headers().tryGetRaw("Authorization");
  const Verdict verdict =
      guard_.check(need, header ? std::optional<std::string_view>(header->value()) : std::nullopt);
  switch (verdict.kind) {
    case Verdict::Kind::kAllowed:
      return std::nullopt;
    case Verdict::Kind::kUnauthenticated: {
      Reply refused = error_reply(Code::Unauthorized, "unauthorized", verdict.message);
      refused.headers.emplace_back("WWW-Authenticate", "Bearer");
      return refused;
    }
    case Verdict::Kind::kForbidden:
      return error_reply(Code::Forbidden, "forbidden", verdict.message);
    case Verdict::Kind::kUnavailable:
      spdlog::error("API keys: {}", verdict.message);
      return error_reply(Code::Service_Unavailable, "unavailable", "cannot check the API key now");
  }
  return std::nullopt;
}

void ApiServer::Impl::add_cors(const Request& request, ResponseWriter& response) const {
  if (settings_.cors_origins.empty()) return;
  const auto origin = request.headers().tryGetRaw("Origin");
  if (!origin) return;
  const std::string& value = origin->value();
  if (std::find(settings_.cors_origins.begin(), settings_.cors_origins.end(), value) ==
      settings_.cors_origins.end()) {
    return;
  }
  response.headers().add<Pistache::Http::Header::AccessControlAllowOrigin>(value);
  add_header(response, "Vary", "Origin");
  // A page may read whether its submit was a repeat.
  add_header(response, "Access-Control-Expose-Headers", "Idempotent-Replayed");
}

ApiServer::ApiServer(ApiSettings settings, JobService& jobs, StatusStore& statuses,
                     JobTypeRegistry& job_types)
    : impl_(std::make_unique<Impl>(std::move(settings), jobs, statuses, job_types)) {}

ApiServer::~ApiServer() {
  stop();
}

Status ApiServer::start() {
  return impl_->start();
}

uint16_t ApiServer::port() const noexcept {
  return impl_->port.load();
}

void ApiServer::set_ready(bool ready) noexcept {
  impl_->ready.store(ready);
}

void ApiServer::set_ready(bool ready, std::string not_ready_reason) {
  {
    std::lock_guard lock(impl_->not_ready_mutex);
    impl_->not_ready_reason = std::move(not_ready_reason);
  }
  impl_->ready.store(ready);
}

std::vector<std::string> ApiServer::routes() const {
  std::vector<std::string> listed;
  for (const auto& route : impl_->routes().routes())
    listed.push_back(route.method + " " + route.pattern);
  return listed;
}

void ApiServer::stop() {
  impl_->stop();
}

}  // namespace dtq::api
