#include "dtq/api/api_server.hpp"

#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <pistache/peer.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <filesystem>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>
#include <vector>

#include "dtq/core/ids.hpp"
#include "dtq/core/model_json.hpp"
#include "metrics.hpp"
#include "plugin_health.hpp"
#include "sse_hub.hpp"
#include "write_guard.hpp"

namespace dtq::api {
namespace {

using nlohmann::json;
using Pistache::Http::Code;
using Pistache::Http::Method;
using Pistache::Http::Request;
using Pistache::Http::ResponseWriter;

const Pistache::Http::Mime::MediaType& json_mime() {
  static const auto mime = Pistache::Http::Mime::MediaType::fromString("application/json");
  return mime;
}

// An answer before it is sent: the code, the JSON body, extra headers.
struct Reply {
  Code code = Code::Ok;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers = {};
};

// A response header by name. Pistache 0.0.5 writes only typed headers into
// a response, never raw ones (addRaw is silently dropped).
class NamedHeader final : public Pistache::Http::Header::Header {
 public:
  NamedHeader(std::string name, std::string value)
      : name_(std::move(name)), value_(std::move(value)) {}
  const char* name() const override { return name_.c_str(); }
  void write(std::ostream& out) const override { out << value_; }
  uint64_t hash() const override { return Pistache::Http::Header::detail::hash(name_.c_str()); }

 private:
  std::string name_;
  std::string value_;
};

void add_header(ResponseWriter& response, std::string name, std::string value) {
  response.headers().add(std::make_shared<NamedHeader>(std::move(name), std::move(value)));
}

// Text that came from the client (a path, a cursor) may be invalid UTF-8;
// it is replaced, never a reason to throw.
std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

Reply error_reply(Code code, std::string_view error_code, std::string_view message,
                  json details = json::array()) {
  return {
      code,
      dump(json{{"error",
                 {{"code", error_code}, {"message", message}, {"details", std::move(details)}}}})};
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

// A failed lookup of one job: NotFound is the job's, anything else as above.
Reply job_error(const Status& status) {
  if (status.code() == StatusCode::kNotFound) {
    return error_reply(Code::Not_Found, "unknown_job", status.message());
  }
  return status_error(status);
}

std::string percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned value = 0;
    if (text[i] == '%' && i + 2 < text.size() &&
        std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16).ptr ==
            text.data() + i + 3) {
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

}  // namespace

class ApiServer::Impl {
 public:
  Impl(ApiSettings settings, JobService& jobs, StatusStore& statuses, JobTypeRegistry& job_types)
      : settings_(std::move(settings)),
        jobs_(jobs),
        statuses_(statuses),
        job_types_(job_types),
        limiter_(settings_.submit_rate_per_second),
        metrics_(statuses),
        sse_(statuses, settings_.max_sse_streams, settings_.sse_heartbeat) {}

  Status start();
  void stop();
  // `transport` is the reactor the request arrived on (SSE writes run there).
  void handle(const Request& request, ResponseWriter response, Pistache::Tcp::Transport* transport);

  std::atomic<uint16_t> port{0};
  std::atomic<bool> ready{false};
  std::mutex not_ready_mutex;
  std::string not_ready_reason = "the worker engine is not running";

 private:
  // Pistache copies its handler per reactor thread; every copy forwards here.
  //
  // It also takes over Pistache's reading of requests (onConnection and
  // onInput, the same steps through Pistache's own parser), because Pistache
  // 0.0.5 answers a header it cannot parse (a negative Content-Length, a
  // bad Host port, Date or Cookie) with a 500 carrying the exception's text,
  // answers its other refusals in plain text, has no limit on the size of a
  // request's head, and closes HTTP/1.1 connections unless asked to keep
  // them. Here every refusal is a 4xx in the JSON error shape, the head is
  // limited (431), a declared body over the limit is refused before it is
  // read (413), and HTTP/1.1 keeps the connection open by default.
  class Handler final : public Pistache::Http::Handler {
   public:
    HTTP_PROTOTYPE(Handler)
    explicit Handler(Impl* impl) : impl_(impl) {}
    void onRequest(const Request& request, ResponseWriter response) override {
      impl_->handle(request, std::move(response), transport());
    }

