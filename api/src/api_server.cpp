#include "dtq/api/api_server.hpp"

#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>

#include "dtq/core/ids.hpp"
#include "dtq/core/model_json.hpp"
#include "metrics.hpp"
#include "sse_hub.hpp"

namespace dtq::api {
namespace {

using Pistache::Http::Code;
using Pistache::Http::Method;
using Pistache::Http::Request;
using Pistache::Http::ResponseWriter;
using nlohmann::json;

constexpr size_t kMaxListLimit = 500;
constexpr size_t kDefaultListLimit = 50;

const Pistache::Http::Mime::MediaType& json_mime() {
  static const auto mime = Pistache::Http::Mime::MediaType::fromString("application/json");
  return mime;
}

// An answer before it is sent: the code, the JSON body, extra headers.
struct Reply {
  Code code = Code::Ok;
  std::string body;
};

Reply error_reply(Code code, std::string_view error_code, std::string_view message, json details = json::array()) {
  return {code, json{{"error", {{"code", error_code}, {"message", message}, {"details", std::move(details)}}}}.dump()};
}

Reply status_error(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
      return error_reply(Code::Bad_Request, "invalid_argument", status.message());
    case StatusCode::kNotFound:
      return error_reply(Code::Not_Found, "not_found", status.message());
    case StatusCode::kFailedPrecondition:
    case StatusCode::kAlreadyExists:
      return error_reply(Code::Conflict, "conflict", status.message());
    case StatusCode::kDeadlineExceeded:
      return error_reply(Code::Gateway_Timeout, "timeout", status.message());
    case StatusCode::kUnavailable:
      return error_reply(Code::Service_Unavailable, "unavailable", status.message());
    default:
      return error_reply(Code::Internal_Server_Error, "internal", status.message());
  }
}

// Compares in time that depends only on the expected token's length, so
// the response time says nothing about how much of a guess was right.
bool constant_time_equal(std::string_view given, std::string_view expected) {
  unsigned char diff = given.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < expected.size(); ++i) {
    const char g = i < given.size() ? given[i] : '\0';
    diff = static_cast<unsigned char>(diff | (static_cast<unsigned char>(g) ^ static_cast<unsigned char>(expected[i])));
  }
  return diff == 0;
}

std::string percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned value = 0;
    if (text[i] == '%' && i + 2 < text.size() &&
        std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16).ptr == text.data() + i + 3) {
      out.push_back(static_cast<char>(value));
      i += 2;
    } else {
      out.push_back(text[i] == '+' ? ' ' : text[i]);
    }
  }
  return out;
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  while (!path.empty()) {
    const size_t slash = path.find('/');
    const std::string_view part = path.substr(0, slash);
    if (!part.empty()) parts.push_back(part);
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return parts;
}

std::string_view mime_for(const std::filesystem::path& file) {
  const std::string ext = file.extension().string();
  if (ext == ".html") return "text/html";
  if (ext == ".js") return "text/javascript";
  if (ext == ".css") return "text/css";
  if (ext == ".json") return "application/json";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".ico") return "image/x-icon";
  return "application/octet-stream";
}

// A token bucket: `rate` per second on average, bursts up to one second's
// worth.
class RateLimiter {
 public:
  explicit RateLimiter(double rate) : rate_(rate), tokens_(std::max(rate, 1.0)) {}
  bool allow() {
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    const std::chrono::duration<double> elapsed = now - last_;
    last_ = now;
    tokens_ = std::min(std::max(rate_, 1.0), tokens_ + elapsed.count() * rate_);
    if (tokens_ < 1.0) return false;
    tokens_ -= 1.0;
    return true;
  }

 private:
  const double rate_;
  std::mutex mutex_;
  double tokens_;
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

}  // namespace

class ApiServer::Impl {
 public:
  Impl(ApiSettings settings, JobService& jobs, StatusStore& statuses, std::vector<JobTypeInfo> job_types)
      : settings_(std::move(settings)),
        jobs_(jobs),
        statuses_(statuses),
        job_types_(std::move(job_types)),
        limiter_(settings_.submit_rate_per_second),
        metrics_(statuses),
        sse_(statuses, settings_.max_sse_streams, settings_.sse_heartbeat) {}

  Status start();
  void stop();
  // `transport` is the reactor the request arrived on (SSE writes run there).
  void handle(const Request& request, ResponseWriter response, Pistache::Tcp::Transport* transport);

