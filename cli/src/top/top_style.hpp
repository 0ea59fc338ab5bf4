// How `dtq top` colours what it draws, decided without the terminal: each
// thing drawn has a role, and a role has a style at each colour depth the
// terminal offers (256 colours, the 8 basic ones, or none: attributes
// only). NO_COLOR (https://no-color.org) or --no-color choose none. The
// screen turns a Style into curses pairs and attributes.
//
// Thread-safety: pure functions. Ownership: values.
#pragma once

#include <cstdint>
#include <string_view>

#include "dtq/core/model.hpp"

namespace dtq::cli::top {

enum class Role : uint8_t {
  kNormal,
  kQueued,
  kRunning,
  kCompleted,
  kFailed,
  kCancelled,
  kAlert,
  kHeader,
  kSelected,
  kDim,
  kScheduled,  // last, so the rows above keep their places
};
inline constexpr int kRoleCount = 11;

enum class ColourDepth : uint8_t { kNone, kBasic, k256 };

// Attributes, as bits; the screen maps them onto A_BOLD and friends.
enum Attr : uint8_t { kPlain = 0, kBold = 1, kDimmed = 2, kReverse = 4, kUnderline = 8 };

struct Style {
  int16_t foreground = -1;  // a colour number of the depth; -1: the terminal's own
  int16_t background = -1;
  uint8_t attrs = kPlain;
  bool operator==(const Style&) const = default;
};

// The depth to draw with: none when NO_COLOR is set to anything non-empty
// or colour was turned off, else what the terminal says it can do.
ColourDepth choose_depth(std::string_view no_color_env, bool colour_off, bool terminal_has_colour,
                         int terminal_colours);

Role role_for(JobState state);
Style style_for(Role role, ColourDepth depth);

}  // namespace dtq::cli::top
