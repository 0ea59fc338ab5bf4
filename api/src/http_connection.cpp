#include "http_connection.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <exception>
#include <stdexcept>
#include <string>
#include <utility>

namespace dtq::api {
namespace {

using Pistache::Http::Code;
using Pistache::Http::Private::BodyStep;
using Pistache::Http::Private::State;

constexpr const char* kConnectionData = "dtq.connection";

bool bad_length(const Pistache::Http::Request& request);
bool declared_too_large(const Pistache::Http::Request& request, const HttpLimits& limits);

// Pistache's request parser, keeping what a read brought past the request
// it completed: the next pipelined requests, which the parser's reset()
// would drop. The body step is the last; when it is done, the cursor
// stands on the first byte after the request. Before the body step runs,
// the declared Content-Length is checked: Pistache reserves it whole
// before reading a byte of the body (http_head found 22 GB asked for).
class PipelineParser final : public Pistache::Http::RequestParser {
 public:
  PipelineParser(size_t max_request_size, HttpLimits limits)
      : ParserImpl(max_request_size), limits_(limits) {
    watch_body_step();
  }
  void reset() override {
    ParserImpl::reset();
    watch_body_step();
  }
  // The bytes after the last request parsed (empty when there were none);
  // they are the caller's once taken.
  std::string take_rest() { return std::exchange(rest_, {}); }

 private:
  class BodyWatch final : public Pistache::Http::Private::Step {
   public:
    BodyWatch(std::unique_ptr<Step> body, std::string& rest, const Pistache::Http::Request& request,
              HttpLimits limits)
        : Step(nullptr),
          body_(std::move(body)),
          rest_(&rest),
          request_(&request),
          limits_(limits) {}
    [[nodiscard]] Pistache::Http::Private::StepId id() const override { return BodyStep::Id; }
    State apply(Pistache::StreamCursor& cursor) override {
      // Refused by the caller (refusal_for): 400 or 413.
      if (bad_length(*request_) || declared_too_large(*request_, limits_))
        throw std::length_error("the declared body is refused");
      const State state = body_->apply(cursor);
      if (state == State::Done) rest_->assign(cursor.offset(), cursor.remaining());
      return state;
    }

   private:
    std::unique_ptr<Step> body_;
    std::string* rest_;
    const Pistache::Http::Request* request_;
    const HttpLimits limits_;
  };

  void watch_body_step() {
    auto& body = allSteps.back();
    if (dynamic_cast<BodyWatch*>(body.get()) == nullptr)
      body = std::make_unique<BodyWatch>(std::move(body), rest_, request, limits_);
  }