  std::atomic<uint16_t> port{0};
  std::atomic<bool> ready{false};

 private:
  // Pistache copies its handler per reactor thread; every copy forwards here.
  class Handler final : public Pistache::Http::Handler {
   public:
    HTTP_PROTOTYPE(Handler)
    explicit Handler(Impl* impl) : impl_(impl) {}
    void onRequest(const Request& request, ResponseWriter response) override {
      impl_->handle(request, std::move(response), transport());
    }

   private:
    Impl* impl_;
  };

  // Routing: returns the route's template for the metrics, and either a
  // reply or nothing when the route answered on its own (SSE, files).
  std::optional<Reply> route(const Request& request, ResponseWriter& response, Pistache::Tcp::Transport* transport,
                             std::string& route_name);
  std::optional<Reply> check_write(const Request& request, bool needs_json_body);
  Reply submit(const Request& request);
  Reply job(std::string_view id);
  Reply job_status(std::string_view id);
  Reply cancel(std::string_view id);
  Reply list(const Request& request);
  Reply job_type_list() const;
  std::optional<Reply> events(std::string_view id, ResponseWriter& response, Pistache::Tcp::Transport* transport);
  std::optional<Reply> static_file(std::string_view path, ResponseWriter& response);
  void add_cors(const Request& request, ResponseWriter& response) const;

  const ApiSettings settings_;
  JobService& jobs_;
  StatusStore& statuses_;
  const std::vector<JobTypeInfo> job_types_;
  RateLimiter limiter_;
  Metrics metrics_;
  SseHub sse_;
  std::unique_ptr<Pistache::Http::Endpoint> endpoint_;
};

Status ApiServer::Impl::start() {
  try {
    const Pistache::Address address(settings_.bind_address, Pistache::Port(settings_.port));
    endpoint_ = std::make_unique<Pistache::Http::Endpoint>(address);
    // Past this Pistache answers 413 itself; below it the handler answers
    // 413 in the JSON error shape for a body over body_limit.
    endpoint_->init(Pistache::Http::Endpoint::options()
                        .threads(settings_.threads)
                        .flags(Pistache::Tcp::Options::ReuseAddr)
                        .maxRequestSize(settings_.body_limit + settings_.max_header_bytes)
                        .maxResponseSize(64 << 20));
    endpoint_->setHandler(std::make_shared<Handler>(this));
    endpoint_->serveThreaded();
    port.store(static_cast<uint16_t>(endpoint_->getPort()));
  } catch (const std::exception& e) {
    endpoint_.reset();
    return unavailable("cannot listen on " + settings_.bind_address + ":" + std::to_string(settings_.port) + ": " +
                       e.what());
  }
  return {};
}

void ApiServer::Impl::stop() {
  // Streams first: their async writes need the transport still running.
  sse_.stop();
  if (endpoint_) {
    endpoint_->shutdown();
    endpoint_.reset();
  }
}

void ApiServer::Impl::handle(const Request& request, ResponseWriter response, Pistache::Tcp::Transport* transport) {
  std::string route_name = "other";
  std::optional<Reply> reply;
  try {
    add_cors(request, response);
    reply = route(request, response, transport, route_name);
  } catch (const std::exception& e) {
    spdlog::error("{} {}: {}", Pistache::Http::methodString(request.method()), request.resource(), e.what());
    reply = error_reply(Code::Internal_Server_Error, "internal", "internal error");
  }
  if (!reply) {
    metrics_.count_request(route_name, 200);
    return;
  }
  metrics_.count_request(route_name, static_cast<int>(reply->code));
  if (reply->body.empty()) {
    response.send(reply->code);
  } else {
    response.send(reply->code, reply->body, json_mime());
  }
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
  response.headers()
      .add<Pistache::Http::Header::AccessControlAllowOrigin>(value)
      .addRaw(Pistache::Http::Header::Raw("Vary", "Origin"));
}

