#include "amqp_session.hpp"

#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <arpa/inet.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "dtq/core/backoff.hpp"

namespace dtq::rabbitmq {
namespace {

constexpr amqp_channel_t kChannel = 1;
constexpr int kFrameMax = 131072;
// How long the I/O thread sleeps in poll() at most: heartbeats are sent
// from the reading code, so it must come round well within one interval.
constexpr std::chrono::milliseconds kMaxIdle{200};
// Messages read in one go before posted tasks get their turn.
constexpr int kReadBatch = 256;

timeval to_timeval(std::chrono::milliseconds duration) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(duration.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((duration.count() % 1000) * 1000);
  return tv;
}

amqp_bytes_t bytes_of(std::string_view text) {
  amqp_bytes_t bytes;
  bytes.len = text.size();
  bytes.bytes = const_cast<char*>(text.data());  // rabbitmq-c only reads it
  return bytes;
}

std::string text_of(const amqp_bytes_t& bytes) {
  return bytes.len == 0 ? std::string()
                        : std::string(static_cast<const char*>(bytes.bytes), bytes.len);
}

// An AMQP reply code of a connection.close / channel.close as a Status: the
// broker refusing something dtq asked for is a configuration fault
// (FailedPrecondition); anything else is an outage (Unavailable).
Status closed_by_broker(std::string_view what, uint16_t code, const amqp_bytes_t& text) {
  const std::string message =
      std::string(what) + " closed by the broker: " + std::to_string(code) + " " + text_of(text);
  switch (code) {
    case 402:  // INVALID_PATH
    case 403:  // ACCESS_REFUSED
    case 404:  // NOT_FOUND
    case 405:  // RESOURCE_LOCKED
    case 406:  // PRECONDITION_FAILED
    case 530:  // NOT_ALLOWED (e.g. no such vhost)
      return failed_precondition(message);
    default:
      return unavailable(message);
  }
}

Status status_of(const amqp_rpc_reply_t& reply, std::string_view what) {
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return {};
    case AMQP_RESPONSE_NONE:
      return unavailable(std::string(what) + ": no reply from the broker");
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      if (reply.library_error == AMQP_STATUS_TIMEOUT) {
        return {StatusCode::kDeadlineExceeded,
                std::string(what) + ": " + amqp_error_string2(reply.library_error)};
      }
      return unavailable(std::string(what) + ": " + amqp_error_string2(reply.library_error));
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        const auto* close = static_cast<const amqp_connection_close_t*>(reply.reply.decoded);
        return closed_by_broker(std::string(what) + ": connection", close->reply_code,
                                close->reply_text);
      }
      if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        const auto* close = static_cast<const amqp_channel_close_t*>(reply.reply.decoded);
        return closed_by_broker(std::string(what) + ": channel", close->reply_code,
                                close->reply_text);
      }
      return unavailable(std::string(what) + ": unexpected method from the broker");
  }
  return internal_error(std::string(what) + ": unknown rabbitmq-c reply");
}

}  // namespace

// --- settings ----------------------------------------------------------------

Status RabbitSettings::validate() const {
  if (host.empty()) return invalid_argument("rabbitmq: host is empty");
  if (port == 0) return invalid_argument("rabbitmq: port is 0");
  if (vhost.empty()) return invalid_argument("rabbitmq: vhost is empty (the default one is \"/\")");
  if (username.empty()) return invalid_argument("rabbitmq: username is empty");
  if (!tls && (!tls_ca_file.empty() || !tls_cert_file.empty() || !tls_key_file.empty()))
    return invalid_argument("rabbitmq: TLS files are set but TLS is off (amqps://)");
  if (tls_cert_file.empty() != tls_key_file.empty())
    return invalid_argument("rabbitmq: a client certificate needs both its file and its key");
  if (heartbeat.count() < 0 || heartbeat.count() > 65535) {
    return invalid_argument("rabbitmq: heartbeat must be 0..65535 s");
  }
  if (connect_timeout.count() <= 0)
    return invalid_argument("rabbitmq: connect_timeout must be positive");
  if (reconnect_backoff_min.count() <= 0 || reconnect_backoff_max < reconnect_backoff_min) {
    return invalid_argument("rabbitmq: reconnect backoff needs 0 < min <= max");
  }
  if (request_queue.empty() || request_queue.size() > 255 || request_queue.rfind("amq.", 0) == 0) {
    return invalid_argument("rabbitmq: request_queue \"" + request_queue +
                            "\" is not a queue name dtq may declare");
  }
  if (reply_timeout.count() <= 0)
    return invalid_argument("rabbitmq: reply_timeout must be positive");
  if (prefetch == 0) return invalid_argument("rabbitmq: prefetch must be at least 1");
  if (handler_threads == 0) return invalid_argument("rabbitmq: handler_threads must be at least 1");
  return {};
}

