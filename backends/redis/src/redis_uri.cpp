#include "dtq/redis/redis_uri.hpp"

#include <charconv>

#include "dtq/core/server_uri.hpp"

namespace dtq::redis {

StatusOr<RedisSettings> parse_uri(std::string_view uri) {
  constexpr std::string_view kForm = "redis://[USER:PASS@]HOST:PORT[/DB]";
  RedisSettings settings;
  auto parts = parse_server_uri(uri, settings.port, kForm);
  if (!parts.ok()) return parts.status();
  if (parts->scheme == "rediss")
    return uri_error(uri, "asks for TLS, which dtq's Redis client does not speak", kForm);
  if (parts->scheme != "redis") return uri_error(uri, "is not a redis:// URI", kForm);
  if (!parts->query.empty())
    return uri_error(uri, "has options (?...), which are not supported", kForm);
  settings.host = parts->address.host;
  settings.port = parts->address.port;
  if (parts->password) {
    settings.username = parts->user;
    settings.password = *parts->password;
  } else {
    settings.password = parts->user;
  }
  if (parts->path && !parts->path->empty()) {
    const std::string& db = *parts->path;
    const auto [end, error] = std::from_chars(db.data(), db.data() + db.size(), settings.db);
    if (error != std::errc() || end != db.data() + db.size() || settings.db < 0)
      return uri_error(uri, "has a database that is not a number", kForm);
  }
  if (Status valid = settings.validate(); !valid.ok())
    return uri_error(uri, valid.message(), kForm);
  return settings;
}

}  // namespace dtq::redis
