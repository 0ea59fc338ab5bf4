#include "http_listener.hpp"

#include <pistache/peer.h>
#include <pistache/transport.h>
#include <spdlog/spdlog.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <string_view>
#include <utility>
#include <vector>

namespace dtq::api {
namespace {

using Pistache::Polling::NotifyOn;

// What Pistache's transport throws for a writable event with nothing queued.
constexpr std::string_view kNothingToWrite = "could not find write data";

// How often connections are checked for a request that does not come.
constexpr auto kTimeoutCheck = std::chrono::milliseconds(500);

class GuardedTransport final : public Pistache::Tcp::Transport {
 public:
  GuardedTransport(const std::shared_ptr<Pistache::Tcp::Handler>& handler,
                   const HttpListenerSettings& settings)
      : Transport(handler), handler_(handler), settings_(settings) {}
  GuardedTransport(const GuardedTransport&) = delete;
  GuardedTransport& operator=(const GuardedTransport&) = delete;
  ~GuardedTransport() override {
    if (timer_ >= 0) ::close(timer_);
  }

  void registerPoller(Pistache::Polling::Epoll& poller) override {
    Transport::registerPoller(poller);
    timer_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (timer_ < 0) {
      spdlog::error("HTTP: no timer for request timeouts: {}", std::strerror(errno));
      return;
    }
    const auto period = std::chrono::duration_cast<std::chrono::nanoseconds>(kTimeoutCheck);
    itimerspec spec{};
    spec.it_interval.tv_nsec = period.count();
    spec.it_value.tv_nsec = period.count();
    ::timerfd_settime(timer_, 0, &spec, nullptr);
    poller.addFd(timer_, Pistache::Flags<NotifyOn>(NotifyOn::Read), Pistache::Polling::Tag(timer_));
  }

  void onReady(const Pistache::Aio::FdSet& events) override {
    for (const auto& event : events) {
      if (timer_ >= 0 && event.getTag() == Pistache::Polling::Tag(timer_)) {
        uint64_t expirations = 0;
        if (::read(timer_, &expirations, sizeof expirations) > 0) close_late_peers();
        continue;
      }
      handle_one(event);
    }
  }

  std::shared_ptr<Pistache::Aio::Handler> clone() const override {
    return std::make_shared<GuardedTransport>(handler_->clone(), settings_);
  }

 private:
  // Pistache's own handling of one event, which may throw.
  void handle_one(const Pistache::Aio::FdSet::Entry& event) {
    Pistache::Polling::Event copy(event.getTag());
    if (event.isReadable()) copy.flags.setFlag(NotifyOn::Read);
    if (event.isWritable()) copy.flags.setFlag(NotifyOn::Write);
    if (event.isHangup()) copy.flags.setFlag(NotifyOn::Hangup);
    std::vector<Pistache::Polling::Event> one;
    one.push_back(copy);
    try {
      Transport::onReady(Pistache::Aio::FdSet(std::move(one)));
    } catch (const std::exception& e) {
      const auto fd = static_cast<Pistache::Fd>(event.getTag().value());
      if (event.isWritable() &&
          std::string_view(e.what()).find(kNothingToWrite) != std::string_view::npos) {
        watch_reads_only(fd);
        return;
      }
      spdlog::warn("HTTP: an event on descriptor {} failed and was dropped: {}", fd, e.what());
    }
  }

  // What Pistache does once a connection's queue is written: the
  // connection stops reporting writable. It may be gone meanwhile.
  void watch_reads_only(Pistache::Fd fd) {
    try {
      reactor()->modifyFd(key(), fd, NotifyOn::Read, Pistache::Polling::Mode::Edge);
    } catch (const std::exception&) {
    }
  }

  // Endpoint's timeouts: a connection idle between requests past the
  // keep-alive timeout is closed; one whose request's head or body is late
  // is answered 408, then closed.
  void close_late_peers() {
    using Pistache::Http::Private::BodyStep;
    using Pistache::Http::Private::HeadersStep;
    using Pistache::Http::Private::RequestLineStep;
    const auto now = std::chrono::steady_clock::now();
    std::vector<std::shared_ptr<Pistache::Tcp::Peer>> late;
    for (const auto& entry : peers) {
      const auto& peer = entry.second;
      const auto parser = Pistache::Http::Handler::getParser(peer);
      if (!parser) continue;
      const auto elapsed =
          std::chrono::duration_cast<std::chrono::milliseconds>(now - parser->time());
      const auto step = parser->step()->id();
      bool is_late = false;
      if (peer->isIdle()) {
        is_late = elapsed > settings_.keepalive_timeout;
      } else if (step == RequestLineStep::Id || step == HeadersStep::Id) {
        is_late = elapsed > settings_.header_timeout || elapsed > settings_.body_timeout;
      } else if (step == BodyStep::Id) {
        is_late = elapsed > settings_.body_timeout;
      }
      if (is_late) late.push_back(peer);
    }
    for (const auto& peer : late) close_peer(peer);
  }

  void close_peer(const std::shared_ptr<Pistache::Tcp::Peer>& peer) {
    if (peer->isIdle()) {
      remove(peer);
      return;
    }
    Pistache::Http::ResponseWriter response(Pistache::Http::Version::Http11, this,
                                            static_cast<Pistache::Http::Handler*>(handler_.get()),
                                            peer);
    response.send(Pistache::Http::Code::Request_Timeout)
        .then([this, peer](ssize_t) { remove(peer); },
              [this, peer](std::exception_ptr) { remove(peer); });
  }

  // Pistache's removal throws for a peer already gone.
  void remove(const std::shared_ptr<Pistache::Tcp::Peer>& peer) {
    try {
      removePeer(peer);
    } catch (const std::exception&) {
    }
  }

  const std::shared_ptr<Pistache::Tcp::Handler> handler_;
  const HttpListenerSettings settings_;
  int timer_ = -1;
};

}  // namespace

Status HttpListener::start(std::shared_ptr<Pistache::Http::Handler> handler) {
  try {
    handler->setMaxRequestSize(settings_.max_request_bytes);
    handler->setMaxResponseSize(settings_.max_response_bytes);
    listener_ = std::make_unique<Pistache::Tcp::Listener>(
        Pistache::Address(settings_.bind_address, Pistache::Port(settings_.port)));
    listener_->init(static_cast<size_t>(settings_.threads),
                    Pistache::Flags<Pistache::Tcp::Options>(Pistache::Tcp::Options::ReuseAddr));
    listener_->setTransportFactory([handler, settings = settings_] {
      return std::make_shared<GuardedTransport>(handler, settings);
    });
    listener_->setHandler(handler);
    listener_->bind();
    listener_->runThreaded();
    port_.store(static_cast<uint16_t>(listener_->getPort()));
  } catch (const std::exception& e) {
    listener_.reset();
    return unavailable("cannot listen on " + settings_.bind_address + ":" +
                       std::to_string(settings_.port) + ": " + e.what());
  }
  return {};
}

void HttpListener::stop() {
  if (listener_) {
    listener_->shutdown();
    listener_.reset();
  }
}

}  // namespace dtq::api