std::optional<Reply> ApiServer::Impl::route(const Request& request, ResponseWriter& response,
                                             Pistache::Tcp::Transport* transport, std::string& route_name) {
  const std::string& resource = request.resource();
  const auto parts = split_path(resource);
  const Method method = request.method();
  const auto only = [&](Method allowed, auto&& handler) -> std::optional<Reply> {
    if (method == allowed) return handler();
    return error_reply(Code::Method_Not_Allowed, "method_not_allowed",
                       std::string(Pistache::Http::methodString(method)) + " is not allowed on " + route_name);
  };

  if (method == Method::Options && !settings_.cors_origins.empty()) {
    route_name = "preflight";
    response.headers()
        .add<Pistache::Http::Header::AccessControlAllowMethods>("GET, POST, OPTIONS")
        .add<Pistache::Http::Header::AccessControlAllowHeaders>("Authorization, Content-Type")
        .addRaw(Pistache::Http::Header::Raw("Access-Control-Max-Age", "600"));
    return Reply{Code::No_Content, ""};
  }
  if (parts.size() == 1 && parts[0] == "healthz") {
    route_name = "/healthz";
    return only(Method::Get, [] { return Reply{Code::Ok, R"({"status":"ok"})"}; });
  }
  if (parts.size() == 1 && parts[0] == "readyz") {
    route_name = "/readyz";
    return only(Method::Get, [&] {
      return ready.load() ? Reply{Code::Ok, R"({"status":"ready"})"}
                          : error_reply(Code::Service_Unavailable, "not_ready", "the worker engine is not running");
    });
  }
  if (parts.size() == 1 && parts[0] == "metrics") {
    route_name = "/metrics";
    if (method != Method::Get) return only(Method::Get, [] { return Reply{}; });
    response.send(Code::Ok, metrics_.render(),
                  Pistache::Http::Mime::MediaType::fromString("text/plain; version=0.0.4"));
    return std::nullopt;
  }
  if (!parts.empty() && parts[0] == "v1") {
    if (parts.size() == 2 && parts[1] == "job-types") {
      route_name = "/v1/job-types";
      return only(Method::Get, [&] { return job_type_list(); });
    }
    if (parts.size() == 2 && parts[1] == "jobs") {
      route_name = "/v1/jobs";
      if (method == Method::Post) return submit(request);
      return only(Method::Get, [&] { return list(request); });
    }
    if (parts.size() == 3 && parts[1] == "jobs") {
      route_name = "/v1/jobs/{id}";
      return only(Method::Get, [&] { return job(parts[2]); });
    }
    if (parts.size() == 4 && parts[1] == "jobs" && parts[3] == "status") {
      route_name = "/v1/jobs/{id}/status";
      return only(Method::Get, [&] { return job_status(parts[2]); });
    }
    if (parts.size() == 4 && parts[1] == "jobs" && parts[3] == "cancel") {
      route_name = "/v1/jobs/{id}/cancel";
      return only(Method::Post, [&]() -> std::optional<Reply> {
        if (auto refused = check_write(request, false)) return refused;
        return cancel(parts[2]);
      });
    }
    if (parts.size() == 4 && parts[1] == "jobs" && parts[3] == "events") {
      route_name = "/v1/jobs/{id}/events";
      return only(Method::Get, [&] { return events(parts[2], response, transport); });
    }
    return error_reply(Code::Not_Found, "not_found", "no route " + resource);
  }
  if (!settings_.static_dir.empty() && method == Method::Get) {
    route_name = "static";
    return static_file(resource, response);
  }
  return error_reply(Code::Not_Found, "not_found", "no route " + resource);
}

std::optional<Reply> ApiServer::Impl::check_write(const Request& request, bool needs_json_body) {
  if (!settings_.token.empty()) {
    const auto authorization = request.headers().tryGet<Pistache::Http::Header::Authorization>();
    constexpr std::string_view kBearer = "Bearer ";
    const std::string given = authorization ? authorization->value() : std::string();
    if (given.size() <= kBearer.size() || given.compare(0, kBearer.size(), kBearer) != 0 ||
        !constant_time_equal(std::string_view(given).substr(kBearer.size()), settings_.token)) {
      auto reply = error_reply(Code::Unauthorized, "unauthorized",
                               authorization ? "wrong bearer token" : "a bearer token is required");
      return reply;
    }
  }
  if (request.body().size() > settings_.body_limit) {
    return error_reply(Code::Request_Entity_Too_Large, "payload_too_large",
                       "the body is over " + std::to_string(settings_.body_limit) + " bytes");
  }
  if (needs_json_body) {
    const auto type = request.headers().tryGet<Pistache::Http::Header::ContentType>();
    if (!type || type->mime() != json_mime()) {
      return error_reply(Code::Unsupported_Media_Type, "unsupported_media_type",
                         "the body must be application/json");
    }
  }
  return std::nullopt;
}

