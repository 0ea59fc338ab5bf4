// HttpListener: how dtq's HTTP servers (the REST face, a worker's admin
// port) listen. It is Pistache's TCP listener with a transport of dtq's own
// in place of the one Http::Endpoint builds, because Pistache 0.0.5's
// transport ends the process from a reactor thread: it throws
// ("Assertion Error: could not find write data") when a connection reports
// writable while nothing is queued for it. That happens in normal use: an
// event stream's flush, run on the reactor, drains a connection's queue
// whose earlier would-block had armed a writable event that sits later in
// the same epoll batch. The libFuzzer target http_head found it.
//
// GuardedTransport hands Pistache's transport one event at a time. Such a
// writable event is dropped (there is nothing to write, so dropping it is
// what Pistache means to do) and the connection is watched for reading
// again; anything else one event throws is logged and that event dropped,
// so one connection's trouble never takes the server down. It keeps
// Endpoint's timeouts: a request whose head or body does not arrive in
// time is answered 408 and its connection closed, and an idle keep-alive
// connection is closed.
//
// Thread-safety: start() and stop() from one thread; port() from any.
// Pistache clones the transport per reactor thread, and each clone is used
// by its thread only. Ownership: the listener shares the handler with its
// reactor threads until stop().
#pragma once

#include <pistache/http.h>
#include <pistache/listener.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "dtq/core/status.hpp"

namespace dtq::api {

struct HttpListenerSettings {
  std::string bind_address = "127.0.0.1";
  uint16_t port = 0;  // 0: any free port
  int threads = 1;    // reactor threads
  size_t max_request_bytes = Pistache::Const::DefaultMaxRequestSize;
  size_t max_response_bytes = Pistache::Const::DefaultMaxResponseSize;
  std::chrono::milliseconds header_timeout = Pistache::Const::DefaultHeaderTimeout;
  std::chrono::milliseconds body_timeout = Pistache::Const::DefaultBodyTimeout;
  std::chrono::milliseconds keepalive_timeout = Pistache::Const::DefaultKeepaliveTimeout;
};

class HttpListener {
 public:
  explicit HttpListener(HttpListenerSettings settings) : settings_(std::move(settings)) {}
  ~HttpListener() { stop(); }
  HttpListener(const HttpListener&) = delete;
  HttpListener& operator=(const HttpListener&) = delete;

  // Binds and starts the reactor threads; Unavailable when it cannot listen.
  Status start(std::shared_ptr<Pistache::Http::Handler> handler);
  // Stops accepting and ends the reactor threads. Idempotent.
  void stop();
  // The bound port, once started.
  [[nodiscard]] uint16_t port() const noexcept { return port_.load(); }

 private:
  const HttpListenerSettings settings_;
  std::unique_ptr<Pistache::Tcp::Listener> listener_;
  std::atomic<uint16_t> port_{0};
};

}  // namespace dtq::api
