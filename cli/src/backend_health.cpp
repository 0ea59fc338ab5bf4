#include "backend_health.hpp"

#include <spdlog/spdlog.h>

namespace dtq::cli {

BackendHealth::BackendHealth(std::vector<NamedCheck> checks, std::chrono::milliseconds interval,
                             std::function<void(bool, const std::string&)> on_change)
    : checks_(std::move(checks)),
      interval_(interval),
      on_change_(std::move(on_change)),
      failing_(checks_.size()) {}

BackendHealth::~BackendHealth() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void BackendHealth::start() {
  run_checks();
  std::lock_guard lock(mutex_);
  if (!thread_.joinable() && !stopping_) thread_ = std::thread([this] { loop(); });
}

bool BackendHealth::healthy() const {
  std::lock_guard lock(mutex_);
  return healthy_;
}

void BackendHealth::run_checks() {
  std::vector<std::string> now(checks_.size());
  for (size_t i = 0; i < checks_.size(); ++i) {
    Status status = checks_[i].second();
    if (!status.ok()) now[i] = status.message().empty() ? "unavailable" : status.message();
  }
  bool healthy = true;
  std::string reason;
  bool changed = false;
  {
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < checks_.size(); ++i) {
      const std::string& name = checks_[i].first;
      if (!now[i].empty()) {
        healthy = false;
        if (!reason.empty()) reason += "; ";
        reason += name + ": " + now[i];
        if (failing_[i].empty()) {
          spdlog::warn("backend {} is unavailable: {} (its client reconnects with backoff)", name,
                       now[i]);
        }
      } else if (!failing_[i].empty()) {
        spdlog::info("backend {} is available again", name);
      }
    }
    changed = first_ || healthy != healthy_ || reason != reason_;
    first_ = false;
    failing_ = now;
    healthy_ = healthy;
    reason_ = reason;
  }
  if (changed && on_change_) on_change_(healthy, reason);
}

void BackendHealth::loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, interval_, [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    run_checks();
    lock.lock();
  }
}

}  // namespace dtq::cli
