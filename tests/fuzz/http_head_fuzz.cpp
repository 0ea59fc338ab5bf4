// The HTTP head and body limits path: any bytes on a connection to the
// REST face's reader (HardenedHandler over Pistache's parser, on a real
// endpoint on loopback, with the server's limits made small) are answered
// with a whole request handed on, or a 4xx in the JSON error shape (or 501
// for a method it does not know), and the connection ends; never a 5xx
// from the reader, never a crash. The request sink answers 200.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pistache/endpoint.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "http_connection.hpp"

namespace {

void require(bool holds) {
  if (!holds) std::abort();
}

class OkSink final : public dtq::api::RequestSink {
 public:
  void serve(const Pistache::Http::Request&, Pistache::Http::ResponseWriter response,
             Pistache::Tcp::Transport*) override {
    response.send(Pistache::Http::Code::Ok, "{}", dtq::api::json_mime());
  }
  void refused(int) override {}
};

uint16_t server_port() {
  static OkSink sink;
  static std::unique_ptr<Pistache::Http::Endpoint> endpoint = [] {
    auto made = std::make_unique<Pistache::Http::Endpoint>(
        Pistache::Address("127.0.0.1", Pistache::Port(0)));
    const dtq::api::HttpLimits limits{.body_limit = 256, .max_header_bytes = 1024};
    made->init(Pistache::Http::Endpoint::options().threads(1).maxRequestSize(
        limits.body_limit + limits.max_header_bytes));
    made->setHandler(std::make_shared<dtq::api::HardenedHandler>(limits, sink));
    made->serveThreaded();
    return made;
  }();
  return static_cast<uint16_t>(endpoint->getPort());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(server_port());
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  require(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  for (size_t sent = 0; sent < size;) {
    const ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server refused and closed: its answer is still readable
    sent += static_cast<size_t>(n);
  }
  shutdown(fd, SHUT_WR);
  std::string received;
  char chunk[4096];
  for (;;) {
    pollfd waiting{fd, POLLIN, 0};
    if (poll(&waiting, 1, 300) <= 0) break;  // an unfinished request waits for more: fine
    const ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) break;
    received.append(chunk, static_cast<size_t>(n));
  }
  close(fd);
  // Every status line answered: 200 from the sink, 4xx or 501 from the reader.
  for (size_t at = received.find("HTTP/1."); at != std::string::npos;
       at = received.find("HTTP/1.", at + 1)) {
    if (at + 12 > received.size()) break;
    const std::string code = received.substr(at + 9, 3);
    if (code.size() == 3 && code[0] == '5') require(code == "501");
  }
  return 0;
}
