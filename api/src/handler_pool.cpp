#include "handler_pool.hpp"

#include <spdlog/spdlog.h>

#include <exception>
#include <utility>

namespace dtq::api {

HandlerPool::HandlerPool(size_t threads, size_t max_queued) : max_queued_(max_queued) {
  threads_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
}

HandlerPool::~HandlerPool() {
  stop();
}

bool HandlerPool::post(std::function<void()> task) {
  {
    MutexLock lock(mutex_);
    if (stopping_ || threads_.empty() || queued_.size() >= max_queued_) return false;
    queued_.push_back(std::move(task));
  }
  wake_.notify_one();
  return true;
}

void HandlerPool::stop() {
  {
    MutexLock lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& thread : threads_) thread.join();
}

void HandlerPool::run() {
  while (true) {
    std::function<void()> task;
    {
      MutexLock lock(mutex_);
      wake_.wait(lock, [this]() DTQ_REQUIRES(mutex_) { return stopping_ || !queued_.empty(); });
      if (queued_.empty()) return;  // stopping, and nothing left to answer
      task = std::move(queued_.front());
      queued_.pop_front();
    }
    try {
      task();
    } catch (const std::exception& e) {
      // The tasks answer their own errors; this is a bug, not a request's fault.
      spdlog::error("REST handler thread: {}", e.what());
    }
  }
}

}  // namespace dtq::api
