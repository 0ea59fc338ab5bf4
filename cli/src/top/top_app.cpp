#include "top_app.hpp"

#include <ncurses.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <utility>

#include "top_feed.hpp"
#include "top_layout.hpp"
#include "top_model.hpp"
#include "top_screen.hpp"
#include "top_wire.hpp"

namespace dtq::cli::top {
namespace {

constexpr int kEscape = 27;

std::string fixed(double value, int decimals) {
  char text[32];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

// "2026-11-01T12:34:56.789Z" -> "12:34:56": the day is today's, mostly.
std::string clock_of(const std::string& rfc3339) {
  const size_t t = rfc3339.find('T');
  return t == std::string::npos ? rfc3339 : rfc3339.substr(t + 1, 8);
}

std::string state_name(JobState state) {
  return std::string(to_string(state));
}

class TopApp {
 public:
  explicit TopApp(const TopOptions& options)
      : options_(options),
        wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
        model_(ModelSettings{.failure_threshold = options.failure_threshold}),
        screen_(options.no_color) {
    // The feed's threads start after curses has the terminal.
    feed_ = std::make_unique<Feed>(FeedSettings{.server = options.server, .key = options.key},
                                   [fd = wake_fd_] {
                                     const uint64_t one = 1;
                                     (void)!write(fd, &one, sizeof one);
                                   });
  }
  ~TopApp() {
    feed_.reset();
    close(wake_fd_);
  }
  TopApp(const TopApp&) = delete;
  TopApp& operator=(const TopApp&) = delete;

  int run() {
    auto last_draw = Clock::time_point{};
    bool dirty = true;
    while (!quit_) {
      const auto now = Clock::now();
      // Redraw when something changed and a frame has passed, and once a
      // second whatever happens (rates and alerts age).
      const auto due = dirty ? last_draw + options_.frame : last_draw + std::chrono::seconds(1);
      if (now >= due) {
        draw(now);
        last_draw = now;
        dirty = false;
        continue;
      }
      const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(due - now);
      pollfd waiting[2] = {{STDIN_FILENO, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
      poll(waiting, 2, static_cast<int>(wait.count()) + 1);
      uint64_t count = 0;
      (void)!read(wake_fd_, &count, sizeof count);
      dirty = absorb() || dirty;
      while (auto key = Screen::read_key()) {
        handle(*key);
        dirty = true;
        if (quit_) break;
      }
    }
    return 0;
  }

 private:
  enum class Mode { kTable, kDetails, kHelp };

  // Folds what the feed learnt into the model; true when there was any.
  bool absorb() {
    FeedUpdate update = feed_->take();
    if (update.empty()) return false;
    const auto now = Clock::now();
    if (update.connection) {
      model_.set_connection(update.connection->up, update.connection->why,
                            update.connection->attempts, now);
    }
    if (update.job_types) model_.set_job_types(std::move(*update.job_types));
    for (const auto& listing : update.listings) model_.apply_listing(listing, now);
    for (const auto& status : update.statuses) model_.apply(status, now);
    for (auto& notice : update.notices) {
      if (notice.request == detail_request_) {
        detail_lines_ = notice.ok ? notice.detail : std::vector<std::string>{notice.text};
      } else if (notice.request == awaited_) {
        awaited_notice_ = std::move(notice);
      } else {
        say(notice.text, notice.ok);
      }
    }
    return true;
  }

  void say(std::string text, bool ok) {
    notice_ = std::move(text);
    notice_ok_ = ok;
  }

  void handle(int key) {
    if (!confirm_cancel_.empty()) return answer_cancel(key);
    if (mode_ == Mode::kHelp) {
      mode_ = Mode::kTable;
      return;
    }
    if (mode_ == Mode::kDetails) return handle_details(key);
    if (!move_in_table(key)) act_on_table(key);
  }

  void answer_cancel(int key) {
    if (key == 'y' || key == 'Y') {
      feed_->cancel(confirm_cancel_);
      say("cancelling " + confirm_cancel_.substr(0, 8) + "...", true);
    } else {
      say("kept " + confirm_cancel_.substr(0, 8), true);
    }
    confirm_cancel_.clear();
  }

  void handle_details(int key) {
    if (key == kEscape || key == 'q' || key == '\r' || key == KEY_ENTER || key == KEY_LEFT) {
      mode_ = Mode::kTable;
    } else if (key == KEY_DOWN || key == 'j') {
      ++detail_scroll_;
    } else if ((key == KEY_UP || key == 'k') && detail_scroll_ > 0) {
      --detail_scroll_;
    } else if (key == 'c') {
      ask_cancel(model_.find(detail_id_));
    }
  }

  // The keys that move the selection in the jobs table; false for others.
  bool move_in_table(int key) {
    const auto page = static_cast<int64_t>(std::max(1, table_height_ - 1));
    switch (key) {
      case KEY_DOWN:
      case 'j':
        model_.move_selection(1);
        return true;
      case KEY_UP:
      case 'k':
        model_.move_selection(-1);
        return true;
      case KEY_NPAGE:
      case ' ':
        model_.move_selection(page);
        return true;
      case KEY_PPAGE:
        model_.move_selection(-page);
        return true;
      case KEY_HOME:
      case 'g':
        model_.select_first();
        return true;
      case KEY_END:
      case 'G':
        model_.select_last();
        return true;
      default:
        return false;
    }
  }

  // The table's other keys, as the help screen lists them.
  void act_on_table(int key) {
    switch (key) {
      case 'q':
      case 'Q':
        quit_ = true;
        break;
      case '\r':
      case '\n':
      case KEY_ENTER:
        open_details();
        break;
      case '/':
        edit_filter();
        break;
      case kEscape:
        model_.set_filter({});
        break;
      case 'c':
        ask_cancel(model_.selected());
        break;
      case 'r':
        ask_replay(model_.selected());
        break;
      case 's':
        submit_form();
        break;
      case '?':
        mode_ = Mode::kHelp;
        break;
      default:
        break;
    }
  }

  void ask_cancel(const JobRow* row) {
    if (row == nullptr) return say("no job selected", false);
    if (is_terminal(row->status.state)) {
      return say(
          "job " + row->status.job_id.substr(0, 8) + " already " + state_name(row->status.state),
          false);
    }
    confirm_cancel_ = row->status.job_id;
  }

  // A failed job's dead letter goes back on the queue as a new job; the
  // server refuses one that has none (404) or a key without admin (403).
  void ask_replay(const JobRow* row) {
    if (row == nullptr) return say("no job selected", false);
    if (row->status.state != JobState::kFailed) {
      return say("job " + row->status.job_id.substr(0, 8) + " is " + state_name(row->status.state) +
                     ": only a failed job can be replayed",
                 false);
    }
    feed_->replay(row->status.job_id);
    say("replaying " + row->status.job_id.substr(0, 8) + "...", true);
  }

  void open_details() {
    const JobRow* row = model_.selected();
    if (row == nullptr) return;
    mode_ = Mode::kDetails;
    detail_id_ = row->status.job_id;
    detail_scroll_ = 0;
    detail_lines_ = {"loading..."};
    detail_request_ = feed_->fetch_job(detail_id_);
  }

  // Keeps the feed flowing while a form is open.
  bool idle() {
    absorb();
    return true;
  }

  void edit_filter() {
    std::vector<std::string> states;
    for (auto state : {JobState::kScheduled, JobState::kQueued, JobState::kRunning,
                       JobState::kCompleted, JobState::kFailed, JobState::kCancelled}) {
      states.push_back(state_name(state));
    }
    const Filter& now = model_.filter();
    const std::vector<FormSpec> fields = {
        {.label = "Job type",
         .hint = "empty: every type",
         .initial = now.job_type,
         .choices = model_.type_names()},
        {.label = "State",
         .hint = "empty: every state; a prefix will do",
         .initial = now.state ? state_name(*now.state) : "",
         .choices = states},
    };
    auto answers = Screen::form(
        "Filter jobs", fields, [](const auto&) { return std::nullopt; }, [this] { return idle(); });
    if (!answers) return;
    Filter filter{.job_type = (*answers)[0], .state = parse_job_state((*answers)[1])};
    model_.set_filter(std::move(filter));
  }

  // Waits for the answer to request `request`, keeping the feed flowing.
  std::optional<Notice> await(uint64_t request) {
    awaited_ = request;
    awaited_notice_.reset();
    while (!awaited_notice_) {
      pollfd waiting{wake_fd_, POLLIN, 0};
      poll(&waiting, 1, 1000);
      uint64_t count = 0;
      (void)!read(wake_fd_, &count, sizeof count);
      absorb();
    }
    awaited_ = 0;
    return std::exchange(awaited_notice_, std::nullopt);
  }

  void submit_form() {
    if (model_.job_types().empty()) return say("no job types known yet", false);
    std::vector<std::string> names;
    for (const auto& type : model_.job_types()) names.push_back(type.job_type);
    std::string initial = model_.filter().job_type;
    if (const JobRow* row = model_.selected(); initial.empty() && row != nullptr) {
      initial = row->status.job_type;
    }
    const std::vector<FormSpec> choose = {{.label = "Job type",
                                           .hint = "one of: " + join(names),
                                           .initial = initial,
                                           .choices = names}};
    auto type = Screen::form(
        "Submit a job (1/2)", choose,
        [](const auto& answers) {
          return answers[0].empty() ? std::optional<std::string>("a job type is needed")
                                    : std::nullopt;
        },
        [this] { return idle(); });
    if (!type) return;
    const std::string job_type = (*type)[0];
    std::string schema;
    for (const auto& known : model_.job_types()) {
      if (known.job_type == job_type) schema = known.payload_schema;
    }
    std::vector<FormField> fields = form_fields(schema);
    const bool whole = fields.empty();
    if (whole) fields.push_back({.name = "", .title = "Payload", .type = "object"});
    std::vector<FormSpec> specs;
    for (const auto& field : fields) {
      std::string hint = field.type.empty() ? "any JSON" : field.type;
      if (field.required) hint += ", required";
      if (!field.choices.empty()) hint += ": " + join(field.choices);
      if (!field.description.empty()) hint += " - " + field.description;
      specs.push_back({.label = field.title + (field.required ? " *" : ""),
                       .hint = hint,
                       .initial = whole ? "{}" : field.initial,
                       .choices = field.choices});
    }
    std::string submitted;
    auto answers = Screen::form(
        "Submit a " + job_type + " job (2/2)", specs,
        [&](const std::vector<std::string>& values) -> std::optional<std::string> {
          const BuiltPayload payload =
              whole ? BuiltPayload{.json = values[0], .error = {}} : build_payload(fields, values);
          if (!payload.error.empty()) return payload.error;
          if (whole && !is_json_object(payload.json)) return "the payload must be a JSON object";
          const auto notice = await(feed_->submit(job_type, payload.json));
          if (!notice->ok) return notice->text;  // the plugin's word, shown in the form
          submitted = notice->text;
          return std::nullopt;
        },
        [this] { return idle(); });
    if (answers) say(submitted, true);
  }

  static std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
    return out;
  }

  void draw(Clock::time_point now) {
    Screen::begin_frame();
    const int width = Screen::width();
    const int height = Screen::height();
    int y = draw_title(now, width);
    y = draw_summary(now, y, width, height);
    if (mode_ == Mode::kDetails) {
      draw_details(y, width, height);
    } else {
      draw_table(y, width, height);
    }
    draw_footer(width, height);
    if (mode_ == Mode::kHelp) draw_help(width, height);
    Screen::end_frame();
  }

  int draw_title(Clock::time_point now, int width) {
    screen_.fill_line(0, Role::kHeader);
    std::string title = " dtq top  " + options_.server + "  ";
    int x = screen_.put(0, 0, title, Role::kHeader);
    x += screen_.put(0, x, model_.connected() ? "connected" : "DISCONNECTED",
                     model_.connected() ? Role::kCompleted : Role::kAlert);
    std::string rest = "  updates " + std::to_string(model_.updates()) + " (" +
                       fixed(model_.updates_per_second(now), 1) + "/s)  jobs " +
                       std::to_string(model_.job_count());
    const Filter& filter = model_.filter();
    if (!filter.empty()) {
      rest += "  filter: " + (filter.job_type.empty() ? "*" : filter.job_type) + "/" +
              (filter.state ? state_name(*filter.state) : "*");
    }
    x += screen_.put(0, x, rest, Role::kHeader);
    const std::string help = " ?: help ";
    if (x + static_cast<int>(help.size()) < width) {
      screen_.put(0, width - static_cast<int>(help.size()), help, Role::kHeader);
    }
    return 1;
  }

  int draw_summary(Clock::time_point now, int y, int width, int height) {
    const auto summaries = model_.summaries(now);
    const auto alerts = model_.alerts(now);
    const std::vector<ColumnSpec> columns = {
        {"TYPE", 14, 0, false}, {"POOLS", 5, 0, true},   {"FLIGHT", 6, 2, true},
        {"QUEUED", 7, 0, true}, {"RUNNING", 7, 0, true}, {"DONE", 7, 0, true},
        {"FAILED", 7, 0, true}, {"CANCEL", 7, 1, true},  {"DEAD", 5, 1, true},
        {"IN/S", 7, 1, true},   {"DONE/S", 7, 1, true},  {"FAIL/S", 7, 1, true},
    };
    // Alerts beside the counts when both fit, else under them.
    const int summary_width = std::min(width, table_width(columns));
    const bool beside = width - summary_width >= 40;
    const int type_rows =
        std::clamp(static_cast<int>(summaries.size()), 1, std::max(1, height / 4));
    const auto fitted = fit_columns(columns, beside ? summary_width : width);
    int x = 0;
    for (size_t c = 0; c < columns.size(); ++c) {
      if (!fitted[c]) continue;
      x += put_cell(y, x, columns[c], columns[c].title, Role::kDim);
    }
    for (int i = 0; i < type_rows && i < static_cast<int>(summaries.size()); ++i) {
      const TypeSummary& s = summaries[static_cast<size_t>(i)];
      const auto count = [&](JobState state) {
        return std::to_string(s.counts[state_index(state)]);
      };
      const std::string pools = s.info ? std::to_string(s.info->pools) : "?";
      const std::string flight = s.info ? std::to_string(s.info->in_flight) : "?";
      const std::string dead =
          s.info && s.info->dead_letters >= 0 ? std::to_string(s.info->dead_letters) : "?";
      const std::vector<std::pair<std::string, Role>> cells = {
          {s.job_type, Role::kNormal},
          {pools, s.info && s.info->pools == 0 ? Role::kAlert : Role::kNormal},
          {flight, Role::kNormal},
          {count(JobState::kQueued), Role::kQueued},
          {count(JobState::kRunning), Role::kRunning},
          {count(JobState::kCompleted), Role::kCompleted},
          {count(JobState::kFailed), Role::kFailed},
          {count(JobState::kCancelled), Role::kCancelled},
          {dead, s.info && s.info->dead_letters > 0 ? Role::kFailed : Role::kNormal},
          {fixed(s.submitted_per_second, 1), Role::kNormal},
          {fixed(s.completed_per_second, 1), Role::kNormal},
          {fixed(s.failed_per_second, 1), Role::kNormal},
      };
      x = 0;
      for (size_t c = 0; c < columns.size(); ++c) {
        if (fitted[c]) x += put_cell(y + 1 + i, x, columns[c], cells[c].first, cells[c].second);
      }
    }
    int below = y + 1 + type_rows;
    const int alert_x = beside ? summary_width + 2 : 0;
    int alert_y = beside ? y : below;
    const int alert_rows = std::max(1, std::min(static_cast<int>(alerts.size()), height / 5));
    screen_.put(alert_y, alert_x,
                "ALERTS" + (alerts.empty() ? std::string(": none")
                                           : " (" + std::to_string(alerts.size()) + ")"),
                alerts.empty() ? Role::kDim : Role::kAlert);
    for (int i = 0; i < alert_rows && i < static_cast<int>(alerts.size()); ++i) {
      screen_.put(alert_y + 1 + i, alert_x, "! " + alerts[static_cast<size_t>(i)].text,
                  Role::kFailed);
    }
    const int alerts_end = alert_y + 1 + (alerts.empty() ? 0 : alert_rows);
    return std::max(below, alerts_end) + 1;
  }

  int put_cell(int y, int x, const ColumnSpec& column, const std::string& text, Role role) {
    const int room = column.width;
    if (column.right) {
      const int pad = std::max(0, room - static_cast<int>(text.size()));
      screen_.put(y, x + pad, text, role, room - pad);
    } else {
      screen_.put(y, x, text, role, room);
    }
    return room + 1;
  }

  void draw_table(int y, int width, int height) {
    const int last = height - 2;  // the footer's line is height - 1
    if (y > last) return;
    const bool full_ids = width >= 150;
    const std::vector<ColumnSpec> columns = {
        {"JOB", full_ids ? 36 : 8, 0, false},
        {"TYPE", 14, 1, false},
        {"STATE", 9, 0, false},
        {"PROGRESS", 17, 1, false},
        {"ATT", 3, 4, true},
        {"UPDATED", 8, 3, false},
        {"MESSAGE", 10, 2, false},
    };
    auto fitted = fit_columns(columns, width);
    int x = 0;
    std::vector<int> at(columns.size(), -1);
    for (size_t c = 0; c < columns.size(); ++c) {
      if (!fitted[c]) continue;
      at[c] = x;
      x += put_cell(y, x, columns[c], columns[c].title, Role::kDim);
    }
    table_height_ = last - y;
    TableWindow window = model_.table_window(static_cast<size_t>(std::max(0, table_height_)));
    if (window.total == 0) {
      screen_.put(
          y + 1, 0,
          model_.filter().empty() ? "no jobs yet" : "no jobs match the filter (Esc clears it)",
          Role::kDim);
    }
    for (size_t i = 0; i < window.rows.size(); ++i) {
      const JobRow& row = *window.rows[i];
      const int line = y + 1 + static_cast<int>(i);
      const bool selected = window.first + i == window.selected;
      if (selected) screen_.fill_line(line, Role::kSelected);
      const Role state_role = selected ? Role::kSelected : role_for(row.status.state);
      const Role plain = selected ? Role::kSelected : Role::kNormal;
      const JobStatus& s = row.status;
      const std::string cells[] = {
          full_ids ? s.job_id : s.job_id.substr(0, 8),
          s.job_type,
          state_name(s.state),
          progress_bar(s.progress_percent, 10),
          std::to_string(s.attempt),
          clock_of(s.updated_at),
          s.error_code.empty() ? s.message : s.error_code + ": " + s.error_message,
      };
      for (size_t c = 0; c < columns.size(); ++c) {
        if (at[c] < 0) continue;
        const Role role = c == 2 || c == 3 ? state_role : plain;
        // The message takes whatever width is left.
        ColumnSpec column = columns[c];
        if (c + 1 == columns.size()) column.width = std::max(0, width - at[c]);
        put_cell(line, at[c], column, cells[c], role);
      }
    }
    if (window.total > window.rows.size()) {
      const std::string where = std::to_string(window.first + 1) + "-" +
                                std::to_string(window.first + window.rows.size()) + " of " +
                                std::to_string(window.total);
      screen_.put(y, std::max(0, width - static_cast<int>(where.size()) - 1), where, Role::kDim);
    }
  }

  void draw_details(int y, int width, int height) {
    const JobRow* row = model_.find(detail_id_);
    std::vector<std::pair<std::string, Role>> lines;
    if (row == nullptr) {
      lines.emplace_back("job " + detail_id_ + " is no longer in view", Role::kDim);
    } else {
      const JobStatus& s = row->status;
      lines.emplace_back("job " + s.job_id + "  (Esc: back, c: cancel)", Role::kHeader);
      lines.emplace_back("type      " + s.job_type, Role::kNormal);
      lines.emplace_back("state     " + state_name(s.state), role_for(s.state));
      lines.emplace_back("progress  " + progress_bar(s.progress_percent, 20), role_for(s.state));
      lines.emplace_back("attempt   " + std::to_string(s.attempt), Role::kNormal);
      lines.emplace_back("updated   " + s.updated_at, Role::kNormal);
      lines.emplace_back("trace     " + s.trace_id, Role::kNormal);
      lines.emplace_back("message   " + s.message, Role::kNormal);
      if (!s.error_code.empty()) {
        lines.emplace_back("error     " + s.error_code + ": " + s.error_message, Role::kFailed);
      }
      lines.emplace_back("", Role::kNormal);
      lines.emplace_back("history, as this dtq top saw it:", Role::kDim);
      for (const auto& entry : row->history) {
        lines.emplace_back("  " + clock_of(entry.updated_at) + "  " + state_name(entry.state) +
                               " " + std::to_string(entry.progress_percent) + "%  " + entry.message,
                           role_for(entry.state));
      }
    }
    lines.emplace_back("", Role::kNormal);
    lines.emplace_back("result:", Role::kDim);
    for (const auto& line : detail_lines_) lines.emplace_back("  " + line, Role::kNormal);
    const int room = height - 1 - y;
    detail_scroll_ = std::min(detail_scroll_, lines.empty() ? 0 : lines.size() - 1);
    for (int i = 0; i < room && detail_scroll_ + static_cast<size_t>(i) < lines.size(); ++i) {
      const auto& [text, role] = lines[detail_scroll_ + static_cast<size_t>(i)];
      screen_.put(y + i, 0, text, role, width);
    }
  }

  void draw_footer(int width, int height) {
    const int y = height - 1;
    if (!confirm_cancel_.empty()) {
      const JobRow* row = model_.find(confirm_cancel_);
      std::string what = "cancel job " + confirm_cancel_;
      if (row != nullptr)
        what += " (" + row->status.job_type + ", " + state_name(row->status.state) + ")";
      screen_.fill_line(y, Role::kAlert);
      screen_.put(y, 0, what + "? y: yes, any other key: no", Role::kAlert, width);
      return;
    }
    if (!notice_.empty()) {
      screen_.put(y, 0, notice_, notice_ok_ ? Role::kNormal : Role::kFailed, width);
      return;
    }
    screen_.put(y, 0, "q quit  / filter  Enter details  c cancel  s submit  r replay  ? help",
                Role::kDim, width);
  }

  void draw_help(int width, int height) {
    static const char* const kLines[] = {
        "dtq top: keys",
        "",
        "  Up/Down j/k   move the selection     PgUp/PgDn  a page",
        "  Home/End g/G  newest / oldest        Enter      the job's details",
        "  /             filter by type, state  Esc        clear the filter",
        "  c             cancel the selected job (asks first)",
        "  s             submit a job: its type, then its payload's fields",
        "  r             replay the selected failed job's dead letter (an admin key)",
        "  ?             this help              q          quit",
        "",
        "Rates are over the last minute. Counts are of the jobs this dtq top",
        "has seen: those queued and running when it connected, the newest",
        "1000, and every change since. Any key closes this help.",
    };
    const int rows = static_cast<int>(std::size(kLines));
    const int top = std::max(0, (height - rows) / 2);
    const int left = std::max(0, (width - 72) / 2);
    for (int i = 0; i < rows; ++i) {
      screen_.put(top + i, left, std::string(72, ' '), Role::kSelected, width - left);
      screen_.put(top + i, left + 1, kLines[i], Role::kSelected, width - left - 1);
    }
  }

  TopOptions options_;
  int wake_fd_;
  TopModel model_;
  Screen screen_;
  std::unique_ptr<Feed> feed_;
  Mode mode_ = Mode::kTable;
  bool quit_ = false;
  int table_height_ = 1;
  std::string notice_;
  bool notice_ok_ = true;
  std::string confirm_cancel_;
  std::string detail_id_;
  std::vector<std::string> detail_lines_;
  uint64_t detail_request_ = 0;
  size_t detail_scroll_ = 0;
  uint64_t awaited_ = 0;
  std::optional<Notice> awaited_notice_;
};

}  // namespace

int run_top(const TopOptions& options) {
  TopApp app(options);
  return app.run();
}

}  // namespace dtq::cli::top
