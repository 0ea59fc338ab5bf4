// A server's URI as the backends' connection strings write it:
//
//   scheme://[user[:password]@]host[:port][/path][?query]
//
// parse_server_uri() splits it; each driver then judges the parts itself
// (which schemes, what the path means, which options) in its own
// parse_uri(), as userver's dsn.hpp leaves a DSN to its driver. Messages
// about a URI go through uri_error(), which never echoes a password.
//
// Thread-safety: a value type and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dtq/core/host_port.hpp"
#include "dtq/core/status.hpp"

namespace dtq {

struct ServerUri {
  std::string scheme;
  std::string user;                     // percent-decoded; empty when none
  std::optional<std::string> password;  // percent-decoded; none without a ':' after the user
  HostPort address;                     // the default port when the URI names none
  std::optional<std::string> path;      // after the '/', still percent-encoded; none without '/'
  std::string query;                    // after the '?', still percent-encoded
};

// The parts of the URI `text`, its port `default_port` when it names none.
// InvalidArgument as uri_error() words it, with `form` as the expected form.
StatusOr<ServerUri> parse_server_uri(std::string_view text, uint16_t default_port,
                                     std::string_view form);

// One option of a URI's query: NAME=VALUE, both percent-decoded ('+' is a
// space); a bare NAME has no value.
struct QueryOption {
  std::string name;
  std::optional<std::string> value;
};

// The options of `query` (ServerUri::query) in their order; empty ones
// ("a=1&&b=2") are skipped. Which names a driver takes is its own affair.
std::vector<QueryOption> query_options(std::string_view query);

// `uri` with any password replaced by ***: the text after the user's ':',
// or the whole userinfo when it has no ':' (redis://PASSWORD@host).
std::string redact_password(std::string_view uri);

// InvalidArgument: "<uri, password hidden>" <why> (expected <form>).
Status uri_error(std::string_view uri, std::string_view why, std::string_view form);

}  // namespace dtq
