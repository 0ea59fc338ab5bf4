// The Redis URI, read into RedisSettings (the driver owns its URI, as
// userver's dsn.hpp has it):
//
//   redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]
//
// The port defaults to 6379 and the database to 0. A userinfo without ':'
// (redis://PASSWORD@HOST) is a password alone, as redis-cli -u reads it.
// rediss:// (TLS) and options (?...) are refused: this client speaks
// neither. Every other setting keeps RedisSettings' default.
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
