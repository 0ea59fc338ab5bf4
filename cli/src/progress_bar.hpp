// ProgressBar: a one-line terminal progress display for a job, redrawn in
// place on a TTY and printed as one line per change otherwise (CI logs).
//
// Thread-safety: update() may be called from any thread; calls serialise.
#pragma once

#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>

namespace dtq::cli {

class ProgressBar {
 public:
  explicit ProgressBar(std::FILE* out);
  void update(int percent, std::string_view message);
  // Ends the line so later output starts on a fresh one.
  void close();

 private:
  std::FILE* out_;
  bool interactive_;
  std::mutex mutex_;
  int last_percent_ = -1;
  std::string last_message_;
  bool open_ = false;
};

}  // namespace dtq::cli
