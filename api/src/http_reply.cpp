#include "http_reply.hpp"

#include <memory>

namespace dtq::api {
namespace {

using Pistache::Http::Code;

// A response header by name (see add_header).
class NamedHeader final : public Pistache::Http::Header::Header {
 public:
  NamedHeader(std::string name, std::string value)
      : name_(std::move(name)), value_(std::move(value)) {}
  [[nodiscard]] const char* name() const override { return name_.c_str(); }
  void write(std::ostream& out) const override { out << value_; }
  [[nodiscard]] uint64_t hash() const override {
    return Pistache::Http::Header::detail::hash(name_.c_str());
  }

 private:
  std::string name_;
  std::string value_;
};

}  // namespace

const Pistache::Http::Mime::MediaType& json_mime() {
  static const auto mime = Pistache::Http::Mime::MediaType::fromString("application/json");
  return mime;
}

void add_header(Pistache::Http::ResponseWriter& response, std::string name, std::string value) {
  response.headers().add(std::make_shared<NamedHeader>(std::move(name), std::move(value)));
}

void send_reply(Pistache::Http::ResponseWriter& response, const Reply& reply) {
  for (const auto& [name, value] : reply.headers) add_header(response, name, value);
  if (reply.body.empty()) {
    response.send(reply.code);
  } else {
    response.send(reply.code, reply.body, json_mime());
  }
}

std::string dump(const nlohmann::ordered_json& value) {
  return value.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

Reply error_reply(Code code, std::string_view error_code, std::string_view message,
                  nlohmann::ordered_json details) {
  return {code,
          dump({{"error",
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

Reply job_error(const Status& status) {
  if (status.code() == StatusCode::kNotFound) {
    return error_reply(Code::Not_Found, "unknown_job", status.message());
  }
  return status_error(status);
}

}  // namespace dtq::api
