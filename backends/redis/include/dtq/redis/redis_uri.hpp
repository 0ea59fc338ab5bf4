// The Redis URI, read into RedisSettings (the driver owns its URI, as
// userver's dsn.hpp has it):
//
//   redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]
//   rediss://[[USER]:PASSWORD@]HOST[:PORT][/DB][?ca_file=PEM&cert_file=PEM&key_file=PEM&server_name=NAME]
//
// The port defaults to 6379 and the database to 0. A userinfo without ':'
// (redis://PASSWORD@HOST) is a password alone, as redis-cli -u reads it.
// rediss:// is TLS (RedisTls): the options, percent-encoded, name the CA
// certificates to trust (default: the system's), a client certificate and
// its key, and the name the server's certificate must carry (default:
// HOST). A redis:// URI takes no options. Every other setting keeps
// RedisSettings' default.
//
// Thread-safety: a pure function.
#pragma once

#include <string_view>

#include "dtq/core/status.hpp"
#include "dtq/redis/redis_settings.hpp"

namespace dtq::redis {

// InvalidArgument quoting the URI (its password hidden), saying what is
// wrong and the form expected.
StatusOr<RedisSettings> parse_uri(std::string_view uri);

}  // namespace dtq::redis
