// HandlerPool: the threads that run the REST handlers which wait on
// backends (a submit's validation, status write and enqueue; a lookup; a
// list), so that no Pistache reactor thread blocks on I/O. With four
// reactors and handlers run on them, at most four such requests were in
// flight and throughput was bounded by their latency (issue 15); here up to
// `threads` are, and the reactors keep reading, parsing and answering the
// rest. Each task owns what it answers: the request's copy and its
// ResponseWriter (Pistache's maintainers' way to answer from another
// thread, pistache#197).
//
// Thread-safety: every member function is thread-safe. Ownership: owns its
// threads and the queued tasks.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "dtq/core/thread_annotations.hpp"

namespace dtq::api {

class HandlerPool {
 public:
  // `threads` 0 makes a pool that takes nothing (post() always refuses).
  HandlerPool(size_t threads, size_t max_queued);
  ~HandlerPool();
  HandlerPool(const HandlerPool&) = delete;
  HandlerPool& operator=(const HandlerPool&) = delete;

  [[nodiscard]] bool enabled() const noexcept { return !threads_.empty(); }
  // Queues `task`; false when `max_queued` wait already (the caller answers
  // 503) or the pool stopped.
  [[nodiscard]] bool post(std::function<void()> task) DTQ_EXCLUDES(mutex_);
  // Runs every queued task, then joins the threads; later posts are
  // refused. Idempotent.
  void stop() DTQ_EXCLUDES(mutex_);

 private:
  void run() DTQ_EXCLUDES(mutex_);

  const size_t max_queued_;
  Mutex mutex_;
  CondVar wake_;
  std::deque<std::function<void()>> queued_ DTQ_GUARDED_BY(mutex_);
  bool stopping_ DTQ_GUARDED_BY(mutex_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace dtq::api