std::string RabbitSettings::describe() const {
  return host + ":" + std::to_string(port) + (vhost.front() == '/' ? "" : "/") + vhost +
         (tls ? " over TLS" : "");
}

// --- Channel -------------------------------------------------------------------

Status Channel::rpc_status(std::string_view what) {
  return status_of(amqp_get_rpc_reply(connection_), what);
}

Status Channel::declare_durable_queue(const std::string& queue) {
  amqp_queue_declare(connection_, kChannel, bytes_of(queue), /*passive=*/0, /*durable=*/1,
                     /*exclusive=*/0, /*auto_delete=*/0, amqp_empty_table);
  return rpc_status("declaring the durable queue " + queue);
}

Status Channel::qos(uint16_t prefetch) {
  amqp_basic_qos(connection_, kChannel, 0, prefetch, /*global=*/0);
  return rpc_status("setting the prefetch");
}

StatusOr<std::string> Channel::consume(const std::string& queue, bool no_ack) {
  const amqp_basic_consume_ok_t* ok =
      amqp_basic_consume(connection_, kChannel, bytes_of(queue), amqp_empty_bytes,
                         /*no_local=*/0, no_ack ? 1 : 0, /*exclusive=*/0, amqp_empty_table);
  if (Status s = rpc_status("consuming " + queue); !s.ok()) return s;
  if (ok == nullptr) return unavailable("consuming " + queue + ": no consume-ok from the broker");
  return text_of(ok->consumer_tag);
}

Status Channel::publish(std::string_view routing_key, const Message& message) {
  amqp_basic_properties_t properties{};
  properties._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
  properties.delivery_mode =
      1;  // transient: a request outliving a broker restart has no one to answer
  if (!message.content_type.empty()) {
    properties._flags |= AMQP_BASIC_CONTENT_TYPE_FLAG;
    properties.content_type = bytes_of(message.content_type);
  }
  if (!message.correlation_id.empty()) {
    properties._flags |= AMQP_BASIC_CORRELATION_ID_FLAG;
    properties.correlation_id = bytes_of(message.correlation_id);
  }
  if (!message.reply_to.empty()) {
    properties._flags |= AMQP_BASIC_REPLY_TO_FLAG;
    properties.reply_to = bytes_of(message.reply_to);
  }
  if (!message.expiration.empty()) {
    properties._flags |= AMQP_BASIC_EXPIRATION_FLAG;
    properties.expiration = bytes_of(message.expiration);
  }
  const int status =
      amqp_basic_publish(connection_, kChannel, amqp_empty_bytes, bytes_of(routing_key),
                         /*mandatory=*/0, /*immediate=*/0, &properties, bytes_of(message.body));
  if (status != AMQP_STATUS_OK) {
    return unavailable("publishing to " + std::string(routing_key) + ": " +
                       amqp_error_string2(status));
  }
  return {};
}

Status Channel::ack(uint64_t delivery_tag, bool multiple) {
  const int status = amqp_basic_ack(connection_, kChannel, delivery_tag, multiple ? 1 : 0);
  if (status != AMQP_STATUS_OK) {
    return unavailable(std::string("acknowledging a delivery: ") + amqp_error_string2(status));
  }
  return {};
}

