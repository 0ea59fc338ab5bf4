// FakeProvider: runs tests/fake_provider/fake_provider.py (the offline
// stand-in for the internet providers) as a child process for the life of the
// object, and drives its control API: fault rules and the request log. See
// tests/fake_provider/README.md for routes and fault kinds.
//
// It talks to the server with plain libcurl, never through dtq's HttpClient,
// so tests of HttpClient do not lean on the code they test.
//
// The child is started with PR_SET_PDEATHSIG, so it dies with the thread that
// created the object even when a test crashes: create it on a thread that
// outlives it (shared_fake_provider() is normally first used on the main
// test thread).
//
// Thread-safety: after construction every member may be called from any
// thread. Ownership: the object owns the child process and ends it (SIGTERM,
// then SIGKILL after 3 s) in its destructor.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace dtq::testing {

class FakeProvider {
 public:
  // Starts the server on a free port; throws std::runtime_error when it does
  // not report "LISTENING <port>" within 10 s.
  FakeProvider();
  ~FakeProvider();
  FakeProvider(const FakeProvider&) = delete;
  FakeProvider& operator=(const FakeProvider&) = delete;

  std::string base_url() const;  // "http://127.0.0.1:<port>"
  int port() const noexcept { return port_; }

  // POST /__faults with a JSON rule; throws std::runtime_error unless 201.
  void add_fault(const std::string& json_rule);
  // DELETE /__faults: clears every fault rule and the request log.
  void reset();
  // GET /__requests: a JSON array of {"method","path","query","headers","fault"}.
  std::string requests_json() const;
  // How many logged requests have a path starting with `path_prefix`.
  size_t request_count(std::string_view path_prefix) const;

 private:
  struct Reply {
    long status = 0;
    std::string body;
  };
  Reply call(const char* method, const std::string& path, const std::string& body) const;

  pid_t pid_ = -1;
  int stdout_fd_ = -1;  // kept open so a late write by the child never raises SIGPIPE
  int port_ = 0;
};

// One provider per test binary, started on first use and stopped at exit.
// Tests share it, so each test calls reset() before relying on its state.
FakeProvider& shared_fake_provider();

}  // namespace dtq::testing
