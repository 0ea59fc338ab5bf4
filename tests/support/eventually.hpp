// eventually(): waiting in a test for something another thread or process
// makes true, with a deadline, instead of sleeping a fixed time and hoping.
// A hang fails the test at the deadline; a fast machine never waits long.
//
// Thread-safety: the predicate runs on the calling thread only.
#pragma once

#include <chrono>
#include <thread>

namespace dtq::testing {

// Polls `done` every `poll` until it holds (true) or `limit` passed (false,
// after one last look).
template <class Predicate>
bool eventually(Predicate done, std::chrono::milliseconds limit = std::chrono::seconds(10),
                std::chrono::milliseconds poll = std::chrono::milliseconds(5)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(poll);
  }
  return done();
}

// Holds `kept` true for all of `span`: the check that something which must
// not happen did not (a connection that must stay up, a job that must not
// come back). False as soon as it fails.
template <class Predicate>
bool throughout(Predicate kept, std::chrono::milliseconds span,
                std::chrono::milliseconds poll = std::chrono::milliseconds(5)) {
  return !eventually([&] { return !kept(); }, span, poll);
}

}  // namespace dtq::testing
