// Shared by the RabbitMQ adapter tests: the broker of scripts/servers/
// rabbitmq.sh, settings with a request queue of each test's own, and a raw
// rabbitmq-c client that plays a foreign client or worker on the wire. The
// responders read a fakes::MemoryStatusStore (the store is not what is under
// test).
//
// The broker: under ctest, the `rabbitmq_server` fixture starts one for every
// test and names its folder in DTQ_TEST_RABBITMQ_STATE. Run by hand, the test
// binary starts its own. A test that restarts the broker starts a private
// one, so that the others never see it go away.
#pragma once

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dtq/core/ids.hpp"
#include "dtq/core/ports/status_store.hpp"
#include "dtq/core/time.hpp"
#include "dtq/rabbitmq/rabbit_settings.hpp"
#include "support/eventually.hpp"
#include "support/scripted_server.hpp"
#include "support/status_helpers.hpp"

namespace dtq::rabbitmq::testing {

using namespace std::chrono_literals;
using dtq::testing::ScriptedServer;

// A broker of one test: AMQP on `port`, its Erlang distribution on port + 1,
// and an epmd of its own.
inline std::unique_ptr<ScriptedServer> make_rabbitmq(uint16_t& port) {
  port = dtq::testing::pick_ports(2);
  uint16_t epmd = dtq::testing::pick_ports();
  while (epmd == port || epmd == port + 1) epmd = dtq::testing::pick_ports();
  return std::make_unique<ScriptedServer>(
      "rabbitmq",
      std::vector<std::pair<std::string, std::string>>{{"DTQ_AMQP_PORT", std::to_string(port)},
                                                       {"DTQ_EPMD_PORT", std::to_string(epmd)}});
}

inline dtq::testing::SharedServer* const kSharedRabbit =
    dynamic_cast<dtq::testing::SharedServer*>(::testing::AddGlobalTestEnvironment(
        new dtq::testing::SharedServer("DTQ_TEST_RABBITMQ_STATE", make_rabbitmq)));

// Settings for the shared broker (or `port`), with a request queue of the
// test's own and short timeouts.
inline RabbitSettings test_settings(uint16_t port = 0) {
  RabbitSettings settings;
  settings.port = port != 0 ? port : kSharedRabbit->port();
  settings.request_queue = "progress.check.request.v1.test-" + new_uuid4().substr(0, 8);
  settings.connect_timeout = 2s;
  settings.reconnect_backoff_min = 50ms;
  settings.reconnect_backoff_max = 500ms;
  settings.reply_timeout = 5s;
  return settings;
}

inline JobStatus running_status(const std::string& job_id, int progress, std::string message) {
  return JobStatus{.job_id = job_id,
                   .state = JobState::kRunning,
                   .progress_percent = progress,
                   .updated_at = now_rfc3339(),
                   .message = std::move(message),
                   .trace_id = "7b0a7a52-5a4e-4f43-9d4c-0e1b2c3d4e5f",
                   .job_type = "weather"};
}

// A message as a raw client sees it.
struct RawMessage {
  uint64_t delivery_tag = 0;
  std::string body;
  std::string content_type;
  std::string correlation_id;
  std::string reply_to;
  std::string expiration;
  uint8_t delivery_mode = 0;
};

// A plain rabbitmq-c client on channel 1, blocking, for one test thread.
class RawAmqp {
 public:
  explicit RawAmqp(uint16_t port) : connection_(amqp_new_connection()) {
    amqp_socket_t* socket = amqp_tcp_socket_new(connection_);
    timeval timeout{5, 0};
    if (amqp_socket_open_noblock(socket, "127.0.0.1", port, &timeout) != AMQP_STATUS_OK) return;
    amqp_set_rpc_timeout(connection_, &timeout);
    if (amqp_login(connection_, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest")
            .reply_type != AMQP_RESPONSE_NORMAL) {
      return;
    }
    amqp_channel_open(connection_, 1);
    ok_ = amqp_get_rpc_reply(connection_).reply_type == AMQP_RESPONSE_NORMAL;
  }
  ~RawAmqp() {
    if (ok_) {
      amqp_channel_close(connection_, 1, AMQP_REPLY_SUCCESS);
      amqp_connection_close(connection_, AMQP_REPLY_SUCCESS);
    }
    amqp_destroy_connection(connection_);
  }
  RawAmqp(const RawAmqp&) = delete;
  RawAmqp& operator=(const RawAmqp&) = delete;

  bool ok() const { return ok_; }

  // queue.declare; an empty name asks the broker for one. Returns the name,
  // or nullopt (and the channel is gone) when the broker refused.
  std::optional<std::string> declare(const std::string& queue, bool durable, bool exclusive,
                                     bool auto_delete) {
    amqp_queue_declare_ok_t* ok = amqp_queue_declare(connection_, 1, bytes(queue), 0, durable,
                                                     exclusive, auto_delete, amqp_empty_table);
    last_reply_ = amqp_get_rpc_reply(connection_);
    if (ok == nullptr || last_reply_.reply_type != AMQP_RESPONSE_NORMAL) {
      ok_ = false;
      return std::nullopt;
    }
    return std::string(static_cast<char*>(ok->queue.bytes), ok->queue.len);
  }
  // The reply code with which the broker closed the channel (406 …), or 0.
  int channel_close_code() const {
    if (last_reply_.reply_type != AMQP_RESPONSE_SERVER_EXCEPTION ||
        last_reply_.reply.id != AMQP_CHANNEL_CLOSE_METHOD) {
      return 0;
    }
    return static_cast<const amqp_channel_close_t*>(last_reply_.reply.decoded)->reply_code;
  }

  // Messages ready in `queue` (passive declare); -1 if it does not exist.
  int64_t message_count(const std::string& queue) {
    amqp_queue_declare_ok_t* ok =
        amqp_queue_declare(connection_, 1, bytes(queue), 1, 0, 0, 0, amqp_empty_table);
    if (ok == nullptr || amqp_get_rpc_reply(connection_).reply_type != AMQP_RESPONSE_NORMAL) {
      ok_ = false;
      return -1;
    }
    return ok->message_count;
  }

  void delete_queue(const std::string& queue) {
    amqp_queue_delete(connection_, 1, bytes(queue), 0, 0);
    amqp_get_rpc_reply(connection_);
  }

  bool consume(const std::string& queue, bool no_ack) {
    amqp_basic_consume(connection_, 1, bytes(queue), amqp_empty_bytes, 0, no_ack, 0,
                       amqp_empty_table);
    return amqp_get_rpc_reply(connection_).reply_type == AMQP_RESPONSE_NORMAL;
  }

  std::optional<RawMessage> next(std::chrono::milliseconds limit) {
    amqp_maybe_release_buffers(connection_);
    amqp_envelope_t envelope;
    timeval timeout{static_cast<time_t>(limit.count() / 1000),
                    static_cast<suseconds_t>(limit.count() % 1000 * 1000)};
    if (amqp_consume_message(connection_, &envelope, &timeout, 0).reply_type !=
        AMQP_RESPONSE_NORMAL) {
      return std::nullopt;
    }
    RawMessage message;
    const auto& p = envelope.message.properties;
    message.delivery_tag = envelope.delivery_tag;
    message.body = text(envelope.message.body);
    if (p._flags & AMQP_BASIC_CONTENT_TYPE_FLAG) message.content_type = text(p.content_type);
    if (p._flags & AMQP_BASIC_CORRELATION_ID_FLAG) message.correlation_id = text(p.correlation_id);
    if (p._flags & AMQP_BASIC_REPLY_TO_FLAG) message.reply_to = text(p.reply_to);
    if (p._flags & AMQP_BASIC_EXPIRATION_FLAG) message.expiration = text(p.expiration);
    if (p._flags & AMQP_BASIC_DELIVERY_MODE_FLAG) message.delivery_mode = p.delivery_mode;
    amqp_destroy_envelope(&envelope);
    return message;
  }

  bool publish(const std::string& routing_key, const std::string& body,
               const std::string& correlation_id, const std::string& reply_to) {
    amqp_basic_properties_t p{};
    p._flags = AMQP_BASIC_CONTENT_TYPE_FLAG;
    p.content_type = amqp_cstring_bytes("application/json");
    if (!correlation_id.empty()) {
      p._flags |= AMQP_BASIC_CORRELATION_ID_FLAG;
      p.correlation_id = bytes(correlation_id);
    }
    if (!reply_to.empty()) {
      p._flags |= AMQP_BASIC_REPLY_TO_FLAG;
      p.reply_to = bytes(reply_to);
    }
    return amqp_basic_publish(connection_, 1, amqp_empty_bytes, bytes(routing_key), 0, 0, &p,
                              bytes(body)) == AMQP_STATUS_OK;
  }

  bool ack(uint64_t delivery_tag) { return amqp_basic_ack(connection_, 1, delivery_tag, 0) == 0; }

 private:
  static amqp_bytes_t bytes(const std::string& text) {
    return amqp_bytes_t{text.size(), const_cast<char*>(text.data())};
  }
  static std::string text(const amqp_bytes_t& b) {
    return {static_cast<const char*>(b.bytes), b.len};
  }

  amqp_connection_state_t connection_;
  amqp_rpc_reply_t last_reply_{};
  bool ok_ = false;
};

using dtq::testing::eventually;
using dtq::testing::throughout;
using dtq::testing::update_ok;

}  // namespace dtq::rabbitmq::testing