   private:
    // What this handler keeps per connection, beside Pistache's parser.
    struct Connection {
      size_t head_bytes = 0;  // bytes of the current request's head so far
      bool closing = false;   // refused: the rest of the input is dropped
    };
    static constexpr const char* kConnectionData = "dtq.connection";

    void onConnection(const std::shared_ptr<Pistache::Tcp::Peer>& peer) override;
    void onInput(const char* buffer, size_t length,
                 const std::shared_ptr<Pistache::Tcp::Peer>& peer) override;
    // Answers `reply` and ends the connection: the stream may be out of step
    // (an unread body, a broken head), so nothing more is read from it.
    void refuse(const std::shared_ptr<Pistache::Tcp::Peer>& peer, Connection& connection,
                Pistache::Http::Version version, const Reply& reply);

    Impl* impl_;
  };

  // Routing: returns the route's template for the metrics, and either a
  // reply or nothing when the route answered on its own (SSE, files).
  std::optional<Reply> route(const Request& request, ResponseWriter& response,
                             Pistache::Tcp::Transport* transport, std::string& route_name);
  std::optional<Reply> check_write(const Request& request, bool needs_json_body);
  Reply submit(const Request& request);
  Reply job(std::string_view id);
  Reply job_status(std::string_view id);
  Reply cancel(std::string_view id);
  Reply list(const Request& request);
  Reply job_type_list() const;
  // Ready; "degraded", still 200, naming the job types whose plugin runners
  // keep crashing: the rest of the node serves, and a balancer must not
  // take it all out for one plugin.
  Reply readiness() const;
  std::optional<Reply> events(std::string_view id, ResponseWriter& response,
                              Pistache::Tcp::Transport* transport);
  std::optional<Reply> all_events(const Request& request, ResponseWriter& response,
                                  Pistache::Tcp::Transport* transport);
  using OpenStream =
      std::function<void(Pistache::Http::ResponseStream, std::weak_ptr<Pistache::Tcp::Peer>)>;
  // Claims a stream slot, starts the SSE response and hands it to `open`;
  // the refusal when at the limit (nothing when the client is gone).
  std::optional<Reply> start_stream(ResponseWriter& response, const OpenStream& open);
  std::optional<Reply> static_file(std::string_view path, ResponseWriter& response);
  void add_cors(const Request& request, ResponseWriter& response) const;

