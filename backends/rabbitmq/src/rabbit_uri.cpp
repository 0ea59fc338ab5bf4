#include "dtq/rabbitmq/rabbit_uri.hpp"

#include "dtq/core/server_uri.hpp"
#include "dtq/core/uri.hpp"

namespace dtq::rabbitmq {

StatusOr<RabbitSettings> parse_uri(std::string_view uri) {
  constexpr std::string_view kForm = "amqp://USER:PASS@HOST:PORT/VHOST";
  RabbitSettings settings;
  auto parts = parse_server_uri(uri, settings.port, kForm);
  if (!parts.ok()) return parts.status();
  if (parts->scheme == "amqps")
    return uri_error(uri, "asks for TLS, which is not wired yet", kForm);
  if (parts->scheme != "amqp") return uri_error(uri, "is not an amqp:// URI", kForm);
  if (!parts->query.empty())
    return uri_error(uri, "has options (?...), which are not supported", kForm);
  settings.host = parts->address.host;
  settings.port = parts->address.port;
  if (!parts->user.empty()) settings.username = parts->user;
  if (parts->password) settings.password = *parts->password;
  if (parts->path && !parts->path->empty()) settings.vhost = percent_decode(*parts->path);
  if (Status valid = settings.validate(); !valid.ok())
    return uri_error(uri, valid.message(), kForm);
  return settings;
}

}  // namespace dtq::rabbitmq
