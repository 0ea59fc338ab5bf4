// HardenedHandler: how the REST face reads requests off a connection. It
// takes over Pistache's own reading (onConnection and onInput, the same
// steps through Pistache's parser) because Pistache 0.0.5 answers a header
// it cannot parse (a negative Content-Length, a bad Host port, Date or
// Cookie) with a 500 carrying the exception's text, answers its other
// refusals in plain text, has no limit on the size of a request's head, and
// closes HTTP/1.1 connections unless asked to keep them. Here every refusal
// is a 4xx in the JSON error shape and ends the connection, the head is
// limited (431), a declared body over the limit is refused before it is
// read (413), Content-Length must be digits (a server and a proxy in front
// must never disagree on where a body ends), HTTP/1.1 keeps the
// connection open by default, and pipelined requests (RFC 9112 §9.3.2) are
// answered, in order: Pistache's reading kept the first request of a read
// and dropped the rest. A whole request goes to the RequestSink, which may
// answer it from another thread; the connection's next request waits for
// that answer, so answers stay in order. A request that asks to close
// (`Connection: close`, or HTTP/1.0 without keep-alive) is the
// connection's last (RFC 9112 §9.6): once its answer is out the server
// half-closes, and what the client sent after it is not read; Pistache
// 0.0.5 only sets the header.
//
// Thread-safety: Pistache copies the handler per reactor thread and calls
// each copy from its own thread. A connection's requests are read one at a
// time, by whoever holds its turn: the reactor, or the thread that answered
// the previous request and reads on what arrived meanwhile (Pistache queues
// every write, so answers leave in the order they were sent). The sink is
// shared by every copy and must be thread-safe. Ownership: borrows the sink, which must outlive the
// endpoint the handler is set on.
#pragma once

#include <pistache/http.h>
#include <pistache/peer.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "dtq/core/thread_annotations.hpp"
#include "http_reply.hpp"

namespace dtq::api {

struct HttpLimits {
  size_t body_limit = 1 << 20;         // bytes of request body; more is 413
  size_t max_header_bytes = 16 << 10;  // request line and headers; more is 431
  // The body limit of the one route that takes many items at once (the
  // batch submit), whose path is `bulk_path` exactly; 0: none.
  size_t bulk_body_limit = 0;
  std::string_view bulk_path;  // static storage

  // The body limit of a request for `path`.
  [[nodiscard]] size_t body_limit_for(std::string_view path) const noexcept {
    return bulk_body_limit != 0 && path == bulk_path ? bulk_body_limit : body_limit;
  }
  // The largest body any request may have.
  [[nodiscard]] size_t largest() const noexcept { return std::max(body_limit, bulk_body_limit); }
};

// What a RequestSink did with a request.
enum class Served {
  kAnswered,  // the answer was sent before serve() returned
  kLater,     // another thread answers, then calls `answered`
};

class RequestSink {
 public:
  virtual ~RequestSink() = default;
  // A whole, well-formed request; `transport` is the reactor it arrived on.
  // kLater: the sink took `response` to another thread, which must call
  // `answered` once it sent the answer: the connection reads its next
  // request only then, on that thread.
  virtual Served serve(const Pistache::Http::Request& request,
                       Pistache::Http::ResponseWriter response, Pistache::Tcp::Transport* transport,
                       std::function<void()> answered) = 0;
  // A request refused while it was read, with the code it was answered.
  virtual void refused(int code) = 0;
};

class HardenedHandler final : public Pistache::Http::Handler {
 public:
  HTTP_PROTOTYPE(HardenedHandler)
  HardenedHandler(HttpLimits limits, RequestSink& sink) : limits_(limits), sink_(&sink) {}

  // Pistache's entry point, which only its own reading (replaced here) calls.
  void onRequest(const Pistache::Http::Request& request,
                 Pistache::Http::ResponseWriter response) override {
    (void)sink_->serve(request, std::move(response), transport(), [] {});
  }
  void onConnection(const std::shared_ptr<Pistache::Tcp::Peer>& peer) override;
  void onInput(const char* buffer, size_t length,
               const std::shared_ptr<Pistache::Tcp::Peer>& peer) override;

  // For an answer that goes on after the sink answered (an event stream):
  // the connection is the stream's until it ends, so it is not half-closed
  // after the stream's head, nor after a later request's answer or
  // refusal: the stream's next writes would fail. Any thread; before the
  // sink answers.
  static void answer_streams(Pistache::Tcp::Peer& peer);
  // The stream on `peer` ended: the connection closes now if its request
  // asked to. On the connection's reactor.
  static void stream_ended(const std::shared_ptr<Pistache::Tcp::Peer>& peer);

 private:
  // What this handler keeps per connection, beside Pistache's parser.
  struct Connection {
    size_t head_bytes = 0;  // bytes of the current request's head so far
    bool closing = false;   // refused or last: the rest of the input is dropped
    bool last = false;      // the request being served asked to close
    // An event stream was answered here (answer_streams): it writes on
    // until it ends, so the connection is not half-closed under it.
    std::atomic<bool> streaming{false};
    Mutex mutex;  // the reactor and a thread answering for it
    // A request is being served: input waits in `held` until its answer
    // is out.
    bool serving DTQ_GUARDED_BY(mutex) = false;
    std::string held DTQ_GUARDED_BY(mutex);
  };

  // Reads `input`: every whole request in it is served, in order, until
  // one is answered on another thread; a partial one waits in the parser
  // for the next read. The caller holds the connection's serving turn,
  // which this gives up when it runs out of input.
  void read(std::string_view input, const std::shared_ptr<Connection>& connection,
            const std::shared_ptr<Pistache::Tcp::Peer>& peer);
  // A request served on another thread was answered: the input held
  // meanwhile is read, on that thread.
  void resume(const std::weak_ptr<Pistache::Tcp::Peer>& peer,
              const std::shared_ptr<Connection>& connection);

  // A request still being read that is refused already: a head over the
  // limit, or a body whose length is malformed or over the limit.
  std::optional<Reply> refusal_while_reading(Pistache::Http::RequestParser& parser,
                                             const Connection& connection) const;
  // Hands a whole request to the sink, on a connection kept alive unless
  // the request or its version says otherwise (then it is the last).
  Served dispatch(Pistache::Http::Request& request, const std::shared_ptr<Connection>& connection,
                  const std::shared_ptr<Pistache::Tcp::Peer>& peer);
  // What a parser's exception is answered with.
  [[nodiscard]] Reply refusal_for(const Pistache::Http::Request& request,
                                  std::exception_ptr error) const;
  // Answers `reply` and ends the connection: the stream may be out of step
  // (an unread body, a broken head), so nothing more is read from it. (An
  // event stream open on it keeps it until the stream ends.)
  void refuse(const std::shared_ptr<Pistache::Tcp::Peer>& peer, Connection& connection,
              Pistache::Http::Version version, const Reply& reply);
  // The last request's answer is out (or, for a stream, begun): nothing
  // more is read, and unless the answer streams on the connection
  // half-closes once its writes are.
  static void end_after_answer(const std::shared_ptr<Pistache::Tcp::Peer>& peer,
                               Connection& connection);

  HttpLimits limits_;
  RequestSink* sink_;
};

}  // namespace dtq::api