  const ApiSettings settings_;
  JobService& jobs_;
  StatusStore& statuses_;
  JobTypeRegistry& job_types_;
  RateLimiter limiter_;
  Metrics metrics_;
  SseHub sse_;
  std::unique_ptr<Pistache::Http::Endpoint> endpoint_;
};

void ApiServer::Impl::Handler::onConnection(const std::shared_ptr<Pistache::Tcp::Peer>& peer) {
  peer->putData(ParserData, std::make_shared<Pistache::Http::RequestParser>(getMaxRequestSize()));
  peer->putData(kConnectionData, std::make_shared<Connection>());
}

void ApiServer::Impl::Handler::onInput(const char* buffer, size_t length,
                                       const std::shared_ptr<Pistache::Tcp::Peer>& peer) {
  using Pistache::Http::Private::BodyStep;
  using Pistache::Http::Private::State;
  const auto parser = getParser(peer);
  const auto connection = std::static_pointer_cast<Connection>(peer->tryGetData(kConnectionData));
  if (!parser || !connection || connection->closing) return;
  Pistache::Http::Request& request = parser->request;
  const ApiSettings& settings = impl_->settings_;
  const auto too_large = [&] {
    return error_reply(Code::Request_Entity_Too_Large, "payload_too_large",
                       "the body is over " + std::to_string(settings.body_limit) + " bytes");
  };
  const auto head_too_large = [&] {
    return error_reply(Code::Request_Header_Fields_Too_Large, "headers_too_large",
                       "the request line and headers are over " +
                           std::to_string(settings.max_header_bytes) + " bytes");
  };
  // Content-Length must be digits (Pistache reads "-5" as 2^64 - 5): one
  // server and a proxy in front must never disagree on where a body ends.
  const auto bad_length = [&] {
    const auto raw = request.headers().tryGetRaw("Content-Length");
    if (!raw) return false;
    const std::string& value = raw->value();
    return value.empty() || value.size() > 19 ||
           !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  const auto bad_length_reply = [] {
    return error_reply(Code::Bad_Request, "bad_request",
                       "malformed request: Content-Length is not a number");
  };
  // A Content-Length already parsed that says the body is over the limit.
  const auto declared_too_large = [&] {
    const auto declared = request.headers().tryGet<Pistache::Http::Header::ContentLength>();
    return declared && declared->value() > settings.body_limit;
  };
  try {
    const bool in_head = parser->step()->id() != BodyStep::Id;
    if (!parser->feed(buffer, length)) {
      return refuse(peer, *connection, request.version(), in_head ? head_too_large() : too_large());
    }
    if (in_head) connection->head_bytes += length;
    if (parser->parse() != State::Done) {
      if (parser->step()->id() != BodyStep::Id) {
        if (connection->head_bytes > settings.max_header_bytes) {
          refuse(peer, *connection, request.version(), head_too_large());
        }
      } else if (bad_length()) {
        refuse(peer, *connection, request.version(), bad_length_reply());
      } else if (declared_too_large()) {
        refuse(peer, *connection, request.version(), too_large());
      }
      return;
    }
    if (bad_length()) return refuse(peer, *connection, request.version(), bad_length_reply());
    // The whole head is known now: the limit is on what it holds, however
    // it arrived.
    size_t head = request.resource().size() + request.query().as_str().size() + 16;
    for (const auto& [name, raw] : request.headers().rawList())
      head += name.size() + raw.value().size() + 4;
    if (head > settings.max_header_bytes)
      return refuse(peer, *connection, request.version(), head_too_large());

    ResponseWriter response(request.version(), transport(), this, peer);
    request.copyAddress(peer->address());
    // HTTP/1.1 keeps the connection unless told otherwise (RFC 9112 §9.3).
    using Pistache::Http::ConnectionControl;
    const auto asked = request.headers().tryGet<Pistache::Http::Header::Connection>();
    ConnectionControl control = request.version() == Pistache::Http::Version::Http11
                                    ? ConnectionControl::KeepAlive
                                    : ConnectionControl::Close;
    if (asked && asked->control() != ConnectionControl::Ext) control = asked->control();
    response.headers().add<Pistache::Http::Header::Connection>(control);
    peer->setIdle(false);
    connection->head_bytes = 0;
    onRequest(request, std::move(response));
    parser->reset();
  } catch (const Pistache::Http::HttpError& error) {
    // The parser's own refusals: 400 for a broken request line or chunk,
    // 415 for a media type it cannot read, 501 for a transfer coding it
    // does not know.
    const int code =
        error.code() >= 400 && error.code() < 600 && error.code() != 500 ? error.code() : 400;
    std::string error_code = "bad_request";
    if (code == 415) error_code = "unsupported_media_type";
    if (code == 501) error_code = "not_implemented";
    refuse(
        peer, *connection, request.version(),
        error_reply(static_cast<Code>(code), error_code, "malformed request: " + error.reason()));
  } catch (const std::exception& error) {
    // A header value Pistache could not read (Content-Length, Host, Date,
    // Cookie, Cache-Control...): the client's mistake, never a 500.
    Reply reply = bad_length() ? bad_length_reply()
                  : declared_too_large()
                      ? too_large()
                      : error_reply(Code::Bad_Request, "bad_request",
                                    std::string("malformed request: ") + error.what());
    refuse(peer, *connection, request.version(), reply);
  }
}

void ApiServer::Impl::Handler::refuse(const std::shared_ptr<Pistache::Tcp::Peer>& peer,
                                      Connection& connection, Pistache::Http::Version version,
                                      const Reply& reply) {
  connection.closing = true;
  getParser(peer)->reset();
  impl_->metrics_.count_request("malformed", static_cast<int>(reply.code));
  ResponseWriter response(version, transport(), this, peer);
  response.headers().add<Pistache::Http::Header::Connection>(
      Pistache::Http::ConnectionControl::Close);
  // Half-close once the answer is out: the client reads it, then sees the
  // end; whatever it still sends is dropped until it hangs up. (The write
  // resolves on this reactor, and only while the peer is registered, so
  // the descriptor is still this connection's.)
  std::weak_ptr<Pistache::Tcp::Peer> weak = peer;
  response.send(reply.code, reply.body, json_mime())
      .then(
          [weak](ssize_t) {
            if (const auto alive = weak.lock()) ::shutdown(alive->fd(), SHUT_WR);
          },
          Pistache::Async::IgnoreException);
}

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
    return unavailable("cannot listen on " + settings_.bind_address + ":" +
                       std::to_string(settings_.port) + ": " + e.what());
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

void ApiServer::Impl::handle(const Request& request, ResponseWriter response,
                             Pistache::Tcp::Transport* transport) {
  std::string route_name = "other";
  std::optional<Reply> reply;
  try {
    add_cors(request, response);
    reply = route(request, response, transport, route_name);
  } catch (const std::exception& e) {
    spdlog::error("{} {}: {}", Pistache::Http::methodString(request.method()), request.resource(),
                  e.what());
    reply = error_reply(Code::Internal_Server_Error, "internal", "internal error");
  }
  if (!reply) {
    metrics_.count_request(route_name, 200);
    return;
  }
  metrics_.count_request(route_name, static_cast<int>(reply->code));
  for (const auto& [name, value] : reply->headers) add_header(response, name, value);
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
  response.headers().add<Pistache::Http::Header::AccessControlAllowOrigin>(value);
  add_header(response, "Vary", "Origin");
}

std::optional<Reply> ApiServer::Impl::route(const Request& request, ResponseWriter& response,
                                            Pistache::Tcp::Transport* transport,
                                            std::string& route_name) {
  const std::string& resource = request.resource();
  const auto parts = split_path(resource);
  const Method method = request.method();
  const auto only = [&](Method allowed, auto&& handler) -> std::optional<Reply> {
    if (method == allowed) return handler();
    Reply refused = error_reply(
        Code::Method_Not_Allowed, "method_not_allowed",
        std::string(Pistache::Http::methodString(method)) + " is not allowed on " + route_name);
    refused.headers.emplace_back("Allow", Pistache::Http::methodString(allowed));
    return refused;
  };

  if (method == Method::Options && !settings_.cors_origins.empty()) {
    route_name = "preflight";
    response.headers()
        .add<Pistache::Http::Header::AccessControlAllowMethods>("GET, POST, OPTIONS")
        .add<Pistache::Http::Header::AccessControlAllowHeaders>("Authorization, Content-Type");
    return Reply{Code::No_Content, "", {{"Access-Control-Max-Age", "600"}}};
  }
  if (parts.size() == 1 && parts[0] == "healthz") {
    route_name = "/healthz";
    return only(Method::Get, [] { return Reply{Code::Ok, R"({"status":"ok"})"}; });
  }
  if (parts.size() == 1 && parts[0] == "readyz") {
    route_name = "/readyz";
    return only(Method::Get, [&] {
      if (ready.load()) return readiness();
      std::lock_guard lock(not_ready_mutex);
      return error_reply(Code::Service_Unavailable, "not_ready", not_ready_reason);
    });
  }
  if (parts.size() == 1 && parts[0] == "metrics") {
    route_name = "/metrics";
    if (method != Method::Get) return only(Method::Get, [] { return Reply{}; });
    if (auto listed = job_types_.list(); listed.ok()) metrics_.set_plugin_health(*listed);
    response.send(Code::Ok, metrics_.render(),
                  Pistache::Http::Mime::MediaType::fromString("text/plain; version=0.0.4"));
    return std::nullopt;
  }
  if (!parts.empty() && parts[0] == "v1") {
    if (parts.size() == 2 && parts[1] == "events") {
      route_name = "/v1/events";
      return only(Method::Get, [&] { return all_events(request, response, transport); });
    }
    if (parts.size() == 2 && parts[1] == "job-types") {
      route_name = "/v1/job-types";
      return only(Method::Get, [&] { return job_type_list(); });
    }
    if (parts.size() == 2 && parts[1] == "jobs") {
      route_name = "/v1/jobs";
      if (method == Method::Post) return submit(request);
      auto reply = only(Method::Get, [&] { return list(request); });
      if (reply->code == Code::Method_Not_Allowed) reply->headers = {{"Allow", "GET, POST"}};
      return reply;
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
    if (!bearer_matches(authorization ? authorization->value() : std::string(), settings_.token)) {
      Reply refused =
          error_reply(Code::Unauthorized, "unauthorized",
                      authorization ? "wrong bearer token" : "a bearer token is required");
      refused.headers.emplace_back("WWW-Authenticate", "Bearer");
      return refused;
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
    return error_reply(Code::Too_Many_Requests, "rate_limited",
                       "over the submit rate; retry shortly");
  }
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (const auto error = parser.parse(simdjson::padded_string(request.body())).get(root); error) {
    return error_reply(Code::Bad_Request, "malformed_json",
                       std::string("malformed JSON: ") + simdjson::error_message(error));
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
      return error_reply(Code::Bad_Request, "invalid_payload", refused.status.message(),
                         std::move(details));
    }
    return status_error(refused.status);
  }
  return Reply{Code::Accepted,
               dump(json{{"job_id", submitted.job_id},
                         {"trace_id", submitted.trace_id},
                         {"status_url", "/v1/jobs/" + submitted.job_id + "/status"},
                         {"events_url", "/v1/jobs/" + submitted.job_id + "/events"}})};
}

Reply ApiServer::Impl::job_status(std::string_view id) {
  if (!is_uuid(id)) return error_reply(Code::Bad_Request, "malformed_id", "malformed job id");
  auto status = jobs_.status(id);
  if (!status.ok()) return job_error(status.status());
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
  if (!cancelled.ok()) return job_error(cancelled.status());
  return Reply{Code::Ok, to_json(*cancelled)};
}

namespace {

// The state= filter of a list or a stream (none when absent or empty); an
// error reply for a value that is not a state.
std::optional<Reply> read_state_filter(const Pistache::Http::Uri::Query& query,
                                       std::optional<JobState>& state) {
  const auto given = query.get("state");
  if (!given || given->empty()) return std::nullopt;
  state = parse_job_state(percent_decode(*given));
  if (state) return std::nullopt;
  return error_reply(
      Code::Bad_Request, "invalid_argument", "unknown state",
      json::array({{{"field", "state"},
                    {"message", "one of queued, running, completed, failed, cancelled"}}}));
}

}  // namespace

Reply ApiServer::Impl::list(const Request& request) {
  const auto& query = request.query();
  StatusListQuery list_query;
  list_query.limit = kDefaultListLimit;
  if (auto refused = read_state_filter(query, list_query.state)) return *refused;
  if (auto type = query.get("job_type")) list_query.job_type = percent_decode(*type);
  if (auto cursor = query.get("cursor")) list_query.cursor = percent_decode(*cursor);
  if (auto limit = query.get("limit"); limit && !limit->empty()) {
    size_t value = 0;
    const auto [end, error] = std::from_chars(limit->data(), limit->data() + limit->size(), value);
    if (error != std::errc() || end != limit->data() + limit->size() || value == 0 ||
        value > kMaxListLimit) {
      return error_reply(
          Code::Bad_Request, "invalid_argument", "bad limit",
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
  body += page->next_cursor.empty() ? std::string("null") : dump(json(page->next_cursor));
  return Reply{Code::Ok, body + "}"};
}

Reply ApiServer::Impl::readiness() const {
  auto listed = job_types_.list();
  return Reply{Code::Ok, readiness_body(listed.ok() ? *listed : std::vector<JobTypeInfo>{})};
}

Reply ApiServer::Impl::job_type_list() const {
  auto listed = job_types_.list();
  if (!listed.ok()) return status_error(listed.status());
  // ordered_json: the schema's properties keep the plugin's order, which is
  // the order a generated form shows its fields in.
  using ordered = nlohmann::ordered_json;
  ordered types = ordered::array();
  for (const auto& info : *listed) {
    ordered schema = ordered::parse(info.payload_schema_json, nullptr, false);
    types.push_back(
        {{"job_type", info.job_type},
         {"name", info.name},
         {"version", info.version},
         {"description", info.description},
         {"payload_schema", schema.is_discarded() ? ordered::object() : std::move(schema)},
         {"abi_version", info.abi_version},
         {"concurrency", info.concurrency},
         {"pools", info.pools},
         {"in_flight", info.in_flight},
         {"isolation", info.isolation},
         {"runner_crashes", info.runner_crashes},
         {"crash_looping", info.crash_looping},
         {"last_crash", info.last_crash}});
  }
  const ordered body = {{"job_types", std::move(types)}};
  return Reply{Code::Ok, body.dump(-1, ' ', false, ordered::error_handler_t::replace)};
}

std::optional<Reply> ApiServer::Impl::events(std::string_view id, ResponseWriter& response,
                                             Pistache::Tcp::Transport* transport) {
  if (!is_uuid(id)) return error_reply(Code::Bad_Request, "malformed_id", "malformed job id");
  auto snapshot = jobs_.status(id);
  if (!snapshot.ok()) return job_error(snapshot.status());
  return start_stream(response, [&](auto stream, auto peer) {
    sse_.open(std::move(stream), std::move(peer), transport, std::move(snapshot).value());
  });
}

std::optional<Reply> ApiServer::Impl::all_events(const Request& request, ResponseWriter& response,
                                                 Pistache::Tcp::Transport* transport) {
  const auto& query = request.query();
  SseHub::Filter filter;
  if (auto refused = read_state_filter(query, filter.state)) return refused;
  if (auto type = query.get("job_type")) filter.job_type = percent_decode(*type);
  return start_stream(response, [&](auto stream, auto peer) {
    sse_.open_all(std::move(stream), std::move(peer), transport, std::move(filter));
  });
}

std::optional<Reply> ApiServer::Impl::start_stream(ResponseWriter& response,
                                                   const OpenStream& open) {
  if (!sse_.reserve()) {
    return error_reply(Code::Too_Many_Requests, "too_many_streams",
                       "too many open event streams; retry later");
  }
  std::weak_ptr<Pistache::Tcp::Peer> peer;
  try {
    peer = response.peer();
  } catch (const std::exception&) {
    sse_.release();  // the client is already gone
    return std::nullopt;
  }
  response.setMime(Pistache::Http::Mime::MediaType::fromString("text/event-stream"));
  response.headers().add<Pistache::Http::Header::CacheControl>(
      Pistache::Http::CacheDirective::NoCache);
  open(response.stream(Code::Ok), std::move(peer));
  return std::nullopt;
}

std::optional<Reply> ApiServer::Impl::static_file(std::string_view path, ResponseWriter& response) {
  namespace fs = std::filesystem;
  std::error_code error;
  const fs::path root = fs::weakly_canonical(settings_.static_dir, error);
  fs::path file =
      fs::weakly_canonical(root / fs::path(percent_decode(path)).relative_path(), error);
  // Nothing outside the UI folder, however the path is spelled.
  const auto [root_end, file_it] =
      std::mismatch(root.begin(), root.end(), file.begin(), file.end());
  if (error || root_end != root.end())
    return error_reply(Code::Not_Found, "not_found", "no such file");
  if (fs::is_directory(file, error)) file /= "index.html";
  // A client-side route of the single-page UI gets the page itself.
  if (!fs::is_regular_file(file, error)) file = root / "index.html";
  if (!fs::is_regular_file(file, error))
    return error_reply(Code::Not_Found, "not_found", "no such file");
  Pistache::Http::serveFile(
      response, file.string(),
      Pistache::Http::Mime::MediaType::fromString(std::string(mime_for(file))));
  return std::nullopt;
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

void ApiServer::stop() {
  impl_->stop();
}

}  // namespace dtq::api
