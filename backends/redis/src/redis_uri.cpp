#include "dtq/redis/redis_uri.hpp"

#include <algorithm>
#include <charconv>
#include <iterator>
#include <utility>

#include "dtq/core/server_uri.hpp"

namespace dtq::redis {
namespace {

// ca_file=...&cert_file=...&key_file=...&server_name=... into `tls`.
Status read_tls_options(std::string_view query, RedisTls& tls) {
  const std::pair<std::string_view, std::string*> known[] = {{"ca_file", &tls.ca_file},
                                                             {"cert_file", &tls.cert_file},
                                                             {"key_file", &tls.key_file},
                                                             {"server_name", &tls.server_name}};
  for (const auto& option : query_options(query)) {
    const auto* found = std::find_if(std::begin(known), std::end(known),
                                     [&](const auto& entry) { return entry.first == option.name; });
    if (found == std::end(known) || !option.value) {
      return invalid_argument("has an option \"" + option.name +
                              "\" that is not ca_file=, cert_file=, key_file= or server_name=");
    }
    *found->second = *option.value;
  }
  return {};
}

}  // namespace

StatusOr<RedisSettings> parse_uri(std::string_view uri) {
  constexpr std::string_view kForm =
      "redis://[USER:PASS@]HOST:PORT[/DB] or rediss://[USER:PASS@]HOST:PORT[/DB][?ca_file=...]";
  RedisSettings settings;
  auto parts = parse_server_uri(uri, settings.port, kForm);
  if (!parts.ok()) return parts.status();
  if (parts->scheme != "redis" && parts->scheme != "rediss")
    return uri_error(uri, "is not a redis:// or rediss:// URI", kForm);
  settings.tls.enabled = parts->scheme == "rediss";
  if (!parts->query.empty()) {
    if (!settings.tls.enabled)
      return uri_error(uri, "has options (?...), which only rediss:// takes", kForm);
    if (Status read = read_tls_options(parts->query, settings.tls); !read.ok())
      return uri_error(uri, read.message(), kForm);
  }
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
