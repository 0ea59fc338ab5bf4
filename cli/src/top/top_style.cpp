#include "top_style.hpp"

namespace dtq::cli::top {

ColourDepth choose_depth(std::string_view no_color_env, bool colour_off, bool terminal_has_colour,
                         int terminal_colours) {
  if (!no_color_env.empty() || colour_off || !terminal_has_colour) return ColourDepth::kNone;
  return terminal_colours >= 256 ? ColourDepth::k256 : ColourDepth::kBasic;
}

Role role_for(JobState state) {
  switch (state) {
    case JobState::kQueued:
      return Role::kQueued;
    case JobState::kRunning:
      return Role::kRunning;
    case JobState::kCompleted:
      return Role::kCompleted;
    case JobState::kFailed:
      return Role::kFailed;
    case JobState::kCancelled:
      return Role::kCancelled;
    case JobState::kScheduled:
      return Role::kScheduled;
  }
  return Role::kNormal;
}

Style style_for(Role role, ColourDepth depth) {
  // Basic colour numbers are curses' COLOR_*: 1 red, 2 green, 3 yellow,
  // 4 blue, 5 magenta, 6 cyan, 7 white. The 256-colour ones are xterm's.
  struct Row {
    Style none;
    Style basic;
    Style full;
  };
  // Without colour each state still reads apart: running bold, failures
  // reversed, what has ended dimmed.
  static constexpr Row kRows[kRoleCount] = {
      /* kNormal    */ {{}, {}, {}},
      /* kQueued    */ {{-1, -1, kPlain}, {3, -1, kPlain}, {179, -1, kPlain}},
      /* kRunning   */ {{-1, -1, kBold}, {6, -1, kBold}, {45, -1, kBold}},
      /* kCompleted */ {{-1, -1, kDimmed}, {2, -1, kPlain}, {71, -1, kPlain}},
      /* kFailed    */ {{-1, -1, kReverse}, {1, -1, kBold}, {203, -1, kBold}},
      /* kCancelled */ {{-1, -1, kDimmed | kUnderline}, {5, -1, kPlain}, {244, -1, kPlain}},
      /* kAlert     */ {{-1, -1, kBold | kReverse}, {7, 1, kBold}, {231, 160, kBold}},
      /* kHeader    */ {{-1, -1, kBold | kUnderline}, {4, -1, kBold}, {75, -1, kBold}},
      /* kSelected  */ {{-1, -1, kReverse}, {-1, -1, kReverse}, {-1, 238, kBold}},
      /* kDim       */ {{-1, -1, kDimmed}, {-1, -1, kDimmed}, {245, -1, kPlain}},
      /* kScheduled */ {{-1, -1, kUnderline}, {4, -1, kPlain}, {111, -1, kPlain}},
  };
  const Row& row = kRows[static_cast<int>(role)];
  switch (depth) {
    case ColourDepth::kNone:
      return row.none;
    case ColourDepth::kBasic:
      return row.basic;
    case ColourDepth::k256:
      return row.full;
  }
  return row.none;
}

}  // namespace dtq::cli::top
