#include "dtq/core/host_port.hpp"

#include <charconv>
#include <limits>

namespace dtq {
namespace {

// The host and the port's text of HOST[:PORT]; `port` stays empty when no
// ':' follows the host.
struct Split {
  std::string_view host;
  std::optional<std::string_view> port;
};

StatusOr<Split> split(std::string_view text) {
  Split parts;
  if (text.starts_with('[')) {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) return invalid_argument("has an unclosed [");
    parts.host = text.substr(1, close - 1);
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return invalid_argument("has text after the host");
    if (!rest.empty()) parts.port = rest.substr(1);
  } else if (const size_t colon = text.rfind(':'); colon != std::string_view::npos) {
    parts.host = text.substr(0, colon);
    parts.port = text.substr(colon + 1);
  } else {
    parts.host = text;
  }
  if (parts.host.empty()) return invalid_argument("names no host");
  return parts;
}

StatusOr<uint16_t> parse_port(std::string_view text, unsigned lowest) {
  unsigned value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < lowest ||
      value > std::numeric_limits<uint16_t>::max()) {
    return invalid_argument("has a bad port");
  }
  return static_cast<uint16_t>(value);
}

StatusOr<HostPort> parse(std::string_view text, unsigned lowest_port,
                         std::optional<uint16_t> default_port) {
  auto parts = split(text);
  if (!parts.ok()) return parts.status();
  HostPort address{.host = std::string(parts->host)};
  if (!parts->port) {
    if (!default_port) return invalid_argument("names no port");
    address.port = *default_port;
    return address;
  }
  auto port = parse_port(*parts->port, lowest_port);
  if (!port.ok()) return port.status();
  address.port = *port;
  return address;
}

}  // namespace

std::string HostPort::url_host() const {
  return host.find(':') == std::string::npos ? host : "[" + host + "]";
}

std::string HostPort::authority() const {
  return url_host() + ":" + std::to_string(port);
}

StatusOr<HostPort> parse_listen_address(std::string_view text) {
  return parse(text, 0, std::nullopt);
}

StatusOr<HostPort> parse_server_address(std::string_view text,
                                        std::optional<uint16_t> default_port) {
  return parse(text, 1, default_port);
}

}  // namespace dtq
