#pragma once
// Locking rules the compiler checks: clang's thread-safety analysis
// (-Wthread-safety), after LevelDB's port/thread_annotations.h.
//
// A member a mutex protects says so with DTQ_GUARDED_BY(mutex_); a function
// that must be called with the mutex held says DTQ_REQUIRES(mutex_), one that
// takes it itself DTQ_EXCLUDES(mutex_). The ctest `thread_safety`
// (scripts/check-thread-safety.py) compiles every product source with clang
// and -Wthread-safety -Werror, so a member touched without its lock fails
// `make test`. Under GCC the macros expand to nothing and Mutex is a plain
// std::mutex: the analysis is clang's alone.
//
// The analysis only sees locks taken through annotated types, which
// std::mutex and std::lock_guard are not in libstdc++; hence dtq::Mutex and
// dtq::MutexLock below.

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <utility>

#if defined(__clang__)
#define DTQ_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define DTQ_THREAD_ANNOTATION(x)
#endif

#define DTQ_CAPABILITY(x) DTQ_THREAD_ANNOTATION(capability(x))
#define DTQ_SCOPED_CAPABILITY DTQ_THREAD_ANNOTATION(scoped_lockable)
#define DTQ_GUARDED_BY(x) DTQ_THREAD_ANNOTATION(guarded_by(x))
#define DTQ_PT_GUARDED_BY(x) DTQ_THREAD_ANNOTATION(pt_guarded_by(x))
#define DTQ_REQUIRES(...) DTQ_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define DTQ_EXCLUDES(...) DTQ_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define DTQ_ACQUIRE(...) DTQ_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define DTQ_RELEASE(...) DTQ_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define DTQ_TRY_ACQUIRE(...) DTQ_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define DTQ_ASSERT_CAPABILITY(x) DTQ_THREAD_ANNOTATION(assert_capability(x))
// For the rare function whose locking the analysis cannot follow; say why
// beside each use.
#define DTQ_NO_THREAD_SAFETY_ANALYSIS DTQ_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace dtq {

// A std::mutex the analysis knows as a capability. Thread-safe, like the
// std::mutex it holds; neither copyable nor movable. Lock it through
// MutexLock rather than lock()/unlock() by hand.
class DTQ_CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() DTQ_ACQUIRE() { mutex_.lock(); }
  void unlock() DTQ_RELEASE() { mutex_.unlock(); }
  bool try_lock() DTQ_TRY_ACQUIRE(true) { return mutex_.try_lock(); }

  // For code the analysis cannot see into (a callback run under the lock):
  // tells it the mutex is held here. Checks nothing at run time.
  void assert_held() const DTQ_ASSERT_CAPABILITY(this) {}

 private:
  std::mutex mutex_;
};

// Holds a Mutex for its scope, like std::unique_lock: it can also be
// released and taken again (unlock()/lock()) around work done outside the
// lock, and waited on through CondVar. Used by one thread; it does not own
// the Mutex, which must outlive it.
class DTQ_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mutex) DTQ_ACQUIRE(mutex) : mutex_(mutex) { mutex_.lock(); }
  ~MutexLock() DTQ_RELEASE() {
    if (held_) mutex_.unlock();
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void lock() DTQ_ACQUIRE() {
    mutex_.lock();
    held_ = true;
  }
  void unlock() DTQ_RELEASE() {
    mutex_.unlock();
    held_ = false;
  }

 private:
  friend class CondVar;
  Mutex& mutex_;
  bool held_ = true;
};

// A condition variable waited on with a MutexLock held. The wait releases
// and retakes the mutex inside, which the analysis treats as held
// throughout, as the caller sees it. Thread-safe; notify from any thread.
class CondVar {
 public:
  void notify_one() noexcept { cv_.notify_one(); }
  void notify_all() noexcept { cv_.notify_all(); }

  template <class Predicate>
  void wait(MutexLock& lock, Predicate ready) {
    cv_.wait(lock.mutex_, std::move(ready));
  }
  template <class Clock, class Duration, class Predicate>
  bool wait_until(MutexLock& lock, const std::chrono::time_point<Clock, Duration>& deadline,
                  Predicate ready) {
    return cv_.wait_until(lock.mutex_, deadline, std::move(ready));
  }
  template <class Rep, class Period, class Predicate>
  bool wait_for(MutexLock& lock, const std::chrono::duration<Rep, Period>& timeout,
                Predicate ready) {
    return cv_.wait_for(lock.mutex_, timeout, std::move(ready));
  }
  template <class Rep, class Period>
  std::cv_status wait_for(MutexLock& lock, const std::chrono::duration<Rep, Period>& timeout) {
    return cv_.wait_for(lock.mutex_, timeout);
  }

 private:
  // _any: it waits on dtq::Mutex, which has lock()/unlock() but is not a
  // std::mutex.
  std::condition_variable_any cv_;
};

}  // namespace dtq
