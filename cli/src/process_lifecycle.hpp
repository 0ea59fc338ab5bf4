// ProcessLifecycle: how a long-running dtq command (`serve`, `api`,
// `worker`) lives and ends, in one place.
//
//  1. Construction blocks SIGTERM and SIGINT and ignores SIGPIPE. Construct
//     it before any thread starts (the adapters', Pistache's, the engine's,
//     the plugin watcher's): threads inherit the mask, so only
//     wait_for_signal() takes the signal, rather than an unblocked thread
//     whose default action would end the process undrained. A client that
//     hangs up mid-write must not end the process either.
//  2. As each part starts, the command adds the step that stops it.
//  3. wait_for_signal() returns the signal's name.
//  4. stop() runs the steps, the last added first: what started last (the
//     readiness flag, the servers) stops before what it relies on (the
//     engine drains last). A start-up that fails half-way calls stop() too,
//     so what had started is stopped the same way.
//
// Thread-safety: use from the command's main thread only.
// Ownership: the steps hold references into the command's objects; the
// command calls stop() before they go. The destructor does not run the
// steps: it is the last object of the command to go, after them.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace dtq::cli {

class ProcessLifecycle {
 public:
  ProcessLifecycle();
  ProcessLifecycle(const ProcessLifecycle&) = delete;
  ProcessLifecycle& operator=(const ProcessLifecycle&) = delete;
  ~ProcessLifecycle() = default;

  // `step` stops a part that has just started.
  void on_stop(std::function<void()> step);
  // Blocks until SIGTERM or SIGINT arrives; "SIGTERM" or "SIGINT". A
  // member, though it reads no member: only the signals the constructor
  // blocked can be waited for.
  // NOLINTNEXTLINE(readability-convert-member-functions-to-static)
  std::string wait_for_signal() const;
  // Runs the steps, the last added first, once each.
  void stop();

 private:
  std::vector<std::function<void()>> steps_;
};

}  // namespace dtq::cli
