// `dtq top`: the operator's live dashboard of a dtq API server. run_top()
// owns the terminal until the user quits: it draws the TopModel from the
// Feed's statuses at most every `frame` (so a flood of updates costs one
// redraw a frame, not one each), and turns keys into the model's
// selection and filters and the feed's actions. docs/top.md is the user's
// guide.
//
// Thread-safety: run_top() must be called from the main thread (curses
// and SIGWINCH). Ownership: everything it makes is its own.
#pragma once

#include <chrono>
#include <string>

namespace dtq::cli::top {

struct TopOptions {
  std::string server;
  std::string key;
  bool no_color = false;
  double failure_threshold = 0.2;
  std::chrono::milliseconds frame{50};
};

// Returns the process's exit code.
int run_top(const TopOptions& options);

}  // namespace dtq::cli::top
