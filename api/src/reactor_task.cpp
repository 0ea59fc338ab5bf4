#include "reactor_task.hpp"

#include <pistache/async.h>
#include <spdlog/spdlog.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <utility>

namespace dtq::api {

void run_on_reactor(Pistache::Tcp::Transport& transport, std::function<void()> task,
                    std::function<void()> failed) {
  const int timer = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (timer < 0) {
    spdlog::error("cannot create a timer to reach a reactor: {}", std::strerror(errno));
    failed();
    return;
  }
  Pistache::Async::Promise<uint64_t> armed([&](Pistache::Async::Deferred<uint64_t> deferred) {
    transport.armTimer(timer, std::chrono::milliseconds(1), std::move(deferred));
  });
  armed.then(
      [timer, task = std::move(task)](uint64_t) {
        ::close(timer);
        task();
      },
      [timer, failed = std::move(failed)](std::exception_ptr) {
        ::close(timer);
        failed();
      });
}

}  // namespace dtq::api
