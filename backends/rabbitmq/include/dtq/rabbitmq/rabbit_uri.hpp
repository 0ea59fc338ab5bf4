// The AMQP URI, read into RabbitSettings (the driver owns its URI, as
// userver's dsn.hpp has it):
//
//   amqp://[USER[:PASSWORD]@]HOST[:PORT][/VHOST]
//   amqps://[USER[:PASSWORD]@]HOST[:PORT][/VHOST][?TLS OPTIONS]
//
// The port defaults to 5672 (amqps: 5671), the user and password to guest,
// and the vhost to "/" (amqp://HOST and amqp://HOST/ alike; "%2f" spells it
// too). amqps:// turns TLS on, verifying the broker's certificate and host
// name. Its options, named as in RabbitMQ's URI spec (uri-query-parameters):
//
//   cacertfile=PATH   the CA bundle (PEM) the broker's certificate chains
//                     to; without it the system's trusted CAs
//   certfile=PATH     a client certificate (PEM), with keyfile=PATH its key
//   verify=verify_peer (default) | verify_none (checks nothing: tests only)
//
// Values are percent-decoded. Any other option, and any option on amqp://,
// is refused. Every other setting keeps RabbitSettings' default.
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
