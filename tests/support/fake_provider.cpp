#include "support/fake_provider.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <poll.h>
#include <simdjson.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <memory>
#include <stdexcept>
#include <system_error>
#include <vector>

#include "support/eventually.hpp"

#ifndef DTQ_SOURCE_DIR
#error "DTQ_SOURCE_DIR must be defined (tests/CMakeLists.txt sets it)"
#endif

namespace dtq::testing {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

constexpr milliseconds kStartTimeout{10000};
constexpr milliseconds kStopTimeout{3000};
constexpr long kControlTimeoutMs = 10000;

void init_curl_once() {
  static const bool initialised = [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      throw std::runtime_error("curl_global_init failed");
    }
    return true;
  }();
  static_cast<void>(initialised);
}

// SIGTERM, and SIGKILL if the child has not exited after kStopTimeout.
void stop_child(pid_t pid) {
  if (pid <= 0) return;
  kill(pid, SIGTERM);
  const bool exited = eventually(
      [&] {
        const pid_t waited = waitpid(pid, nullptr, WNOHANG);
        return waited == pid || (waited < 0 && errno != EINTR);
      },
      kStopTimeout, milliseconds(20));
  if (exited) return;
  kill(pid, SIGKILL);
  while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

// Reads the child's stdout up to the first newline, within kStartTimeout.
std::string read_first_line(int fd) {
  const auto give_up = SteadyClock::now() + kStartTimeout;
  std::string line;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<milliseconds>(give_up - SteadyClock::now()).count();
    if (left <= 0) {
      throw std::runtime_error("fake provider did not print \"LISTENING <port>\" within 10 s");
    }
    pollfd pfd{fd, POLLIN, 0};
    const int ready = poll(&pfd, 1, static_cast<int>(left));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) throw std::system_error(errno, std::generic_category(), "poll");
    if (ready == 0) continue;
    char c = 0;
    const ssize_t got = read(fd, &c, 1);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw std::system_error(errno, std::generic_category(), "read");
    if (got == 0) {
      throw std::runtime_error("fake provider exited before listening (see its stderr above)");
    }
    if (c == '\n') return line;
    line += c;
  }
}

int parse_port(const std::string& line) {
  constexpr std::string_view kPrefix = "LISTENING ";
  if (line.starts_with(kPrefix)) {
    try {
      const int port = std::stoi(line.substr(kPrefix.size()));
      if (port > 0 && port < 65536) return port;
    } catch (const std::logic_error&) {
      // Reported below with the line itself.
    }
  }
  throw std::runtime_error(R"(fake provider printed ")" + line + R"(", not "LISTENING <port>")");
}

size_t append_body(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

struct EasyDeleter {
  void operator()(CURL* easy) const noexcept { curl_easy_cleanup(easy); }
};
struct SlistDeleter {
  void operator()(curl_slist* list) const noexcept { curl_slist_free_all(list); }
};

}  // namespace

FakeProvider::FakeProvider() {
  init_curl_once();
  // Everything the child needs is prepared before fork: between fork and exec
  // only async-signal-safe calls are allowed.
  std::string python = "python3";
  std::string script = DTQ_SOURCE_DIR "/tests/fake_provider/fake_provider.py";
  std::string port_flag = "--port";
  std::string port_value = "0";
  std::vector<char*> argv{python.data(), script.data(), port_flag.data(), port_value.data(),
                          nullptr};

  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    throw std::system_error(errno, std::generic_category(), "pipe2");
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);  // the duplicate does not inherit O_CLOEXEC
    // A crashed test must not leave a server behind holding ctest's pipes.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);  // the parent died before prctl took effect
    execvp(argv[0], argv.data());
    _exit(127);
  }
  const int fork_errno = errno;
  close(fds[1]);
  if (pid < 0) {
    close(fds[0]);
    throw std::system_error(fork_errno, std::generic_category(), "fork");
  }
  pid_ = pid;
  stdout_fd_ = fds[0];
  try {
    port_ = parse_port(read_first_line(stdout_fd_));
  } catch (...) {
    stop_child(pid_);
    close(stdout_fd_);
    throw;
  }
}

FakeProvider::~FakeProvider() {
  stop_child(pid_);
  close(stdout_fd_);
}

std::string FakeProvider::base_url() const {
  return "http://127.0.0.1:" + std::to_string(port_);
}

FakeProvider::Reply FakeProvider::call(const char* method, const std::string& path,
                                       const std::string& body) const {
  // A fresh handle per call keeps every member thread-safe; control calls are few.
  std::unique_ptr<CURL, EasyDeleter> easy(curl_easy_init());
  if (!easy) throw std::runtime_error("curl_easy_init failed");
  const std::string url = base_url() + path;
  Reply reply;
  std::unique_ptr<curl_slist, SlistDeleter> headers;
  CURL* handle = easy.get();
  curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
  curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(handle, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, kControlTimeoutMs);
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, &append_body);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, static_cast<void*>(&reply.body));
  if (!body.empty()) {
    headers.reset(curl_slist_append(nullptr, "Content-Type: application/json"));
    curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(handle, CURLOPT_POSTFIELDS, body.data());
  }
  if (const CURLcode code = curl_easy_perform(handle); code != CURLE_OK) {
    throw std::runtime_error(std::string("fake provider ") + method + " " + path + ": " +
                             curl_easy_strerror(code));
  }
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &reply.status);
  return reply;
}

void FakeProvider::add_fault(const std::string& json_rule) {
  const Reply reply = call("POST", "/__faults", json_rule);
  if (reply.status != 201) {
    throw std::runtime_error("fake provider refused fault " + json_rule + ": " +
                             std::to_string(reply.status) + " " + reply.body);
  }
}

void FakeProvider::reset() {
  const Reply reply = call("DELETE", "/__faults", "");
  if (reply.status != 204) {
    throw std::runtime_error("fake provider reset answered " + std::to_string(reply.status));
  }
}

std::string FakeProvider::requests_json() const {
  Reply reply = call("GET", "/__requests", "");
  if (reply.status != 200) {
    throw std::runtime_error("fake provider request log answered " + std::to_string(reply.status));
  }
  return std::move(reply.body);
}

size_t FakeProvider::request_count(std::string_view path_prefix) const {
  const simdjson::padded_string json(requests_json());
  simdjson::ondemand::parser parser;
  simdjson::ondemand::document log = parser.iterate(json);
  size_t count = 0;
  for (auto entry : log.get_array()) {
    const std::string_view path = entry["path"].get_string();
    if (path.starts_with(path_prefix)) ++count;
  }
  return count;
}

FakeProvider& shared_fake_provider() {
  static FakeProvider provider;
  return provider;
}

}  // namespace dtq::testing
