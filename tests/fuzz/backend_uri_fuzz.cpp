// Backend URIs and addresses (--redis, --amqp, --mongo, --kafka, --listen
// and the env/config that carry them): any text parses or is refused with
// a message, never crashes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "dtq/core/host_port.hpp"
#include "dtq/core/server_uri.hpp"
#include "dtq/core/uri.hpp"
#include "dtq/kafka/kafka_bootstrap.hpp"
#include "dtq/mongo/mongo_uri.hpp"
#include "dtq/rabbitmq/rabbit_uri.hpp"
#include "dtq/redis/redis_uri.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)dtq::parse_server_uri(text, 6379, "scheme://host:port");
  (void)dtq::redact_password(text);
  (void)dtq::redis::parse_uri(text);
  (void)dtq::rabbitmq::parse_uri(text);
  (void)dtq::mongo::parse_uri(text);
  (void)dtq::kafka::parse_bootstrap_servers(text);
  (void)dtq::parse_listen_address(text);
  (void)dtq::parse_server_address(text, 8080);
  (void)dtq::percent_decode(text);
  return 0;
}