Reply ApiServer::Impl::submit(const Request& request) {
  if (auto refused = check_write(request, true)) return *refused;
  if (!limiter_.allow()) {
    return error_reply(Code::Too_Many_Requests, "rate_limited", "over the submit rate; retry shortly");
  }
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (const auto error = parser.parse(simdjson::padded_string(request.body())).get(root); error) {
    return error_reply(Code::Bad_Request, "malformed_json", std::string("malformed JSON: ") +
                                                                simdjson::error_message(error));
  }
  json details = json::array();
  std::string_view job_type;
  simdjson::dom::element payload;
  if (!root.is_object()) {
    details.push_back({{"field", ""}, {"message", "the body must be a JSON object"}});
  } else {
    if (root["job_type"].get(job_type) != simdjson::SUCCESS) {
      details.push_back({{"field", "/job_type"}, {"message", "required, a string"}});
    }
    if (root["payload"].get(payload) != simdjson::SUCCESS || !payload.is_object()) {
      details.push_back({{"field", "/payload"}, {"message", "required, a JSON object"}});
    }
  }
  if (!details.empty()) {
    return error_reply(Code::Bad_Request, "invalid_request", "the body must be {job_type, payload}",
                       std::move(details));
  }
  SubmittedJob submitted;
  SubmitError refused;
  if (!jobs_.submit(job_type, simdjson::minify(payload), submitted, refused)) {
    if (refused.status.code() == StatusCode::kNotFound) {
      return error_reply(Code::Not_Found, "unknown_job_type", refused.status.message());
    }
    if (refused.status.code() == StatusCode::kInvalidArgument) {
      for (const auto& field : refused.field_errors) {
        details.push_back({{"field", field.field}, {"message", field.message}});
      }
      return error_reply(Code::Bad_Request, "invalid_payload", refused.status.message(), std::move(details));
    }
    return status_error(refused.status);
  }
  return Reply{Code::Accepted, json{{"job_id", submitted.job_id},
                                    {"trace_id", submitted.trace_id},
                                    {"status_url", "/v1/jobs/" + submitted.job_id + "/status"},
                                    {"events_url", "/v1/jobs/" + submitted.job_id + "/events"}}
                                   .dump()};
}

Reply ApiServer::Impl::job_status(std::string_view id) {
  if (!is_uuid(id)) return error_reply(Code::Bad_Request, "malformed_id", "malformed job id");
  auto status = jobs_.status(id);
  if (!status.ok()) {
    if (status.status().code() == StatusCode::kNotFound) {
      return error_reply(Code::Not_Found, "unknown_job", status.status().message());
    }
    return status_error(status.status());
  }
  return Reply{Code::Ok, to_json(*status)};
}

Reply ApiServer::Impl::job(std::string_view id) {
  Reply status = job_status(id);
  if (status.code != Code::Ok) return status;
  std::string body = "{\"job_id\":\"" + std::string(id) + "\",\"status\":" + status.body;
  // A result exists only once the job ended; its absence is not an error.
  if (auto result = jobs_.result(id); result.ok()) body += ",\"result\":" + to_json(*result);
  return Reply{Code::Ok, body + "}"};
}

Reply ApiServer::Impl::cancel(std::string_view id) {
  if (!is_uuid(id)) return error_reply(Code::Bad_Request, "malformed_id", "malformed job id");
  auto cancelled = jobs_.cancel(id);
  if (!cancelled.ok()) {
    if (cancelled.status().code() == StatusCode::kNotFound) {
      return error_reply(Code::Not_Found, "unknown_job", cancelled.status().message());
    }
    return status_error(cancelled.status());
  }
  return Reply{Code::Ok, to_json(*cancelled)};
}

Reply ApiServer::Impl::list(const Request& request) {
  const auto& query = request.query();
  StatusListQuery list_query;
  list_query.limit = kDefaultListLimit;
  if (auto state = query.get("state"); state && !state->empty()) {
    list_query.state = parse_job_state(percent_decode(*state));
    if (!list_query.state) {
      return error_reply(Code::Bad_Request, "invalid_argument", "unknown state",
                         json::array({{{"field", "state"},
                                       {"message", "one of queued, running, completed, failed, cancelled"}}}));
    }
  }
  if (auto type = query.get("job_type")) list_query.job_type = percent_decode(*type);
  if (auto cursor = query.get("cursor")) list_query.cursor = percent_decode(*cursor);
  if (auto limit = query.get("limit"); limit && !limit->empty()) {
    size_t value = 0;
    const auto [end, error] = std::from_chars(limit->data(), limit->data() + limit->size(), value);
    if (error != std::errc() || end != limit->data() + limit->size() || value == 0 || value > kMaxListLimit) {
      return error_reply(Code::Bad_Request, "invalid_argument", "bad limit",
                         json::array({{{"field", "limit"},
                                       {"message", "an integer from 1 to " + std::to_string(kMaxListLimit)}}}));
    }
    list_query.limit = value;
  }
  auto page = statuses_.list(list_query);
  if (!page.ok()) return status_error(page.status());
  std::string body = "{\"jobs\":[";
  for (size_t i = 0; i < page->statuses.size(); ++i) {
    if (i != 0) body += ',';
    body += to_json(page->statuses[i]);
  }
  body += "],\"next_cursor\":";
  body += page->next_cursor.empty() ? std::string("null") : json(page->next_cursor).dump();
  return Reply{Code::Ok, body + "}"};
}

