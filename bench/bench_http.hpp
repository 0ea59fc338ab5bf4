// The benches' HTTP client: one blocking HTTP/1.1 keep-alive connection to
// a dtq API on loopback, just enough of HTTP for the figures (a response
// with a Content-Length body, or an event stream read until some text), so
// that what is measured is the server, not a client library. Plus the
// requests, the arithmetic and the submit-then-follow phase the benches
// share.
//
// Thread-safety: a Connection is used by one thread at a time; the free
// functions are pure.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace dtq::bench {

using SteadyClock = std::chrono::steady_clock;

inline double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  return sorted[static_cast<size_t>(p * static_cast<double>(sorted.size() - 1))];
}

inline double ms_since(SteadyClock::time_point start) {
  return std::chrono::duration<double, std::milli>(SteadyClock::now() - start).count();
}

// One HTTP/1.1 keep-alive connection to the server, blocking.
class Connection {
 public:
  explicit Connection(int port) : port_(port) {}
  ~Connection() { close_socket(); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  struct Response {
    int status = 0;
    std::string body;
  };

  // Sends `request` and reads one response with a Content-Length body;
  // nothing when the connection failed.
  std::optional<Response> exchange(const std::string& request) {
    if (fd_ < 0 && !open_socket()) return std::nullopt;
    if (!send_all(request)) return fail();
    size_t head_end;
    while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!read_more()) return fail();
    }
    Response response;
    if (buffer_.compare(0, 5, "HTTP/") != 0 || buffer_.size() < 12) return fail();
    response.status = std::atoi(buffer_.c_str() + 9);
    size_t length = 0;
    const std::string head = buffer_.substr(0, head_end);
    for (size_t at = head.find("\r\n"); at != std::string::npos; at = head.find("\r\n", at + 2)) {
      if (strncasecmp(head.c_str() + at + 2, "Content-Length:", 15) == 0) {
        length = std::strtoull(head.c_str() + at + 17, nullptr, 10);
      }
    }
    while (buffer_.size() < head_end + 4 + length) {
      if (!read_more()) return fail();
    }
    response.body = buffer_.substr(head_end + 4, length);
    buffer_.erase(0, head_end + 4 + length);
    return response;
  }

  // Sends `request` and reads until `text` shows up in what comes back (an
  // event stream); false when the connection ended first.
  bool send_and_wait_for(const std::string& request, const std::string& text) {
    if (fd_ < 0 && !open_socket()) return false;
    if (!send_all(request)) {
      close_socket();
      return false;
    }
    while (buffer_.find(text) == std::string::npos) {
      if (!read_more()) {
        close_socket();
        return false;
      }
    }
    return true;
  }

  void close_socket() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    buffer_.clear();
  }

 private:
  bool open_socket() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port_));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      close_socket();
      return false;
    }
    const int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return true;
  }
  bool send_all(const std::string& bytes) {
    for (size_t sent = 0; sent < bytes.size();) {
      const ssize_t n = send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }
  bool read_more() {
    pollfd waiting{fd_, POLLIN, 0};
    if (poll(&waiting, 1, 30'000) <= 0) return false;
    char chunk[16384];
    const ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }
  std::optional<Response> fail() {
    close_socket();
    return std::nullopt;
  }

  const int port_;
  int fd_ = -1;
  std::string buffer_;
};

// POST /v1/jobs of `body` with the bearer `token`.
inline std::string submit_request(const std::string& token, const std::string& body) {
  return "POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\nAuthorization: "
         "Bearer " +
         token +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

// GET `path`, with the bearer `token` unless it is empty.
inline std::string get_request(const std::string& path, const std::string& token = "") {
  return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n" +
         (token.empty() ? std::string() : "Authorization: Bearer " + token + "\r\n") + "\r\n";
}

// The job id of a 202 answer's body.
inline std::string job_id_of(const std::string& body) {
  const size_t at = body.find("\"job_id\":\"");
  return at == std::string::npos ? std::string() : body.substr(at + 10, 36);
}

struct FollowPhase {
  size_t followed = 0;
  size_t failed = 0;
  std::vector<double> submit_ms;
  std::vector<double> complete_ms;
};

// `followers` clients, each: send `submit` (a POST /v1/jobs), then follow
// the job's event stream on a new connection until the completed event;
// again until `seconds` pass. `token` goes with the stream's GET.
inline FollowPhase run_followers(int port, int followers, double seconds, const std::string& submit,
                                 const std::string& token) {
  std::vector<FollowPhase> per_client(static_cast<size_t>(followers));
  const std::string& request = submit;
  const auto deadline = SteadyClock::now() + std::chrono::duration_cast<SteadyClock::duration>(
                                                 std::chrono::duration<double>(seconds));
  std::vector<std::thread> clients;
  for (auto& mine : per_client) {
    clients.emplace_back([&mine, &request, &token, port, deadline] {
      Connection submits(port);
      while (SteadyClock::now() < deadline) {
        const auto sent = SteadyClock::now();
        const auto response = submits.exchange(request);
        const std::string id =
            response && response->status == 202 ? job_id_of(response->body) : std::string();
        if (id.empty()) {
          ++mine.failed;
          continue;
        }
        const double submitted = ms_since(sent);
        Connection stream(port);
        if (stream.send_and_wait_for(get_request("/v1/jobs/" + id + "/events", token),
                                     R"("state":"completed")")) {
          mine.complete_ms.push_back(ms_since(sent));
          mine.submit_ms.push_back(submitted);
          ++mine.followed;
        } else {
          ++mine.failed;
        }
      }
    });
  }
  for (auto& client : clients) client.join();
  FollowPhase total;
  for (auto& mine : per_client) {
    total.followed += mine.followed;
    total.failed += mine.failed;
    total.submit_ms.insert(total.submit_ms.end(), mine.submit_ms.begin(), mine.submit_ms.end());
    total.complete_ms.insert(total.complete_ms.end(), mine.complete_ms.begin(),
                             mine.complete_ms.end());
  }
  std::sort(total.submit_ms.begin(), total.submit_ms.end());
  std::sort(total.complete_ms.begin(), total.complete_ms.end());
  return total;
}

}  // namespace dtq::bench
