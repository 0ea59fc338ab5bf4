#include "process_lifecycle.hpp"

#include <pthread.h>

#include <csignal>

namespace dtq::cli {
namespace {

sigset_t shutdown_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  return signals;
}

}  // namespace

ProcessLifecycle::ProcessLifecycle() {
  const sigset_t signals = shutdown_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

void ProcessLifecycle::on_stop(std::function<void()> step) {
  steps_.push_back(std::move(step));
}

// NOLINTNEXTLINE(readability-convert-member-functions-to-static): see the header.
std::string ProcessLifecycle::wait_for_signal() const {
  const sigset_t signals = shutdown_signals();
  int received = 0;
  sigwait(&signals, &received);
  return received == SIGTERM ? "SIGTERM" : "SIGINT";
}

void ProcessLifecycle::stop() {
  while (!steps_.empty()) {
    auto step = std::move(steps_.back());
    steps_.pop_back();
    step();
  }
}

}  // namespace dtq::cli
