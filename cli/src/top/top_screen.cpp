#include "top_screen.hpp"

#include <form.h>
#include <ncurses.h>

#include <algorithm>
#include <clocale>
#include <cstdlib>
#include <cwchar>

namespace dtq::cli::top {
namespace {

constexpr int kEscape = 27;

// Text as the wide characters curses draws; bytes that are not UTF-8 in
// the locale show as '?'.
std::wstring widen(std::string_view text) {
  std::wstring out;
  out.reserve(text.size());
  std::mbstate_t state{};
  const char* at = text.data();
  size_t left = text.size();
  while (left > 0) {
    wchar_t c = 0;
    // NOLINTNEXTLINE(concurrency-mt-unsafe): the state is ours, so it is reentrant
    const size_t used = std::mbrtowc(&c, at, left, &state);
    if (used == static_cast<size_t>(-1) || used == static_cast<size_t>(-2)) {
      out.push_back(L'?');
      state = {};
      ++at;
      --left;
      continue;
    }
    const size_t step = used == 0 ? 1 : used;
    // Control characters would move the cursor: drawn as spaces.
    out.push_back(c < 0x20 || c == 0x7f ? L' ' : c);
    at += step;
    left -= step;
  }
  return out;
}

std::string trimmed(const char* buffer) {
  std::string text = buffer == nullptr ? "" : buffer;
  while (!text.empty() && text.back() == ' ') text.pop_back();
  while (!text.empty() && text.front() == ' ') text.erase(0, 1);
  return text;
}

}  // namespace

Screen::Screen(bool colour_off) {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): before the feed's threads start
  std::setlocale(LC_ALL, "");  // wide characters as the terminal encodes them
  initscr();
  cbreak();
  noecho();
  nonl();
  keypad(stdscr, TRUE);
  nodelay(stdscr, TRUE);
  curs_set(0);
  set_escdelay(25);  // Esc closes at once rather than after a second
  // NOLINTNEXTLINE(concurrency-mt-unsafe): read before the feed's threads start
  const char* no_color = std::getenv("NO_COLOR");
  const bool can = has_colors();
  if (can && (no_color == nullptr || *no_color == '\0') && !colour_off) {
    start_color();
    use_default_colors();
  }
  depth_ = choose_depth(no_color == nullptr ? "" : no_color, colour_off, can, COLORS);
  if (depth_ != ColourDepth::kNone) {
    for (int role = 0; role < kRoleCount; ++role) {
      const Style style = style_for(static_cast<Role>(role), depth_);
      init_pair(static_cast<short>(role + 1), style.foreground, style.background);
    }
  }
}

Screen::~Screen() {
  endwin();
}

int Screen::height() {
  return getmaxy(stdscr);
}
int Screen::width() {
  return getmaxx(stdscr);
}

std::optional<int> Screen::read_key() {
  wint_t key = 0;
  const int kind = get_wch(&key);
  if (kind == ERR) return std::nullopt;
  return static_cast<int>(key);
}

int Screen::attributes(Role role) const {
  const Style style = style_for(role, depth_);
  int attrs = 0;
  if ((style.attrs & kBold) != 0) attrs |= A_BOLD;
  if ((style.attrs & kDimmed) != 0) attrs |= A_DIM;
  if ((style.attrs & kReverse) != 0) attrs |= A_REVERSE;
  if ((style.attrs & kUnderline) != 0) attrs |= A_UNDERLINE;
  if (depth_ != ColourDepth::kNone) attrs |= COLOR_PAIR(static_cast<int>(role) + 1);
  return attrs;
}

void Screen::begin_frame() {
  erase();
}

int Screen::put(int y, int x, std::string_view text, Role role, int columns) {
  if (y < 0 || y >= height() || x >= width()) return 0;
  const int room = columns < 0 ? width() - x : std::min(columns, width() - x);
  if (room <= 0) return 0;
  const std::wstring wide = widen(text);
  int used = 0;
  size_t count = 0;
  for (; count < wide.size(); ++count) {
    const int w = std::max(0, wcwidth(wide[count]));
    if (used + w > room) break;
    used += w;
  }
  attrset(attributes(role));
  mvaddnwstr(y, x, wide.c_str(), static_cast<int>(count));
  attrset(A_NORMAL);
  return used;
}