  const HttpLimits limits_;
  std::string rest_;
};

Reply body_too_large(const Pistache::Http::Request& request, const HttpLimits& limits) {
  return error_reply(
      Code::Request_Entity_Too_Large, "payload_too_large",
      "the body is over " + std::to_string(limits.body_limit_for(request.resource())) + " bytes");
}

Reply head_too_large(const HttpLimits& limits) {
  return error_reply(Code::Request_Header_Fields_Too_Large, "headers_too_large",
                     "the request line and headers are over " +
                         std::to_string(limits.max_header_bytes) + " bytes");
}

Reply malformed_length() {
  return error_reply(Code::Bad_Request, "bad_request",
                     "malformed request: Content-Length is not a number");
}

// A Content-Length that is not digits (Pistache reads "-5" as 2^64 - 5).
bool bad_length(const Pistache::Http::Request& request) {
  const auto raw = request.headers().tryGetRaw("Content-Length");
  if (!raw) return false;
  const std::string& value = raw->value();
  return value.empty() || value.size() > 19 ||
         !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A Content-Length already parsed that says the body is over the limit.
bool declared_too_large(const Pistache::Http::Request& request, const HttpLimits& limits) {
  const auto declared = request.headers().tryGet<Pistache::Http::Header::ContentLength>();
  return declared && declared->value() > limits.body_limit_for(request.resource());
}

// The size of a whole head, however it arrived.
size_t head_size(const Pistache::Http::Request& request) {
  size_t head = request.resource().size() + request.query().as_str().size() + 16;
  for (const auto& [name, raw] : request.headers().rawList())
    head += name.size() + raw.value().size() + 4;
  return head;
}

// Half-closes `peer` once every write queued for it so far is out:
// Pistache writes a connection's queue in order, so an empty write queued
// last resolves after them. The client reads the answer, then the end;
// whatever it still sends is dropped until it hangs up. (The write
// resolves on the peer's reactor, and only while the peer is registered,
// so the descriptor is still this connection's.)
void half_close_after_writes(const std::shared_ptr<Pistache::Tcp::Peer>& peer) {
  std::weak_ptr<Pistache::Tcp::Peer> weak = peer;
  peer->send(Pistache::RawBuffer(std::string(), 0))
      .then(
          [weak](ssize_t) {
            if (const auto alive = weak.lock()) ::shutdown(alive->fd(), SHUT_WR);
          },
          Pistache::Async::IgnoreException);
}

}  // namespace

void HardenedHandler::onConnection(const std::shared_ptr<Pistache::Tcp::Peer>& peer) {
  peer->putData(ParserData, std::make_shared<PipelineParser>(getMaxRequestSize(), limits_));
  peer->putData(kConnectionData, std::make_shared<Connection>());
}

void HardenedHandler::onInput(const char* buffer, size_t length,
                              const std::shared_ptr<Pistache::Tcp::Peer>& peer) {
  const auto connection = std::static_pointer_cast<Connection>(peer->tryGetData(kConnectionData));
  if (!connection || connection->closing) return;
  {
    MutexLock lock(connection->mutex);
    if (connection->serving) {
      // Answered on another thread still: this waits its turn. A client
      // that sends more than one whole request meanwhile is not read further.
      if (connection->held.size() + length > limits_.largest() + limits_.max_header_bytes) {
        connection->closing = true;
        connection->held.clear();
        ::shutdown(peer->fd(), SHUT_RD);
        return;
      }
      connection->held.append(buffer, length);
      return;
    }
    connection->serving = true;
  }
  read(std::string_view(buffer, length), connection, peer);
}

void HardenedHandler::read(std::string_view input, const std::shared_ptr<Connection>& connection,
                           const std::shared_ptr<Pistache::Tcp::Peer>& peer) {
  const auto parser = std::static_pointer_cast<PipelineParser>(getParser(peer));
  Connection& state = *connection;
  const auto give_up_turn = [&state] {
    MutexLock lock(state.mutex);
    state.serving = false;
  };
  if (!parser) return give_up_turn();
  Pistache::Http::Request& request = parser->request;
  std::string owned;  // the input past the first request, once there is some
  while (!state.closing) {
    Served served = Served::kAnswered;
    try {
      const bool in_head = parser->step()->id() != BodyStep::Id;
      if (!parser->feed(input.data(), input.size())) {
        refuse(peer, state, request.version(),
               in_head ? head_too_large(limits_) : body_too_large(request, limits_));
        break;
      }
      if (in_head) state.head_bytes += input.size();
      if (parser->parse() != State::Done) {
        if (auto refusal = refusal_while_reading(*parser, state)) {
          refuse(peer, state, request.version(), *refusal);
        }
        break;
      }
      if (bad_length(request)) {
        refuse(peer, state, request.version(), malformed_length());
        break;
      }
      if (head_size(request) > limits_.max_header_bytes) {
        refuse(peer, state, request.version(), head_too_large(limits_));
        break;
      }
      {
        // Held before the request is served: its answer may come at once
        // from another thread, which then reads on from here.
        MutexLock lock(state.mutex);
        state.held = parser->take_rest();
      }
      served = dispatch(request, connection, peer);
      parser->reset();
    } catch (...) {
      refuse(peer, state, request.version(), refusal_for(request, std::current_exception()));
      break;
    }
    if (served == Served::kLater) return;  // the answering thread has the turn
    if (state.last) {
      end_after_answer(peer, state);
      break;
    }
    {
      MutexLock lock(state.mutex);
      if (state.held.empty()) {
        state.serving = false;
        return;
      }
      owned = std::exchange(state.held, {});
    }
    // The next pipelined request, answered after this one.
    state.head_bytes = 0;
    input = owned;
  }
  give_up_turn();
}

void HardenedHandler::resume(const std::weak_ptr<Pistache::Tcp::Peer>& peer,
                             const std::shared_ptr<Connection>& connection) {
  if (connection->last) {
    if (const auto alive = peer.lock()) end_after_answer(alive, *connection);
    MutexLock lock(connection->mutex);
    connection->serving = false;
    return;
  }
  std::string input;
  {
    MutexLock lock(connection->mutex);
    if (connection->held.empty()) {
      connection->serving = false;
      return;
    }
    input = std::exchange(connection->held, {});
  }
  // Read here, with the connection's turn: whatever answers the next
  // requests queues its writes behind this answer's, and the event
  // streams' writes run on the reactor whatever thread opens them.
  if (const auto alive = peer.lock()) {
    read(input, connection, alive);
  } else {
    MutexLock lock(connection->mutex);
    connection->serving = false;
  }
}

std::optional<Reply> HardenedHandler::refusal_while_reading(Pistache::Http::RequestParser& parser,
                                                            const Connection& connection) const {
  if (parser.step()->id() != BodyStep::Id) {
    if (connection.head_bytes > limits_.max_header_bytes) return head_too_large(limits_);
    return std::nullopt;
  }
  if (bad_length(parser.request)) return malformed_length();
  if (declared_too_large(parser.request, limits_)) return body_too_large(parser.request, limits_);
  return std::nullopt;
}

Served HardenedHandler::dispatch(Pistache::Http::Request& request,
                                 const std::shared_ptr<Connection>& connection,
                                 const std::shared_ptr<Pistache::Tcp::Peer>& peer) {
  Pistache::Http::ResponseWriter response(request.version(), transport(), this, peer);
  request.copyAddress(peer->address());
  // HTTP/1.1 keeps the connection unless told otherwise (RFC 9112 §9.3).
  using Pistache::Http::ConnectionControl;
  const auto asked = request.headers().tryGet<Pistache::Http::Header::Connection>();
  ConnectionControl control = request.version() == Pistache::Http::Version::Http11
                                  ? ConnectionControl::KeepAlive
                                  : ConnectionControl::Close;
  if (asked && asked->control() != ConnectionControl::Ext) control = asked->control();
  response.headers().add<Pistache::Http::Header::Connection>(control);
  peer->setIdle(false);
  connection->head_bytes = 0;
  connection->last = control == ConnectionControl::Close;
  return sink_->serve(request, std::move(response), transport(),
                      [this, weak = std::weak_ptr(peer), connection] { resume(weak, connection); });
}

Reply HardenedHandler::refusal_for(const Pistache::Http::Request& request,
                                   std::exception_ptr error) const {
  try {
    std::rethrow_exception(std::move(error));
  } catch (const Pistache::Http::HttpError& refused) {
    // The parser's own refusals: 400 for a broken request line or chunk,
    // 415 for a media type it cannot read, 501 for a transfer coding it
    // does not know.
    const int code = refused.code() >= 400 && refused.code() < 600 && refused.code() != 500
                         ? refused.code()
                         : 400;
    std::string error_code = "bad_request";
    if (code == 415) error_code = "unsupported_media_type";
    if (code == 501) error_code = "not_implemented";
    return error_reply(static_cast<Code>(code), error_code,
                       "malformed request: " + refused.reason());
  } catch (const std::exception& refused) {
    // A header value Pistache could not read (Content-Length, Host, Date,
    // Cookie, Cache-Control...): the client's mistake, never a 500.
    if (bad_length(request)) return malformed_length();
    if (declared_too_large(request, limits_)) return body_too_large(request, limits_);
    return error_reply(Code::Bad_Request, "bad_request",
                       std::string("malformed request: ") + refused.what());
  } catch (...) {
    return error_reply(Code::Bad_Request, "bad_request", "malformed request");
  }
}

void HardenedHandler::refuse(const std::shared_ptr<Pistache::Tcp::Peer>& peer,
                             Connection& connection, Pistache::Http::Version version,
                             const Reply& reply) {
  connection.closing = true;
  getParser(peer)->reset();
  sink_->refused(static_cast<int>(reply.code));
  Pistache::Http::ResponseWriter response(version, transport(), this, peer);
  response.headers().add<Pistache::Http::Header::Connection>(
      Pistache::Http::ConnectionControl::Close);
  response.send(reply.code, reply.body, json_mime());
  if (!connection.streaming.load()) half_close_after_writes(peer);
}

void HardenedHandler::end_after_answer(const std::shared_ptr<Pistache::Tcp::Peer>& peer,
                                       Connection& connection) {
  connection.closing = true;
  {
    MutexLock lock(connection.mutex);
    connection.held.clear();
  }
  if (!connection.streaming.load()) half_close_after_writes(peer);
}

void HardenedHandler::answer_streams(Pistache::Tcp::Peer& peer) {
  if (const auto connection =
          std::static_pointer_cast<Connection>(peer.tryGetData(kConnectionData)))
    connection->streaming = true;
}

void HardenedHandler::stream_ended(const std::shared_ptr<Pistache::Tcp::Peer>& peer) {
  const auto connection = std::static_pointer_cast<Connection>(peer->tryGetData(kConnectionData));
  if (connection && connection->last) half_close_after_writes(peer);
}

}  // namespace dtq::api
