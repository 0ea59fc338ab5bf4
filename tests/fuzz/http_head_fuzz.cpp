// The HTTP head and body limits path, and the REST face behind it: any
// bytes on a connection to a real ApiServer (its reader over Pistache's
// parser, the route table, the handlers), on loopback, over the in-memory
// fakes, with small limits (a 256-byte body, a 1 KiB head). Each answer is
// a 2xx, a 4xx, or 501 for a method or coding it does not know; never any
// other 5xx, never a crash. The OpenAPI document is a stub here (it is
// generated at build time in the product; tests/openapi/ checks it).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "dtq/api/api_server.hpp"
#include "dtq/core/job_service.hpp"
#include "fakes/memory_job_queue.hpp"
#include "fakes/memory_job_type_registry.hpp"
#include "fakes/memory_payload_validator.hpp"
#include "fakes/memory_progress_query.hpp"
#include "fakes/memory_result_store.hpp"
#include "fakes/memory_status_store.hpp"

namespace dtq::api {
std::string_view openapi_document() {
  return R"({"openapi":"3.1.0"})";
}
}  // namespace dtq::api

namespace {

void require(bool holds) {
  if (!holds) std::abort();
}

struct Server {
  dtq::fakes::MemoryJobQueue queue;
  dtq::fakes::MemoryStatusStore statuses;
  dtq::fakes::MemoryResultStore results;
  dtq::fakes::MemoryPayloadValidator validator;
  dtq::fakes::MemoryProgressQuery progress;
  dtq::fakes::MemoryJobTypeRegistry registry;
  dtq::JobService jobs{queue, statuses, results, validator, progress};
  std::unique_ptr<dtq::api::ApiServer> api;

  Server() {
    // Only {"n":1} is accepted: every accepted submit stays in the
    // in-memory queue for good, so the rest stop at validation (400).
    validator.own("echo", [](std::string_view payload) -> dtq::StatusOr<dtq::ValidationOutcome> {
      if (payload == R"({"n":1})") return dtq::ValidationOutcome{std::string(payload), {}};
      return dtq::ValidationOutcome{{}, {dtq::FieldError{"/n", "must be 1"}}};
    });
    dtq::api::ApiSettings settings;
    settings.body_limit = 256;
    settings.max_header_bytes = 1024;
    settings.threads = 1;
    settings.submit_rate_per_second = 0;  // no limit
    // An event stream the client left is noticed at the next heartbeat:
    // few and often, or they hold every descriptor of this process.
    settings.max_sse_streams = 16;
    settings.sse_heartbeat = std::chrono::seconds(1);
    api = std::make_unique<dtq::api::ApiServer>(settings, jobs, statuses, registry);
    require(api->start().ok());
    api->set_ready(true);
  }
};

uint16_t server_port() {
  static Server server;
  return server.api->port();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(server_port());
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // A connection refused for want of a descriptor or a port is the
  // harness's, not a finding: wait for the server to let go of some.
  int fd = -1;
  for (int attempt = 0; fd < 0; ++attempt) {
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      close(fd);
      fd = -1;
    }
    if (fd < 0) {
      if (attempt == 500) {
        std::perror("http_head: cannot connect");
        std::abort();
      }
      usleep(10000);
    }
  }
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
    // An unfinished request waits for more (the server keeps a half-closed
    // connection): 100 ms, as every answer here comes within a few.
    if (poll(&waiting, 1, 100) <= 0) break;
    const ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) break;
    received.append(chunk, static_cast<size_t>(n));
  }
  close(fd);
  // Each response in turn, by its Content-Length (a refusal's message may
  // quote the request, "HTTP/1.5555" and all).
  for (size_t at = 0; at < received.size();) {
    if (received.compare(at, 7, "HTTP/1.") != 0 || at + 12 > received.size()) break;
    const std::string code = received.substr(at + 9, 3);
    if (code[0] == '5' && code != "501") {
      std::fprintf(stderr, "http_head: answered %s:\n%s\n", code.c_str(), received.c_str() + at);
      std::abort();
    }
    const size_t head_end = received.find("\r\n\r\n", at);
    if (head_end == std::string::npos) break;
    size_t length = 0;
    const size_t field = received.find("Content-Length: ", at);
    if (field != std::string::npos && field < head_end)
      length = std::strtoul(received.c_str() + field + 16, nullptr, 10);
    at = head_end + 4 + length;
  }
  return 0;
}