void Screen::fill_line(int y, Role role) {
  attrset(attributes(role));
  mvhline(y, 0, ' ', width());
  attrset(A_NORMAL);
}

void Screen::end_frame() {
  refresh();
}

namespace {

// An open form dialog's windows and layout; draw() paints its labels, hints,
// message and frame.
struct FormView {
  const std::string& title;
  const std::vector<FormSpec>& specs;
  int label_width;
  int field_width;
  int box_width;
  int box_height;
  WINDOW* frame = nullptr;
  WINDOW* inner = nullptr;
  FORM* form = nullptr;

  void draw(const std::string& message) const {
    for (size_t i = 0; i < specs.size(); ++i) {
      const int y = static_cast<int>(i) * 2;
      mvwaddnwstr(inner, y, 0, widen(specs[i].label).c_str(), label_width - 1);
      wattron(inner, A_DIM);
      mvwaddnwstr(inner, y + 1, label_width, widen(specs[i].hint).c_str(), field_width);
      wattroff(inner, A_DIM);
    }
    // The message takes the last two lines inside the frame, wrapped.
    const std::wstring text =
        widen(message.empty() ? "Enter: done  Tab: next field  Esc: cancel" : message);
    const auto line = static_cast<size_t>(box_width - 4);
    for (int i = 0; i < 2; ++i) {
      wmove(frame, box_height - 3 + i, 1);
      wclrtoeol(frame);
      if (text.size() > line * static_cast<size_t>(i)) {
        mvwaddnwstr(frame, box_height - 3 + i, 2, text.c_str() + line * static_cast<size_t>(i),
                    static_cast<int>(line));
      }
    }
    box(frame, 0, 0);
    wattron(frame, A_BOLD);
    mvwaddnstr(frame, 0, 2, (" " + title + " ").c_str(), box_width - 4);
    wattroff(frame, A_BOLD);
    pos_form_cursor(form);
    wrefresh(frame);
  }
};

// The fields for `specs`, a null-terminated list as libform wants it. An
// enum field's choices point into `choice_text`/`choice_lists`, which must
// live until the fields are freed.
std::vector<FIELD*> make_fields(const std::vector<FormSpec>& specs, int label_width,
                                int field_width, std::vector<std::vector<std::string>>& choice_text,
                                std::vector<std::vector<char*>>& choice_lists) {
  choice_text.resize(specs.size());
  choice_lists.resize(specs.size());
  std::vector<FIELD*> fields;
  for (size_t i = 0; i < specs.size(); ++i) {
    FIELD* field = new_field(1, field_width, static_cast<int>(i) * 2, label_width, 0, 0);
    field_opts_off(field, O_AUTOSKIP);
    field_opts_off(field, O_STATIC);  // long answers scroll within the field
    set_max_field(field, 0);
    set_field_back(field, A_UNDERLINE);
    set_field_buffer(field, 0, specs[i].initial.c_str());
    if (!specs[i].choices.empty()) {
      choice_text[i] = specs[i].choices;
      for (auto& choice : choice_text[i]) choice_lists[i].push_back(choice.data());
      choice_lists[i].push_back(nullptr);
      set_field_type(field, TYPE_ENUM, choice_lists[i].data(), 0, 0);
    }
    fields.push_back(field);
  }
  fields.push_back(nullptr);
  return fields;
}

// A function key (arrows, Home/End, deletion) applied to `form`; Enter is
// turned into '\r' in `key` for the caller, and true means the key was used.
bool apply_function_key(FORM* form, wint_t& key) {
  switch (key) {
    case KEY_DOWN:
      form_driver(form, REQ_NEXT_FIELD);
      form_driver(form, REQ_END_LINE);
      return true;
    case KEY_UP:
    case KEY_BTAB:
      form_driver(form, REQ_PREV_FIELD);
      form_driver(form, REQ_END_LINE);
      return true;
    case KEY_LEFT:
      form_driver(form, REQ_PREV_CHAR);
      return true;
    case KEY_RIGHT:
      form_driver(form, REQ_NEXT_CHAR);
      return true;
    case KEY_HOME:
      form_driver(form, REQ_BEG_LINE);
      return true;
    case KEY_END:
      form_driver(form, REQ_END_LINE);
      return true;
    case KEY_BACKSPACE:
      form_driver(form, REQ_DEL_PREV);
      return true;
    case KEY_DC:
      form_driver(form, REQ_DEL_CHAR);
      return true;
    case KEY_ENTER:
      key = '\r';
      return false;
    default:
      return true;
  }
}

// Enter: the answers when every field holds a valid value and `check`
// accepts them; otherwise nullopt with `message` saying why.
std::optional<std::vector<std::string>> submit(const FormView& view,
                                               const std::vector<FIELD*>& fields,
                                               const FormCheck& check, std::string& message) {
  // Validation completes an enum's prefix and refuses what is not one.
  if (form_driver(view.form, REQ_VALIDATION) != E_OK) {
    message = "not one of the choices: " + trimmed(field_buffer(current_field(view.form), 0));
    return std::nullopt;
  }
  std::vector<std::string> values;
  for (size_t i = 0; i < view.specs.size(); ++i)
    values.push_back(trimmed(field_buffer(fields[i], 0)));
  message = "...";
  view.draw(message);
  if (auto refused = check(values)) {
    message = *refused;
    return std::nullopt;
  }
  return values;
}

}  // namespace

