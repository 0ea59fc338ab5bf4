// The AMQP URI, read into RabbitSettings (the driver owns its URI, as
// userver's dsn.hpp has it):
//
//   amqp://[USER[:PASSWORD]@]HOST[:PORT][/VHOST]
//
// The port defaults to 5672, the user and password to guest, and the vhost
// to "/" (amqp://HOST and amqp://HOST/ alike; "%2f" spells it too). amqps://
// (TLS) and options (?...) are refused: neither is wired. Every other
// setting keeps RabbitSettings' default.
//
// Thread-safety: a pure function.
#pragma once

#include <string_view>

#include "dtq/core/status.hpp"
#include "dtq/rabbitmq/rabbit_settings.hpp"

namespace dtq::rabbitmq {

// InvalidArgument quoting the URI (its password hidden), saying what is
// wrong and the form expected.
StatusOr<RabbitSettings> parse_uri(std::string_view uri);

}  // namespace dtq::rabbitmq
