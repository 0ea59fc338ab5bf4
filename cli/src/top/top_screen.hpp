// Screen: the terminal as `dtq top` uses it, through ncurses (wide
// characters) and its form library: set-up and restore, the styles of
// top_style.hpp as curses colour pairs and attributes, clipped text, and
// modal forms (the filter, the submit form). Resizing is curses' own: a
// SIGWINCH becomes KEY_RESIZE from read_key() and the next draw uses the
// new size.
//
// Thread-safety: none; curses is single-threaded, so only the thread that
// made the Screen may use it. Ownership: one per process (curses has one
// terminal); the destructor gives the terminal back as it was.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "top_style.hpp"

namespace dtq::cli::top {

// One field of a modal form.
struct FormSpec {
  std::string label;
  std::string hint;                  // shown under the field
  std::string initial;               // the field's text when the form opens
  std::vector<std::string> choices;  // when given, the answer must be one (a prefix completes)
};

// What a form's caller decides about its answers: accept them (the form
// closes), or an error to show in the form while it stays open.
using FormCheck = std::function<std::optional<std::string>(const std::vector<std::string>&)>;

class Screen {
 public:
  explicit Screen(bool colour_off);
  ~Screen();
  Screen(const Screen&) = delete;
  Screen& operator=(const Screen&) = delete;

  [[nodiscard]] ColourDepth depth() const { return depth_; }
  static int height();
  static int width();

  // The next key, or nothing when none is waiting; wide characters as
  // their code point, function keys as curses' KEY_* codes.
  static std::optional<int> read_key();

  static void begin_frame();  // clears what the last frame drew
  // Draws `text` at (y, x) in `role`'s style, at most `columns` wide
  // (-1: to the right edge); returns the columns used.
  int put(int y, int x, std::string_view text, Role role, int columns = -1);
  void fill_line(int y, Role role);  // the whole line in `role`'s background
  static void end_frame();

  // Shows a form over the screen until it is answered (Enter, and `check`
  // accepts) or abandoned (Esc: nothing). `idle` runs whenever no key is
  // waiting, so the caller's feed keeps flowing; it returns false to
  // abandon the form.
  static std::optional<std::vector<std::string>> form(const std::string& title,
                                                      const std::vector<FormSpec>& specs,
                                                      const FormCheck& check,
                                                      const std::function<bool()>& idle);

 private:
  [[nodiscard]] int attributes(Role role) const;

  ColourDepth depth_ = ColourDepth::kNone;
};

}  // namespace dtq::cli::top