// --- AmqpSession ---------------------------------------------------------------

AmqpSession::AmqpSession(RabbitSettings settings, std::string role, Hooks hooks)
    : settings_(std::move(settings)), role_(std::move(role)), hooks_(std::move(hooks)) {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) spdlog::error("rabbitmq {}: eventfd failed: {}", role_, std::strerror(errno));
}

AmqpSession::~AmqpSession() {
  stop();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

Status AmqpSession::start() {
  if (wake_fd_ < 0) return internal_error("rabbitmq " + role_ + ": no eventfd");
  if (Status connected = connect(); !connected.ok()) {
    return Status(connected.code(), "rabbitmq " + role_ + ": cannot start: " + connected.message());
  }
  spdlog::info("rabbitmq {}: connected to {} (queue {})", role_, settings_.describe(),
               settings_.request_queue);
  thread_ = std::thread([this] { run(); });
  return {};
}

void AmqpSession::stop() {
  {
    MutexLock lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
  }
  stopping_ = true;
  wake();
  if (thread_.joinable()) {
    thread_.join();
  } else {
    close(true);
  }
  run_posted();  // anything posted meanwhile, with no channel
}

void AmqpSession::post(std::function<void(Channel*)> task) {
  bool first = false;
  {
    MutexLock lock(mutex_);
    if (!stopped_) {
      first = posted_.empty();
      posted_.push_back(std::move(task));
      task = nullptr;
    }
  }
  if (task) {
    task(nullptr);
    return;
  }
  // Only the task that finds the queue empty wakes the I/O thread: the
  // others join a queue it has yet to take, whole, after that wake-up. A
  // write to the eventfd per task was a system call (and often a context
  // switch) per request or reply.
  if (first) wake();
}

void AmqpSession::wake() {
  if (wake_fd_ < 0) return;
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t written = ::write(wake_fd_, &one, sizeof one);
}

void AmqpSession::wait_for_wake(std::chrono::milliseconds limit) {
  pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {-1, POLLIN, 0}};
  if (connection_ != nullptr) fds[1].fd = amqp_get_sockfd(connection_);
  const int ready = ::poll(fds, connection_ != nullptr ? 2 : 1, static_cast<int>(limit.count()));
  if (ready > 0 && (fds[0].revents & POLLIN) != 0) {
    uint64_t count = 0;
    [[maybe_unused]] const ssize_t read = ::read(wake_fd_, &count, sizeof count);
  }
}

