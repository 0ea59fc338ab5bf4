// HttpListener (api/src/http_listener.hpp): a connection that reports
// writable with nothing queued, which ended the process under Pistache's own
// transport, leaves the server serving; and Endpoint's timeouts still hold.
#include "http_listener.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pistache/http.h>
#include <pistache/peer.h>
#include <pistache/transport.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

namespace dtq::api {
namespace {

using namespace std::chrono_literals;

// GET /arm answers, then, once the answer is written (Pistache has dropped
// the connection's write queue), asks the reactor to report the connection
// writable: the event Pistache's transport throws on. Anything else: "ok".
class ArmingHandler final : public Pistache::Http::Handler {
 public:
  HTTP_PROTOTYPE(ArmingHandler)

  void onRequest(const Pistache::Http::Request& request,
                 Pistache::Http::ResponseWriter response) override {
    if (request.resource() != "/arm") {
      response.send(Pistache::Http::Code::Ok, "ok");
      return;
    }
    Pistache::Tcp::Transport* reactor = transport();
    const int fd = response.peer()->fd();
    response.send(Pistache::Http::Code::Ok, "armed")
        .then(
            [reactor, fd](ssize_t) {
              reactor->reactor()->modifyFd(
                  reactor->key(), fd,
                  Pistache::Polling::NotifyOn::Read | Pistache::Polling::NotifyOn::Write,
                  Pistache::Polling::Mode::Edge);
            },
            Pistache::Async::IgnoreException);
  }
};

int connect_to(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  return fd;
}

// What arrives on `fd` until the server closes it or `quiet` passes with nothing.
std::string read_until_quiet(int fd, std::chrono::milliseconds quiet) {
  std::string received;
  char chunk[4096];
  for (;;) {
    pollfd waiting{fd, POLLIN, 0};
    if (::poll(&waiting, 1, static_cast<int>(quiet.count())) <= 0) break;
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) break;
    received.append(chunk, static_cast<size_t>(n));
  }
  return received;
}

std::string exchange(uint16_t port, const std::string& request) {
  const int fd = connect_to(port);
  EXPECT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  std::string answer = read_until_quiet(fd, 300ms);
  ::close(fd);
  return answer;
}

TEST(HttpListener, AWritableEventWithNothingQueuedLeavesTheServerServing) {
  HttpListener listener(HttpListenerSettings{});
  ASSERT_TRUE(listener.start(Pistache::Http::make_handler<ArmingHandler>()).ok());
  for (int round = 0; round < 3; ++round) {
    const std::string armed =
        exchange(listener.port(), "GET /arm HTTP/1.1\r\nHost: localhost\r\n\r\n");
    ASSERT_NE(armed.find("armed"), std::string::npos) << armed;
  }
  // Pistache's own transport has ended the process by now (std::terminate
  // from a reactor thread); this one still answers.
  const std::string answer = exchange(listener.port(), "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
  EXPECT_NE(answer.find("HTTP/1.1 200"), std::string::npos) << answer;
  listener.stop();
}

TEST(HttpListener, AHeadThatDoesNotArriveInTimeIsAnswered408AndClosed) {
  HttpListenerSettings settings;
  settings.header_timeout = 200ms;
  HttpListener listener(settings);
  ASSERT_TRUE(listener.start(Pistache::Http::make_handler<ArmingHandler>()).ok());
  const int fd = connect_to(listener.port());
  const std::string partial = "GET / HTTP/1.1\r\nHost: local";
  ASSERT_EQ(::send(fd, partial.data(), partial.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(partial.size()));
  // The check runs every 500 ms: within 3 s the answer and the close came.
  const std::string answer = read_until_quiet(fd, 3s);
  ::close(fd);
  EXPECT_NE(answer.find("HTTP/1.1 408"), std::string::npos) << answer;
}

TEST(HttpListener, AnIdleKeptAliveConnectionIsClosedAfterItsTimeout) {
  HttpListenerSettings settings;
  settings.keepalive_timeout = 200ms;
  HttpListener listener(settings);
  ASSERT_TRUE(listener.start(Pistache::Http::make_handler<ArmingHandler>()).ok());
  const int fd = connect_to(listener.port());
  const std::string request = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
  ASSERT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  const auto opened = std::chrono::steady_clock::now();
  // The answer, then the end of the stream (recv 0), not a quiet 5 s.
  const std::string answer = read_until_quiet(fd, 5s);
  ::close(fd);
  EXPECT_NE(answer.find("HTTP/1.1 200"), std::string::npos) << answer;
  EXPECT_LT(std::chrono::steady_clock::now() - opened, 4s);
}

}  // namespace
}  // namespace dtq::api