std::optional<std::vector<std::string>> Screen::form(const std::string& title,
                                                     const std::vector<FormSpec>& specs,
                                                     const FormCheck& check,
                                                     const std::function<bool()>& idle) {
  const int label_width = 18;
  const int box_width = std::max(40, std::min(width() - 2, 100));
  // Two lines a field (the field, its hint), a blank line under the top
  // border, two for the message and the borders.
  const int box_height = static_cast<int>(specs.size()) * 2 + 5;
  if (box_height > height() || width() < 42) return std::nullopt;
  FormView view{title, specs, label_width, box_width - label_width - 4, box_width, box_height};
  view.frame = newwin(box_height, box_width, std::max(0, (height() - box_height) / 2),
                      std::max(0, (width() - box_width) / 2));
  view.inner = derwin(view.frame, box_height - 5, box_width - 2, 2, 1);
  keypad(view.frame, TRUE);
  wtimeout(view.frame, 100);
  // libform keeps pointers to the enum lists: they live until free_field.
  std::vector<std::vector<std::string>> choice_text;
  std::vector<std::vector<char*>> choice_lists;
  std::vector<FIELD*> fields =
      make_fields(specs, label_width, view.field_width, choice_text, choice_lists);
  view.form = new_form(fields.data());
  set_form_win(view.form, view.frame);
  set_form_sub(view.form, view.inner);
  post_form(view.form);

  curs_set(1);
  std::string message;
  std::optional<std::vector<std::string>> answers;
  view.draw(message);
  while (!answers) {
    wint_t key = 0;
    const int kind = wget_wch(view.frame, &key);
    if (kind == ERR) {
      if (!idle()) break;
      continue;
    }
    if (kind == KEY_CODE_YES && apply_function_key(view.form, key)) {
      view.draw(message);
      continue;
    }
    if (key == kEscape) break;
    if (key == '\t') {
      form_driver(view.form, REQ_NEXT_FIELD);
      form_driver(view.form, REQ_END_LINE);
    } else if (key == 127 || key == 8) {
      form_driver(view.form, REQ_DEL_PREV);
    } else if (key == '\r' || key == '\n') {
      answers = submit(view, fields, check, message);
    } else if (key >= 0x20) {
      form_driver_w(view.form, OK, static_cast<wchar_t>(key));
    }
    if (!answers) view.draw(message);
  }
  curs_set(0);
  unpost_form(view.form);
  free_form(view.form);
  for (FIELD* field : fields) {
    if (field != nullptr) free_field(field);
  }
  delwin(view.inner);
  delwin(view.frame);
  touchwin(stdscr);
  return answers;
}

}  // namespace dtq::cli::top
