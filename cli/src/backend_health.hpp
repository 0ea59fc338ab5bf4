// BackendHealth: watches named health checks (one per backend) every
// `interval` on a thread of its own, for /readyz and the logs. Each change
// of a backend's health is logged (a warning when it is lost, a line when
// it is back: the adapters reconnect with backoff by themselves), and
// `on_change(healthy, reason)` runs after any change of the whole, with
// `reason` naming every unhealthy backend and why.
//
// Thread-safety: healthy() may be called from any thread; start() from the
// owner's. Checks and on_change run on the monitor's thread (and once on
// the thread calling start()).
// Ownership: owns its thread; the destructor stops and joins it. The checks
// must stay callable until then.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "dtq/core/status.hpp"

namespace dtq::cli {

class BackendHealth {
 public:
  using Check = std::function<Status()>;
  using NamedCheck = std::pair<std::string, Check>;
  BackendHealth(std::vector<NamedCheck> checks, std::chrono::milliseconds interval,
                std::function<void(bool healthy, const std::string& reason)> on_change);
  ~BackendHealth();
  BackendHealth(const BackendHealth&) = delete;
  BackendHealth& operator=(const BackendHealth&) = delete;

  // Runs every check once on the calling thread (then on_change), and starts
  // the thread on first use.
  void start();
  bool healthy() const;

 private:
  void run_checks();
  void loop();

  std::vector<NamedCheck> checks_;
  const std::chrono::milliseconds interval_;
  std::function<void(bool, const std::string&)> on_change_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool healthy_ = false;
  bool first_ = true;
  std::string reason_;
  std::vector<std::string> failing_;  // per check: "" when healthy, else why
  std::thread thread_;
};

}  // namespace dtq::cli
