#include "progress_bar.hpp"

#include <unistd.h>

#include <algorithm>

namespace dtq::cli {
namespace {
constexpr int kWidth = 30;
}

ProgressBar::ProgressBar(std::FILE* out) : out_(out), interactive_(isatty(fileno(out)) != 0) {}

void ProgressBar::update(int percent, std::string_view message) {
  std::lock_guard lock(mutex_);
  percent = std::clamp(percent, 0, 100);
  if (percent == last_percent_ && message == last_message_) return;
  last_percent_ = percent;
  last_message_ = std::string(message);
  const int filled = percent * kWidth / 100;
  std::string bar(static_cast<size_t>(filled), '#');
  bar.append(static_cast<size_t>(kWidth - filled), '.');
  if (interactive_) {
    // \r and clear-to-end redraw the same line.
    std::fprintf(out_, "\r\033[K[%s] %3d%%  %s", bar.c_str(), percent, last_message_.c_str());
    open_ = true;
  } else {
    std::fprintf(out_, "[%s] %3d%%  %s\n", bar.c_str(), percent, last_message_.c_str());
  }
  std::fflush(out_);
}

void ProgressBar::close() {
  std::lock_guard lock(mutex_);
  if (open_) std::fputc('\n', out_);
  open_ = false;
  std::fflush(out_);
}

}  // namespace dtq::cli
