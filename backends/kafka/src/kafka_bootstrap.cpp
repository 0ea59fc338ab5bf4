#include "dtq/kafka/kafka_bootstrap.hpp"

#include <algorithm>
#include <cctype>

#include "dtq/core/host_port.hpp"
#include "dtq/core/server_uri.hpp"
#include "dtq/core/uri.hpp"

namespace dtq::kafka {
namespace {

constexpr std::string_view kScheme = "kafka://";
constexpr std::string_view kForm = "HOST:PORT[,HOST:PORT...], optionally after kafka://";
constexpr std::string_view kUriForm =
    "kafka://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...][?security.protocol=sasl_ssl&...]";

// `text` with everything between the user's ':' and the last '@' of the
// authority hidden: a password (a connection string) may hold '/' or '@'
// that the generic redaction would stop at.
std::string redacted(std::string_view text) {
  if (!text.starts_with(kScheme)) return redact_password(text);
  const std::string_view authority = text.substr(kScheme.size(), text.find('?') - kScheme.size());
  const size_t at = authority.rfind('@');
  if (at == std::string_view::npos) return std::string(text);
  const size_t colon = authority.find(':');
  const size_t secret = colon == std::string_view::npos || colon > at ? 0 : colon + 1;
  return std::string(text.substr(0, kScheme.size() + secret)) + "***" +
         std::string(text.substr(kScheme.size() + at));
}

Status error(std::string_view text, std::string_view why, std::string_view form) {
  return uri_error(redacted(text), why, form);
}

std::string lower(std::string text) {
  std::ranges::transform(text, text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

std::string upper(std::string text) {
  std::ranges::transform(text, text.begin(), [](unsigned char c) { return std::toupper(c); });
  return text;
}

// The query's options into `security`.
Status read_options(std::string_view text, std::string_view query, KafkaSecurity& security) {
  for (const auto& option : query_options(query)) {
    const std::string& name = option.name;
    const std::string value = option.value.value_or("");
    if (value.empty()) return error(text, "has an empty " + name, kUriForm);
    if (name == "security.protocol") {
      security.protocol = lower(value);
      const auto known = {"plaintext", "ssl", "sasl_plaintext", "sasl_ssl"};
      if (std::ranges::find(known, security.protocol) == known.end())
        return error(
            text,
            "has security.protocol=" + value + " (plaintext, ssl, sasl_plaintext or sasl_ssl)",
            kUriForm);
    } else if (name == "sasl.mechanism" || name == "sasl.mechanisms") {
      security.sasl_mechanism = upper(value);
      const auto known = {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"};
      if (std::ranges::find(known, security.sasl_mechanism) == known.end())
        return error(text,
                     "has sasl.mechanism=" + value + " (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)",
                     kUriForm);
    } else if (name == "ssl.ca.location") {
      security.ssl_ca_location = value;
    } else if (name == "ssl.certificate.location") {
      security.ssl_certificate_location = value;
    } else if (name == "ssl.key.location") {
      security.ssl_key_location = value;
    } else if (name == "ssl.key.password") {
      security.ssl_key_password = value;
    } else {
      return error(text,
                   "has an unknown option " + name +
                       " (known: security.protocol, sasl.mechanism, ssl.ca.location, "
                       "ssl.certificate.location, ssl.key.location, ssl.key.password)",
                   kUriForm);
    }
  }
  return {};
}

}  // namespace

StatusOr<std::string> parse_bootstrap_servers(std::string_view text) {
  std::string_view servers = text;
  if (servers.starts_with(kScheme)) servers.remove_prefix(kScheme.size());
  if (servers.empty()) return error(text, "names no broker", kForm);
  // "a:9092," ends the list there; it names no empty broker.
  for (std::string_view rest = servers; !rest.empty();) {
    const size_t comma = rest.find(',');
    if (!parse_server_address(rest.substr(0, comma)).ok())
      return error(text, "has a broker that is not HOST:PORT", kForm);
    rest.remove_prefix(comma == std::string_view::npos ? rest.size() : comma + 1);
  }
  return std::string(servers);
}

StatusOr<KafkaConnection> parse_kafka_uri(std::string_view text) {
  if (!text.starts_with(kScheme)) {
    auto servers = parse_bootstrap_servers(text);
    if (!servers.ok()) return servers.status();
    return KafkaConnection{.bootstrap_servers = std::move(servers).value(), .security = {}};
  }
  KafkaConnection connection;
  KafkaSecurity& security = connection.security;
  std::string_view rest = text.substr(kScheme.size());
  const size_t question = rest.find('?');
  const std::string_view query =
      question == std::string_view::npos ? std::string_view() : rest.substr(question + 1);
  rest = rest.substr(0, question);
  if (const size_t at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = rest.substr(0, at);
    const size_t colon = userinfo.find(':');
    security.sasl_username = percent_decode(userinfo.substr(0, colon));
    if (colon != std::string_view::npos)
      security.sasl_password = percent_decode(userinfo.substr(colon + 1));
    if (security.sasl_username.empty()) return error(text, "has an empty user", kUriForm);
    rest.remove_prefix(at + 1);
  }
  if (rest.empty()) return error(text, "names no broker", kUriForm);
  for (std::string_view brokers = rest; !brokers.empty();) {
    const size_t comma = brokers.find(',');
    if (!parse_server_address(brokers.substr(0, comma)).ok())
      return error(text, "has a broker that is not HOST:PORT", kUriForm);
    brokers.remove_prefix(comma == std::string_view::npos ? brokers.size() : comma + 1);
  }
  connection.bootstrap_servers = std::string(rest);
  if (Status options = read_options(text, query, security); !options.ok()) return options;

  const bool credentials = !security.sasl_username.empty();
  if (credentials && security.protocol.empty()) security.protocol = "sasl_ssl";
  const bool sasl = security.protocol.starts_with("sasl_");
  if (credentials && !sasl) {
    return error(text,
                 "has credentials but security.protocol=" + security.protocol +
                     " (sasl_ssl or sasl_plaintext)",
                 kUriForm);
  }
  if (sasl && !credentials)
    return error(text, "asks for " + security.protocol + " without USER:PASSWORD@", kUriForm);
  if (!sasl && !security.sasl_mechanism.empty())
    return error(text, "has sasl.mechanism without a sasl_* security.protocol", kUriForm);
  if (sasl && security.sasl_mechanism.empty()) security.sasl_mechanism = "PLAIN";
  const bool tls = security.protocol == "ssl" || security.protocol == "sasl_ssl";
  const bool tls_files = !security.ssl_ca_location.empty() ||
                         !security.ssl_certificate_location.empty() ||
                         !security.ssl_key_location.empty() || !security.ssl_key_password.empty();
  if (tls_files && !tls)
    return error(text, "has ssl.* options without security.protocol=ssl or sasl_ssl", kUriForm);
  if (security.ssl_certificate_location.empty() != security.ssl_key_location.empty())
    return error(text, "names only one of ssl.certificate.location and ssl.key.location", kUriForm);
  return connection;
}

}  // namespace dtq::kafka
