// RabbitSettings: where the RabbitMQ broker is and how the progress
// request-reply (DESIGN §2) uses it. A plain value: the caller fills it (from
// a URI, flags, the environment); nothing here reads configuration.
//
// Thread-safety: a value type.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "dtq/core/status.hpp"

namespace dtq::rabbitmq {

struct RabbitSettings {
  // --- the broker ---
  std::string host = "127.0.0.1";
  uint16_t port = 5672;
  std::string vhost = "/";
  std::string username = "guest";
  std::string password = "guest";  // never logged
  // TLS (amqps://). With tls_verify the broker's certificate must chain to
  // tls_ca_file (PEM; empty: the system's trusted CAs, for a public CA) and
  // name `host` (subjectAltName); tls_verify=false checks neither (tests and
  // emergencies only: anyone on the path can then read the password). A
  // client certificate (mutual TLS) is tls_cert_file with tls_key_file,
  // both PEM, the key not encrypted.
  bool tls = false;
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  bool tls_verify = true;
  // Shown by `rabbitmqctl list_connections client_properties`; empty: the
  // role ("dtq progress query", "dtq progress responder").
  std::string connection_name;

  // AMQP heartbeat: a dead peer is noticed within about twice this long.
  // 0 turns heartbeats off.
  std::chrono::seconds heartbeat{10};
  // Bound on the TCP connect, the AMQP handshake and each set-up call
  // (queue declaration, consume).
  std::chrono::milliseconds connect_timeout{2000};
  // After a lost connection the next attempt waits reconnect_backoff_min,
  // doubling up to reconnect_backoff_max (with jitter).
  std::chrono::milliseconds reconnect_backoff_min{100};
  std::chrono::milliseconds reconnect_backoff_max{5000};

  // The durable queue of progress requests (DESIGN §2).
  std::string request_queue = "progress.check.request.v1";

  // --- RabbitProgressQuery (the API side) ---
  // How long progress() waits for a reply; past it: DeadlineExceeded. It is
  // also each request's message TTL, so that a request nobody took in time
  // does not stay in the queue.
  std::chrono::milliseconds reply_timeout{3000};

  // --- ProgressResponder (the worker side) ---
  // Requests delivered to this responder and not yet answered (basic.qos);
  // the rest stay in the queue for the other responders.
  uint16_t prefetch = 64;
  // Threads that read the status store for the requests.
  size_t handler_threads = 4;

  // InvalidArgument naming the first field out of range.
  Status validate() const;
  // host:port/vhost (and " over TLS"), for messages (never the credentials).
  std::string describe() const;
};

}  // namespace dtq::rabbitmq