Status AmqpSession::connect() {
  close(false);
  amqp_connection_state_t connection = amqp_new_connection();
  if (connection == nullptr) return internal_error("cannot allocate an AMQP connection");
  const auto fail = [&](Status status) {
    amqp_destroy_connection(connection);
    return status;
  };
  auto socket = open_socket(connection);
  if (!socket.ok()) return fail(socket.status());
  timeval timeout = to_timeval(settings_.connect_timeout);
  const std::string where = "RabbitMQ at " + settings_.describe();
  if (const int opened =
          amqp_socket_open_noblock(*socket, settings_.host.c_str(), settings_.port, &timeout);
      opened != AMQP_STATUS_OK) {
    std::string why = "cannot connect to " + where + ": " + amqp_error_string2(opened);
    switch (opened) {
      // The broker is there but not who the settings say: retrying will not help.
      case AMQP_STATUS_SSL_PEER_VERIFY_FAILED:
      case AMQP_STATUS_SSL_HOSTNAME_VERIFY_FAILED:
        return fail(failed_precondition(why +
                                        " (is tls_ca_file / cacertfile the CA that signed "
                                        "the broker's certificate, and does it name " +
                                        settings_.host + "?)"));
      case AMQP_STATUS_SSL_CONNECTION_FAILED:
        return fail(unavailable(why +
                                " (the TLS handshake failed: a certificate the other side "
                                "does not trust or that does not name " +
                                settings_.host + ", or a plain AMQP port?)"));
      default:
        return fail(unavailable(why));
    }
  }
  amqp_set_handshake_timeout(connection, &timeout);
  amqp_set_rpc_timeout(connection, &timeout);

  const std::string name =
      settings_.connection_name.empty() ? "dtq " + role_ : settings_.connection_name;
  amqp_table_entry_t entry;
  entry.key = amqp_cstring_bytes("connection_name");
  entry.value.kind = AMQP_FIELD_KIND_UTF8;
  entry.value.value.bytes = bytes_of(name);
  amqp_table_t properties;
  properties.num_entries = 1;
  properties.entries = &entry;
  const amqp_rpc_reply_t login = amqp_login_with_properties(
      connection, settings_.vhost.c_str(), 0, kFrameMax,
      static_cast<int>(settings_.heartbeat.count()), &properties, AMQP_SASL_METHOD_PLAIN,
      settings_.username.c_str(), settings_.password.c_str());
  if (Status s = status_of(login, "logging in to " + where + " as " + settings_.username);
      !s.ok()) {
    if (login.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
        login.library_error == AMQP_STATUS_CONNECTION_CLOSED) {
      // RabbitMQ closes the socket on bad credentials (before AMQP 0-9-1's
      // connection.close exists on the wire).
      return fail(
          failed_precondition(s.message() + " (wrong user name or password, or no access)"));
    }
    return fail(s);
  }
  amqp_channel_open(connection, kChannel);
  if (Status s = status_of(amqp_get_rpc_reply(connection), "opening a channel on " + where);
      !s.ok()) {
    return fail(s);
  }
  Channel channel(connection);
  if (hooks_.on_open) {
    if (Status s = hooks_.on_open(channel); !s.ok()) {
      return fail(Status(s.code(), where + ": " + s.message()));
    }
  }
  connection_ = connection;
  generation_.fetch_add(1, std::memory_order_acq_rel);
  healthy_.store(true, std::memory_order_release);
  return {};
}

StatusOr<amqp_socket_t*> AmqpSession::open_socket(amqp_connection_state_t connection) const {
  if (!settings_.tls) {
    amqp_socket_t* socket = amqp_tcp_socket_new(connection);
    if (socket == nullptr) return internal_error("cannot allocate a TCP socket");
    return socket;
  }
  amqp_socket_t* socket = amqp_ssl_socket_new(connection);
  if (socket == nullptr) return internal_error("cannot allocate a TLS socket");
  auto* context = static_cast<SSL_CTX*>(amqp_ssl_socket_get_context(socket));
  if (context == nullptr) return internal_error("no OpenSSL context on the TLS socket");
  amqp_ssl_socket_set_verify_peer(socket, settings_.tls_verify ? 1 : 0);
  // rabbitmq-c checks DNS names only (CN and DNS subjectAltNames); a broker
  // reached by IP address is checked by OpenSSL against its IP
  // subjectAltNames, during the handshake.
  in6_addr address{};
  const bool ip = ::inet_pton(AF_INET, settings_.host.c_str(), &address) == 1 ||
                  ::inet_pton(AF_INET6, settings_.host.c_str(), &address) == 1;
  amqp_ssl_socket_set_verify_hostname(socket, settings_.tls_verify && !ip ? 1 : 0);
  if (settings_.tls_verify && ip &&
      X509_VERIFY_PARAM_set1_ip_asc(SSL_CTX_get0_param(context), settings_.host.c_str()) != 1) {
    return internal_error("cannot set the IP address " + settings_.host + " to verify");
  }
  if (!settings_.tls_ca_file.empty()) {
    if (amqp_ssl_socket_set_cacert(socket, settings_.tls_ca_file.c_str()) != AMQP_STATUS_OK)
      return failed_precondition("cannot read the CA file " + settings_.tls_ca_file +
                                 " (PEM expected)");
  } else if (settings_.tls_verify) {
    // rabbitmq-c trusts nothing by itself: without a CA file, the system's.
    if (SSL_CTX_set_default_verify_paths(context) != 1)
      return internal_error("cannot load the system's trusted CAs");
  }
  if (!settings_.tls_cert_file.empty() &&
      amqp_ssl_socket_set_key(socket, settings_.tls_cert_file.c_str(),
                              settings_.tls_key_file.c_str()) != AMQP_STATUS_OK) {
    return failed_precondition("cannot read the client certificate " + settings_.tls_cert_file +
                               " with its key " + settings_.tls_key_file +
                               " (PEM, key not encrypted)");
  }
  return socket;
}

