#include "dtq/kafka/kafka_bootstrap.hpp"

#include "dtq/core/host_port.hpp"
#include "dtq/core/server_uri.hpp"

namespace dtq::kafka {

StatusOr<std::string> parse_bootstrap_servers(std::string_view text) {
  constexpr std::string_view kForm = "HOST:PORT[,HOST:PORT...], optionally after kafka://";
  std::string_view servers = text;
  if (servers.starts_with("kafka://")) servers.remove_prefix(std::string_view("kafka://").size());
  if (servers.empty()) return uri_error(text, "names no broker", kForm);
  // "a:9092," ends the list there; it names no empty broker.
  for (std::string_view rest = servers; !rest.empty();) {
    const size_t comma = rest.find(',');
    if (!parse_server_address(rest.substr(0, comma)).ok())
      return uri_error(text, "has a broker that is not HOST:PORT", kForm);
    rest.remove_prefix(comma == std::string_view::npos ? rest.size() : comma + 1);
  }
  return std::string(servers);
}

}  // namespace dtq::kafka
