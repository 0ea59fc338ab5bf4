// How `dtq top` lays text out in the width it has: which columns of a
// table fit (the least important go first as the terminal narrows), and
// the text progress bar. Kept out of the screen so that the tests can
// check what a narrow terminal shows.
//
// Thread-safety: pure functions. Ownership: values.
#pragma once

#include <string>
#include <vector>

namespace dtq::cli::top {

struct ColumnSpec {
  std::string title;
  int width = 0;       // columns, not counting the one space after it
  int priority = 0;    // 0 always shows; higher numbers go first when narrow
  bool right = false;  // right-aligned (numbers)
};

// The width the columns take when every one shows.
int table_width(const std::vector<ColumnSpec>& columns);
// Which columns show in `width`: the lowest priorities that fit; a
// priority-0 column always shows (cut at the edge if need be).
std::vector<bool> fit_columns(const std::vector<ColumnSpec>& columns, int width);
// "[#####.....]  50%": `cells` wide between the brackets.
std::string progress_bar(int percent, int cells);

}  // namespace dtq::cli::top