void AmqpSession::close(bool graceful) {
  if (connection_ == nullptr) return;
  healthy_.store(false, std::memory_order_release);
  if (graceful) {
    // Short: a broker that does not answer must not hold up shutdown.
    timeval quick = to_timeval(std::chrono::milliseconds(500));
    amqp_set_rpc_timeout(connection_, &quick);
    amqp_channel_close(connection_, kChannel, AMQP_REPLY_SUCCESS);
    amqp_connection_close(connection_, AMQP_REPLY_SUCCESS);
  }
  amqp_destroy_connection(connection_);
  connection_ = nullptr;
}

void AmqpSession::run_posted() {
  std::deque<std::function<void(Channel*)>> tasks;
  {
    MutexLock lock(mutex_);
    tasks.swap(posted_);
  }
  if (tasks.empty()) return;
  if (connection_ == nullptr) {
    for (auto& task : tasks) task(nullptr);
    return;
  }
  Channel channel(connection_);
  for (auto& task : tasks) task(&channel);
}

Status AmqpSession::handle_method(const amqp_frame_t& frame) {
  switch (frame.payload.method.id) {
    case AMQP_CONNECTION_CLOSE_METHOD: {
      const auto* close = static_cast<const amqp_connection_close_t*>(frame.payload.method.decoded);
      Status why = closed_by_broker("connection", close->reply_code, close->reply_text);
      amqp_connection_close_ok_t ok{};
      amqp_send_method(connection_, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
      return why;
    }
    case AMQP_CHANNEL_CLOSE_METHOD: {
      const auto* close = static_cast<const amqp_channel_close_t*>(frame.payload.method.decoded);
      Status why = closed_by_broker("channel", close->reply_code, close->reply_text);
      amqp_channel_close_ok_t ok{};
      amqp_send_method(connection_, frame.channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
      return why;
    }
    case AMQP_BASIC_CANCEL_METHOD:
      return unavailable("the broker cancelled the consumer (was the queue deleted?)");
    case AMQP_BASIC_RETURN_METHOD: {
      // Not asked for (no mandatory publishes); read the message off the wire.
      amqp_message_t message;
      const amqp_rpc_reply_t read = amqp_read_message(connection_, frame.channel, &message, 0);
      if (read.reply_type != AMQP_RESPONSE_NORMAL)
        return status_of(read, "reading a returned message");
      amqp_destroy_message(&message);
      return {};
    }
    default:
      return {};  // basic.ack and friends: nothing to do
  }
}

Status AmqpSession::read_available() {
  Channel channel(connection_);
  for (int i = 0; i < kReadBatch; ++i) {
    amqp_maybe_release_buffers(connection_);
    timeval zero{0, 0};
    amqp_envelope_t envelope;
    const amqp_rpc_reply_t reply = amqp_consume_message(connection_, &envelope, &zero, 0);
    if (reply.reply_type == AMQP_RESPONSE_NORMAL) {
      Delivery delivery;
      delivery.consumer_tag = text_of(envelope.consumer_tag);
      delivery.delivery_tag = envelope.delivery_tag;
      delivery.redelivered = envelope.redelivered != 0;
      const amqp_basic_properties_t& p = envelope.message.properties;
      delivery.message.body = text_of(envelope.message.body);
      if ((p._flags & AMQP_BASIC_CONTENT_TYPE_FLAG) != 0)
        delivery.message.content_type = text_of(p.content_type);
      if ((p._flags & AMQP_BASIC_CORRELATION_ID_FLAG) != 0) {
        delivery.message.correlation_id = text_of(p.correlation_id);
      }
      if ((p._flags & AMQP_BASIC_REPLY_TO_FLAG) != 0)
        delivery.message.reply_to = text_of(p.reply_to);
      if ((p._flags & AMQP_BASIC_EXPIRATION_FLAG) != 0)
        delivery.message.expiration = text_of(p.expiration);
      amqp_destroy_envelope(&envelope);
      if (hooks_.on_delivery) hooks_.on_delivery(channel, std::move(delivery));
      continue;
    }
    if (reply.reply_type != AMQP_RESPONSE_LIBRARY_EXCEPTION) return status_of(reply, "reading");
    if (reply.library_error == AMQP_STATUS_TIMEOUT) return {};  // nothing more for now
    if (reply.library_error != AMQP_STATUS_UNEXPECTED_STATE) {
      return unavailable(std::string("connection lost: ") +
                         amqp_error_string2(reply.library_error));
    }
    // A method other than basic.deliver is waiting.
    amqp_frame_t frame;
    const int waited = amqp_simple_wait_frame_noblock(connection_, &frame, &zero);
    if (waited == AMQP_STATUS_TIMEOUT) return {};
    if (waited != AMQP_STATUS_OK) {
      return unavailable(std::string("connection lost: ") + amqp_error_string2(waited));
    }
    if (frame.frame_type != AMQP_FRAME_METHOD) continue;
    if (Status s = handle_method(frame); !s.ok()) return s;
  }
  return {};
}

void AmqpSession::lose(const Status& why) {
  close(false);
  down_since_ = std::chrono::steady_clock::now();
  failures_ = 0;
  next_attempt_ = down_since_ + backoff_delay(settings_.reconnect_backoff_min,
                                              settings_.reconnect_backoff_max, 1);
  spdlog::warn("rabbitmq {}: lost the connection to {}: {}; reconnecting with backoff up to {} ms",
               role_, settings_.describe(), why.message(), settings_.reconnect_backoff_max.count());
  if (hooks_.on_lost) hooks_.on_lost(why);
}

void AmqpSession::reconnect() {
  const auto now = std::chrono::steady_clock::now();
  if (now < next_attempt_) {
    wait_for_wake(std::chrono::duration_cast<std::chrono::milliseconds>(next_attempt_ - now) +
                  std::chrono::milliseconds(1));
    return;  // posted tasks (failing fast) or stop first; then come back
  }
  const Status connected = connect();
  if (connected.ok()) {
    const auto down = std::chrono::duration<double>(std::chrono::steady_clock::now() - down_since_);
    spdlog::info("rabbitmq {}: reconnected to {} after {:.1f} s ({} failed attempts)", role_,
                 settings_.describe(), down.count(), failures_);
    failures_ = 0;
    return;
  }
  ++failures_;
  // The first failure, then every tenth: enough to follow a long outage.
  if (failures_ == 1 || failures_ % 10 == 0 ||
      connected.code() == StatusCode::kFailedPrecondition) {
    const auto level = connected.code() == StatusCode::kFailedPrecondition ? spdlog::level::err
                                                                           : spdlog::level::warn;
    spdlog::log(level, "rabbitmq {}: reconnect attempt {} failed: {}", role_, failures_,
                connected.message());
  }
  next_attempt_ = std::chrono::steady_clock::now() + backoff_delay(settings_.reconnect_backoff_min,
                                                                   settings_.reconnect_backoff_max,
                                                                   failures_ + 1);
}

void AmqpSession::run() {
  while (!stopping_.load(std::memory_order_acquire)) {
    run_posted();
    if (connection_ == nullptr) {
      reconnect();
      continue;
    }
    const bool buffered =
        amqp_frames_enqueued(connection_) != 0 || amqp_data_in_buffer(connection_) != 0;
    if (!buffered) wait_for_wake(kMaxIdle);
    if (stopping_.load(std::memory_order_acquire)) break;
    run_posted();
    // Reading also sends a heartbeat when one is due, and notices missed ones.
    if (Status read = read_available(); !read.ok()) lose(read);
  }
  close(true);
}

}  // namespace dtq::rabbitmq
