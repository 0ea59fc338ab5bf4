// The self-test of scripts/check-thread-safety.py: a member written without
// the lock that guards it. The check must refuse this file; if it ever
// compiles clean, the analysis is not running and the check proves nothing.
#include "dtq/core/thread_annotations.hpp"

namespace {

class Counter {
 public:
  void increment() { ++count_; }  // the violation: mutex_ is not held

 private:
  dtq::Mutex mutex_;
  int count_ DTQ_GUARDED_BY(mutex_) = 0;
};

}  // namespace

void dtq_thread_safety_fixture() {
  Counter{}.increment();
}
