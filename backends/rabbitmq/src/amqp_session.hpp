// The rabbitmq-c layer of the RabbitMQ backend: one AMQP connection with one
// channel, owned by one I/O thread, re-opened with backoff when it is lost.
// Nothing outside backends/rabbitmq/src sees rabbitmq-c.
//
// The I/O thread is the only one that touches the connection (rabbitmq-c is
// not thread-safe). Other threads hand it work with post(); it wakes on an
// eventfd, runs the posted tasks, and reads what the broker sent (deliveries
// go to the on_delivery hook). Heartbeats are sent and checked by rabbitmq-c
// while the thread reads.
//
// Error policy: every failure is a Status. A lost connection (socket error,
// missed heartbeats, the broker closing the connection or the channel) is
// reported to on_lost, logged, and re-opened after a backoff; set-up runs
// again (on_open) on every new connection.
#pragma once

#include <amqp.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <thread>

#include "dtq/core/status.hpp"
#include "dtq/core/thread_annotations.hpp"
#include "dtq/rabbitmq/rabbit_settings.hpp"

namespace dtq::rabbitmq {

// The AMQP basic properties dtq uses, and the body.
struct Message {
  std::string body;
  std::string content_type;
  std::string correlation_id;
  std::string reply_to;
  std::string expiration;  // per-message TTL in ms, as text; empty: none
};

struct Delivery {
  std::string consumer_tag;
  uint64_t delivery_tag = 0;
  bool redelivered = false;
  Message message;
};

// The open channel of a session, lent to hooks and posted tasks on the I/O
// thread. Not thread-safe; never kept beyond the call.
class Channel {
 public:
  explicit Channel(amqp_connection_state_t connection) : connection_(connection) {}

  // queue.declare: durable, not exclusive, not auto-delete, no arguments.
  Status declare_durable_queue(const std::string& queue);
  Status qos(uint16_t prefetch);
  // basic.consume; returns the consumer tag the broker chose.
  StatusOr<std::string> consume(const std::string& queue, bool no_ack);
  // basic.publish through the default exchange to `routing_key` (a queue).
  Status publish(std::string_view routing_key, const Message& message);
  // basic.ack of `delivery_tag`; with `multiple`, of every delivery of this
  // channel up to it too.
  Status ack(uint64_t delivery_tag, bool multiple = false);

 private:
  Status rpc_status(std::string_view what);

  amqp_connection_state_t connection_;
};

class AmqpSession {
 public:
  struct Hooks {
    // On every new connection, before anything else: declare, consume. A
    // failure closes the connection (at start-up: start() fails with it).
    std::function<Status(Channel&)> on_open;
    // Each message the broker delivers.
    std::function<void(Channel&, Delivery&&)> on_delivery;
    // The connection went away (why); called on the I/O thread.
    std::function<void(const Status&)> on_lost;
  };

  // `role` names the session in logs ("progress query").
  AmqpSession(RabbitSettings settings, std::string role, Hooks hooks);
  ~AmqpSession();
  AmqpSession(const AmqpSession&) = delete;
  AmqpSession& operator=(const AmqpSession&) = delete;

  // Opens the first connection on the calling thread and starts the I/O
  // thread; fails (and starts nothing) when the first connection fails.
  Status start();
  // Closes the connection and joins the I/O thread; tasks still queued run
  // with no channel. Idempotent.
  void stop();

  // Runs `task` on the I/O thread, with the open channel, or with nullptr
  // while disconnected (or after stop(), then on the calling thread).
  void post(std::function<void(Channel*)> task);

  bool healthy() const { return healthy_.load(std::memory_order_acquire); }
  // Incremented by every new connection; delivery tags belong to one.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  const RabbitSettings& settings() const { return settings_; }

 private:
  Status connect();  // a new connection, set up; on this thread
  // A TCP socket, or a TLS one set up from the settings, on `connection`.
  StatusOr<amqp_socket_t*> open_socket(amqp_connection_state_t connection) const;
  void close(bool graceful);  // drops the connection
  void run();                 // the I/O thread
  void run_posted();          // runs the queued tasks
  Status read_available();    // deliveries and broker methods that arrived
  Status handle_method(const amqp_frame_t& frame);
  void lose(const Status& why);  // after a failure: drop, report, back off
  void reconnect();              // waits out the backoff, then one attempt
  void wait_for_wake(std::chrono::milliseconds limit);
  void wake();

  const RabbitSettings settings_;
  const std::string role_;
  const Hooks hooks_;

  amqp_connection_state_t connection_ = nullptr;
  int wake_fd_ = -1;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> healthy_{false};
  std::atomic<uint64_t> generation_{0};

  Mutex mutex_;
  std::deque<std::function<void(Channel*)>> posted_ DTQ_GUARDED_BY(mutex_);
  bool stopped_ DTQ_GUARDED_BY(mutex_) = false;  // set: post() runs tasks inline

  // Reconnection state (I/O thread only).
  uint32_t failures_ = 0;
  std::chrono::steady_clock::time_point down_since_{};
  std::chrono::steady_clock::time_point next_attempt_{};
};

}  // namespace dtq::rabbitmq
