#include "dtq/rabbitmq/rabbit_uri.hpp"

#include "dtq/core/server_uri.hpp"
#include "dtq/core/uri.hpp"

namespace dtq::rabbitmq {
namespace {

constexpr std::string_view kForm =
    "amqp://USER:PASS@HOST:PORT/VHOST or amqps://USER:PASS@HOST:PORT/VHOST?cacertfile=PATH";

// The TLS options of an amqps:// URI's query into `settings`; InvalidArgument
// (quoting the URI, password hidden) on an unknown option or value.
Status read_tls_options(std::string_view uri, std::string_view query, RabbitSettings& settings) {
  for (const auto& option : query_options(query)) {
    const std::string& name = option.name;
    const std::string value = option.value.value_or("");
    if (name == "cacertfile" || name == "certfile" || name == "keyfile") {
      if (value.empty()) return uri_error(uri, "has an empty " + name, kForm);
      if (name == "cacertfile") {
        settings.tls_ca_file = value;
      } else if (name == "certfile") {
        settings.tls_cert_file = value;
      } else {
        settings.tls_key_file = value;
      }
    } else if (name == "verify") {
      if (value != "verify_peer" && value != "verify_none")
        return uri_error(uri, "has verify=" + value + " (verify_peer or verify_none)", kForm);
      settings.tls_verify = value == "verify_peer";
    } else {
      return uri_error(
          uri, "has an unknown option " + name + " (known: cacertfile, certfile, keyfile, verify)",
          kForm);
    }
  }
  if (settings.tls_cert_file.empty() != settings.tls_key_file.empty())
    return uri_error(uri, "names only one of certfile and keyfile", kForm);
  return {};
}

}  // namespace

StatusOr<RabbitSettings> parse_uri(std::string_view uri) {
  RabbitSettings settings;
  if (uri.starts_with("amqps://")) {
    settings.tls = true;
    settings.port = 5671;
  }
  auto parts = parse_server_uri(uri, settings.port, kForm);
  if (!parts.ok()) return parts.status();
  if (parts->scheme != "amqp" && parts->scheme != "amqps")
    return uri_error(uri, "is not an amqp:// or amqps:// URI", kForm);
  if (!settings.tls && !parts->query.empty()) {
    return uri_error(uri, "has options (?...), which only amqps:// (TLS) takes", kForm);
  }
  if (Status options = read_tls_options(uri, parts->query, settings); !options.ok()) return options;
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
