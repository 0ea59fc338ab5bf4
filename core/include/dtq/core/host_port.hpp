// HOST:PORT, the one reading of a server address in dtq: a listen flag
// (--listen, --grpc-listen, --admin-listen), a Kafka broker, the authority
// of a backend URI (server_uri.hpp). HOST is a name, an IPv4 address, or an
// IPv6 address in brackets ("[::1]:8080"); `host` holds it without the
// brackets, as socket APIs and client libraries want it, and url_host() and
// authority() put them back.
//
// Errors are InvalidArgument whose message is a predicate ("names no host",
// "has a bad port"): the caller puts it after what it was given, because
// only the caller knows where the text came from, which form it expected
// and whether the text may be echoed (a URI may hold a password).
//
// Thread-safety: a value type and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "dtq/core/status.hpp"

namespace dtq {

struct HostPort {
  std::string host;
  uint16_t port = 0;

  // The host as a URL writes it: an IPv6 address in brackets.
  std::string url_host() const;
  // url_host():port.
  std::string authority() const;
};

// A listen address, HOST:PORT, with a port from 0 to 65535; 0 asks for any
// free one.
StatusOr<HostPort> parse_listen_address(std::string_view text);

// A server to connect to, HOST:PORT with a port from 1 to 65535, or HOST
// alone when there is a `default_port` to use.
StatusOr<HostPort> parse_server_address(std::string_view text,
                                        std::optional<uint16_t> default_port = std::nullopt);

}  // namespace dtq
