#include "top_layout.hpp"

#include <algorithm>
#include <cstdio>

namespace dtq::cli::top {

int table_width(const std::vector<ColumnSpec>& columns) {
  int total = 0;
  for (const auto& column : columns) total += column.width + 1;
  return total;
}

std::vector<bool> fit_columns(const std::vector<ColumnSpec>& columns, int width) {
  std::vector<bool> shown(columns.size(), true);
  int used = table_width(columns);
  int worst = 0;
  for (const auto& column : columns) worst = std::max(worst, column.priority);
  // Drop whole priority levels, least important first, until it fits.
  for (int level = worst; level > 0 && used > width; --level) {
    for (size_t i = columns.size(); i-- > 0;) {
      if (columns[i].priority == level && shown[i] && used > width) {
        shown[i] = false;
        used -= columns[i].width + 1;
      }
    }
  }
  return shown;
}

std::string progress_bar(int percent, int cells) {
  const int clamped = std::clamp(percent, 0, 100);
  const int filled = clamped * cells / 100;
  char tail[8];
  std::snprintf(tail, sizeof tail, " %3d%%", clamped);
  return "[" + std::string(static_cast<size_t>(filled), '#') +
         std::string(static_cast<size_t>(cells - filled), '.') + "]" + tail;
}

}  // namespace dtq::cli::top