Reply ApiServer::Impl::job_type_list() const {
  json types = json::array();
  for (const auto& info : job_types_) {
    json schema = json::parse(info.payload_schema_json, nullptr, false);
    types.push_back({{"job_type", info.job_type},
                     {"name", info.name},
                     {"version", info.version},
                     {"description", info.description},
                     {"payload_schema", schema.is_discarded() ? json::object() : std::move(schema)},
                     {"abi_version", info.abi_version},
                     {"concurrency", info.concurrency}});
  }
  return Reply{Code::Ok, json{{"job_types", std::move(types)}}.dump()};
}

std::optional<Reply> ApiServer::Impl::events(std::string_view id, ResponseWriter& response,
                                              Pistache::Tcp::Transport* transport) {
  if (!is_uuid(id)) return error_reply(Code::Bad_Request, "malformed_id", "malformed job id");
  auto snapshot = jobs_.status(id);
  if (!snapshot.ok()) {
    if (snapshot.status().code() == StatusCode::kNotFound) {
      return error_reply(Code::Not_Found, "unknown_job", snapshot.status().message());
    }
    return status_error(snapshot.status());
  }
  if (!sse_.reserve()) {
    return error_reply(Code::Too_Many_Requests, "too_many_streams", "too many open event streams; retry later");
  }
  std::weak_ptr<Pistache::Tcp::Peer> peer;
  try {
    peer = response.peer();
  } catch (const std::exception&) {
    sse_.release();  // the client is already gone
    return std::nullopt;
  }
  response.setMime(Pistache::Http::Mime::MediaType::fromString("text/event-stream"));
  response.headers().add<Pistache::Http::Header::CacheControl>(Pistache::Http::CacheDirective::NoCache);
  sse_.open(response.stream(Code::Ok), std::move(peer), transport, std::move(snapshot).value());
  return std::nullopt;
}

std::optional<Reply> ApiServer::Impl::static_file(std::string_view path, ResponseWriter& response) {
  namespace fs = std::filesystem;
  std::error_code error;
  const fs::path root = fs::weakly_canonical(settings_.static_dir, error);
  fs::path file = fs::weakly_canonical(root / fs::path(percent_decode(path)).relative_path(), error);
  // Nothing outside the UI folder, however the path is spelled.
  const auto [root_end, file_it] = std::mismatch(root.begin(), root.end(), file.begin(), file.end());
  if (error || root_end != root.end()) return error_reply(Code::Not_Found, "not_found", "no such file");
  if (fs::is_directory(file, error)) file /= "index.html";
  // A client-side route of the single-page UI gets the page itself.
  if (!fs::is_regular_file(file, error)) file = root / "index.html";
  if (!fs::is_regular_file(file, error)) return error_reply(Code::Not_Found, "not_found", "no such file");
  Pistache::Http::serveFile(response, file.string(),
                            Pistache::Http::Mime::MediaType::fromString(std::string(mime_for(file))));
  return std::nullopt;
}

ApiServer::ApiServer(ApiSettings settings, JobService& jobs, StatusStore& statuses, std::vector<JobTypeInfo> job_types)
    : impl_(std::make_unique<Impl>(std::move(settings), jobs, statuses, std::move(job_types))) {}

ApiServer::~ApiServer() { stop(); }

Status ApiServer::start() { return impl_->start(); }

uint16_t ApiServer::port() const noexcept { return impl_->port.load(); }

void ApiServer::set_ready(bool ready) noexcept { impl_->ready.store(ready); }

void ApiServer::stop() { impl_->stop(); }

}  // namespace dtq::api
