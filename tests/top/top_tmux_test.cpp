// End to end: the real `dtq top` in a tmux terminal against a real `dtq
// serve` (the echo test plugin, a loopback port of its own, a temp data
// folder), read back with capture-pane as an operator would see it. Jobs
// submitted over REST show with their counts and states; a job is
// cancelled and another submitted from the keyboard; the filter narrows
// the table; a resize redraws to the new size; a killed server raises the
// lost-connection alert and a restarted one is followed again; NO_COLOR
// draws without colour; with REST off, `dtq top --server grpc://...` follows
// and cancels over the gRPC JobService. Every wait is on the screen's
// content, with a deadline.
#include <curl/curl.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "dtq/core/ids.hpp"
#include "support/eventually.hpp"

namespace dtq {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

constexpr const char* kKey = "top-test-key-0123456789";

// The output of a shell command, and whether it exited 0.
std::pair<bool, std::string> shell(const std::string& command) {
  std::string out;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return {false, "popen failed"};
  std::array<char, 4096> chunk{};
  size_t n = 0;
  while ((n = fread(chunk.data(), 1, chunk.size(), pipe)) > 0) out.append(chunk.data(), n);
  return {pclose(pipe) == 0, out};
}

std::string quote(const std::string& text) {
  std::string out = "'";
  for (const char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

size_t collect(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

struct Reply {
  long code = 0;
  std::string body;
};

Reply http(const std::string& method, const std::string& url, const std::string& body = "") {
  CURL* curl = curl_easy_init();
  Reply reply;
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  headers = curl_slist_append(headers, (std::string("Authorization: Bearer ") + kKey).c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
  if (method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  if (curl_easy_perform(curl) == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.code);
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return reply;
}

// `dtq serve` with only the echo plugin, on `port` (0: a free one); `more`
// flags after serve's own (with --grpc-listen: grpc() is its address).
class Serve {
 public:
  Serve(const fs::path& data, const fs::path& plugins, int port,
        const std::vector<std::string>& more = {}) {
    std::vector<std::string> args = {DTQ_CLI,          "--plugin-dir",
                                     plugins.string(), "--data-dir",
                                     data.string(),    "--log-level",
                                     "error",          "serve",
                                     "--listen",       "127.0.0.1:" + std::to_string(port),
                                     "--submit-rate",  "0"};
    args.insert(args.end(), more.begin(), more.end());
    int out[2];
    if (pipe(out) != 0) throw std::runtime_error("pipe");
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], STDOUT_FILENO);
      close(out[0]);
      close(out[1]);
      setenv("DTQ_API_TOKEN", kKey, 1);  // NOLINT(concurrency-mt-unsafe): the child, one thread
      std::vector<char*> argv;
      argv.reserve(args.size() + 1);
      for (auto& arg : args) argv.push_back(arg.data());
      argv.push_back(nullptr);
      execv(DTQ_CLI, argv.data());
      _exit(127);
    }
    close(out[1]);
    std::string line;
    char c = 0;
    while (read(out[0], &c, 1) == 1 && c != '\n') line.push_back(c);
    stdout_fd_ = out[0];
    if (line.rfind("LISTENING ", 0) != 0) throw std::runtime_error("serve did not start: " + line);
    url_ = line.substr(10);
    if (std::find(more.begin(), more.end(), "--grpc-listen") != more.end()) {
      line.clear();
      while (read(out[0], &c, 1) == 1 && c != '\n') line.push_back(c);
      if (line.rfind("GRPC_LISTENING ", 0) != 0) throw std::runtime_error("no gRPC: " + line);
      grpc_ = "grpc://" + line.substr(15);
    }
  }
  ~Serve() { kill_now(); }
  Serve(const Serve&) = delete;
  Serve& operator=(const Serve&) = delete;

  [[nodiscard]] const std::string& url() const { return url_; }
  [[nodiscard]] const std::string& grpc() const { return grpc_; }
  [[nodiscard]] int port() const { return std::stoi(url_.substr(url_.rfind(':') + 1)); }
  void kill_now() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
    if (stdout_fd_ >= 0) close(stdout_fd_);
    stdout_fd_ = -1;
  }

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string url_;
  std::string grpc_;
};

// A tmux server of the test's own (its own socket and configuration),
// running one command in a window of a given size.
class Tmux {
 public:
  Tmux(const fs::path& folder, int width, int height, const std::string& command)
      // A socket of each server's own: a new one never meets the last one
      // on its way out.
      : socket_((folder / ("tmux-" + new_uuid4() + ".sock")).string()) {
    const fs::path config = folder / "tmux.conf";
    // The pane stays after the command ends, so that the test can see that
    // it ended and what it left.
    std::ofstream(config) << "set -g remain-on-exit on\n"
                          << "set -g default-terminal tmux-256color\n"
                          << "set -g status off\n";
    const auto [ok, out] = shell("tmux -S " + quote(socket_) + " -f " + quote(config.string()) +
                                 " new-session -d -x " + std::to_string(width) + " -y " +
                                 std::to_string(height) + " " + quote(command));
    if (!ok) throw std::runtime_error("tmux: " + out);
  }
  ~Tmux() { shell("tmux -S " + quote(socket_) + " kill-server"); }
  Tmux(const Tmux&) = delete;
  Tmux& operator=(const Tmux&) = delete;

  // The screen as text (with_escapes: with its colours and attributes).
  [[nodiscard]] std::string screen(bool with_escapes = false) const {
    return shell("tmux -S " + quote(socket_) + " capture-pane -p " + (with_escapes ? "-e " : "") +
                 "-t 0")
        .second;
  }
  // tmux key names (Enter, Tab, Escape) or, with literal, text as typed.
  void keys(const std::string& keys, bool literal = false) const {
    shell("tmux -S " + quote(socket_) + " send-keys -t 0 " +
          (literal ? "-l -- " + quote(keys) : keys));
  }
  void resize(int width, int height) const {
    shell("tmux -S " + quote(socket_) + " resize-window -t 0 -x " + std::to_string(width) + " -y " +
          std::to_string(height));
  }
  [[nodiscard]] bool pane_dead() const {
    return shell("tmux -S " + quote(socket_) + " display-message -p -t 0 '#{pane_dead}'")
               .second.rfind('1', 0) == 0;
  }

 private:
  std::string socket_;
};

std::vector<std::string> lines_of(const std::string& screen) {
  std::vector<std::string> lines;
  std::istringstream in(screen);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<std::string> words(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in(line);
  for (std::string word; in >> word;) out.push_back(word);
  return out;
}

// The header's counts for `type`: {queued, running, done, failed,
// cancelled}, or nothing when its line is not on the screen.
std::optional<std::array<int, 5>> counts(const std::string& screen, const std::string& type) {
  for (const auto& line : lines_of(screen)) {
    const auto w = words(line);
    // TYPE POOLS FLIGHT QUEUED RUNNING DONE FAILED CANCEL ...
    if (w.size() < 8 || w[0] != type || w[1] == "TYPE") continue;
    try {
      return std::array<int, 5>{std::stoi(w[3]), std::stoi(w[4]), std::stoi(w[5]), std::stoi(w[6]),
                                std::stoi(w[7])};
    } catch (const std::exception&) {
      continue;  // a job row of that type, not the header's
    }
  }
  return std::nullopt;
}

// The header's DEAD cell for `type` (dead letters not replayed yet), or "".
std::string dead_letters_of(const std::string& screen, const std::string& type) {
  for (const auto& line : lines_of(screen)) {
    const auto w = words(line);
    // TYPE POOLS FLIGHT QUEUED RUNNING DONE FAILED CANCEL DEAD ...
    if (w.size() < 9 || w[0] != type || w[1] == "TYPE") continue;
    if (!w[3].empty() && std::isdigit(static_cast<unsigned char>(w[3][0])) != 0) return w[8];
  }
  return {};
}

// The table row of the job whose id starts with `id`'s first 8 characters.
std::string row_of(const std::string& screen, const std::string& id) {
  for (const auto& line : lines_of(screen)) {
    if (line.rfind(id.substr(0, 8), 0) == 0) return line;
  }
  return {};
}

class TopTmuxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    folder_ = fs::temp_directory_path() / ("dtq-top-" + new_uuid4());
    fs::create_directories(folder_ / "plugins");
    fs::copy_file(fs::path(DTQ_TEST_PLUGIN_DIR) / "echo.so", folder_ / "plugins" / "echo.so");
    serve_ = std::make_unique<Serve>(folder_ / "data", folder_ / "plugins", 0);
  }
  void TearDown() override {
    tmux_.reset();
    serve_.reset();
    fs::remove_all(folder_);
  }

  void start_top(int width, int height, const std::string& environment = "",
                 const std::string& server = "") {
    tmux_ = std::make_unique<Tmux>(folder_, width, height,
                                   "env DTQ_API_KEY=" + std::string(kKey) + " " + environment +
                                       " " + DTQ_CLI + " top --server " +
                                       (server.empty() ? serve_->url() : server));
    ASSERT_TRUE(wait_for_screen([](const std::string& s) {
      return s.find("connected") != std::string::npos && s.find("echo ") != std::string::npos;
    })) << tmux_->screen();
  }

  std::string submit(const std::string& payload) {
    const Reply reply = http("POST", serve_->url() + "/v1/jobs",
                             R"({"job_type":"echo","payload":)" + payload + "}");
    EXPECT_EQ(reply.code, 202) << reply.body;
    return nlohmann::json::parse(reply.body).value("job_id", "");
  }

  std::string state_of(const std::string& id) {
    const Reply reply = http("GET", serve_->url() + "/v1/jobs/" + id + "/status");
    return nlohmann::json::parse(reply.body, nullptr, false).value("state", "");
  }

  template <class Predicate>
  bool wait_for_screen(Predicate done, std::chrono::milliseconds limit = 15s) {
    return testing::eventually([&] { return done(tmux_->screen()); }, limit, 50ms);
  }

  bool wait_for_counts(const std::array<int, 5>& want) {
    return wait_for_screen([&](const std::string& s) { return counts(s, "echo") == want; });
  }

  fs::path folder_;
  std::unique_ptr<Serve> serve_;
  std::unique_ptr<Tmux> tmux_;
};

TEST_F(TopTmuxTest, ShowsJobsLiveAndCancelsOneFromTheKeyboard) {
  start_top(160, 40);
  const std::string quick[] = {submit(R"({"message":"one","progress":[50]})"),
                               submit(R"({"message":"two"})"),
                               submit(R"({"fail":{"code":"nope","retryable":false}})")};
  // The newest job, so the selection (the newest row until moved) is on it.
  const std::string slow = submit(R"({"message":"slow","progress":[30],"sleep_ms":60000})");
  // queued, running, completed, failed, cancelled
  ASSERT_TRUE(wait_for_counts({0, 1, 2, 1, 0})) << tmux_->screen();
  // Its progress comes after it starts running.
  ASSERT_TRUE(wait_for_screen([&](const std::string& s) {
    return row_of(s, slow).find("running   [###.......]  30%") != std::string::npos;
  })) << tmux_->screen();
  const std::string screen = tmux_->screen();
  EXPECT_THAT(row_of(screen, quick[0]), HasSubstr("completed"));
  EXPECT_THAT(row_of(screen, quick[0]), HasSubstr("[##########] 100%"));
  EXPECT_THAT(row_of(screen, quick[2]), HasSubstr("failed"));
  // Newest first.
  EXPECT_LT(screen.find(slow.substr(0, 8)), screen.find(quick[0].substr(0, 8)));

  tmux_->keys("c");
  ASSERT_TRUE(wait_for_screen([&](const std::string& s) {
    return s.find("cancel job " + slow + " (echo, running)? y: yes") != std::string::npos;
  })) << tmux_->screen();
  tmux_->keys("y");
  ASSERT_TRUE(wait_for_counts({0, 0, 2, 1, 1})) << tmux_->screen();
  EXPECT_THAT(row_of(tmux_->screen(), slow), HasSubstr("cancelled"));
  EXPECT_EQ(state_of(slow), "cancelled");

  // Enter shows the job's details and its history as seen.
  tmux_->keys("Enter");
  ASSERT_TRUE(wait_for_screen([&](const std::string& s) {
    return s.find("job " + slow) != std::string::npos &&
           s.find("history, as this dtq top saw it:") != std::string::npos &&
           s.find("final state: cancelled") != std::string::npos &&
           s.find("stored history, oldest first:") != std::string::npos &&
           s.find("cancel_requested") != std::string::npos;
  })) << tmux_->screen();
  tmux_->keys("Escape");

  // r replays the failed job just below it (not retryable: dead-lettered at
  // once, which the header counts); the replay fails the same way, a
  // second failed echo job and again one dead letter waiting.
  ASSERT_TRUE(wait_for_screen([&](const std::string& s) {
    return dead_letters_of(s, "echo") == "1";
  })) << tmux_->screen();
  tmux_->keys("j");
  tmux_->keys("r");
  ASSERT_TRUE(wait_for_screen([&](const std::string& s) {
    return s.find("replayed " + quick[2].substr(0, 8) + " as job ") != std::string::npos;
  })) << tmux_->screen();
  ASSERT_TRUE(wait_for_counts({0, 0, 2, 2, 1})) << tmux_->screen();
  tmux_->keys("q");
  EXPECT_TRUE(testing::eventually([&] { return tmux_->pane_dead(); }, 5s)) << tmux_->screen();
}

TEST_F(TopTmuxTest, SubmitsAJobFromItsSchemaAndFilters) {
  submit(R"({"message":"before"})");
  start_top(160, 40);
  ASSERT_TRUE(wait_for_counts({0, 0, 1, 0, 0})) << tmux_->screen();

  tmux_->keys("s");
  ASSERT_TRUE(wait_for_screen([](const std::string& s) {
    return s.find("Submit a job (1/2)") != std::string::npos;
  })) << tmux_->screen();
  tmux_->keys("echo", true);
  tmux_->keys("Enter");
  // The second form has a field per property of echo's schema, in order.
  ASSERT_TRUE(wait_for_screen([](const std::string& s) {
    return s.find("Submit a echo job (2/2)") != std::string::npos &&
           s.find("message") != std::string::npos && s.find("sleep_ms") != std::string::npos;
  })) << tmux_->screen();
  tmux_->keys("from the keyboard", true);
  tmux_->keys("Tab");
  tmux_->keys("[10, 90]", true);
  tmux_->keys("Enter");
  ASSERT_TRUE(wait_for_screen([](const std::string& s) {
    return s.find("submitted echo job ") != std::string::npos;
  })) << tmux_->screen();
  ASSERT_TRUE(wait_for_counts({0, 0, 2, 0, 0})) << tmux_->screen();
  const Reply listing = http("GET", serve_->url() + "/v1/jobs?job_type=echo");
  const auto newest = nlohmann::json::parse(listing.body)["jobs"][0];
  const Reply job = http("GET", serve_->url() + "/v1/jobs/" + newest["job_id"].get<std::string>());
  EXPECT_THAT(job.body, HasSubstr(R"("message":"from the keyboard")")) << job.body;
  EXPECT_THAT(job.body, HasSubstr(R"("progress":[10,90])")) << job.body;

  // A payload the plugin refuses keeps the form open with the plugin's word.
  tmux_->keys("s");
  ASSERT_TRUE(wait_for_screen(
      [](const std::string& s) { return s.find("Submit a job (1/2)") != std::string::npos; }));
  tmux_->keys("Enter");
  ASSERT_TRUE(
      wait_for_screen([](const std::string& s) { return s.find("(2/2)") != std::string::npos; }));
  for (int i = 0; i < 2; ++i) tmux_->keys("Tab");  // to sleep_ms
  tmux_->keys("-5", true);
  tmux_->keys("Enter");
  ASSERT_TRUE(wait_for_screen([](const std::string& s) {
    return s.find("submit refused: HTTP 400") != std::string::npos &&
           s.find("/sleep_ms") != std::string::npos;
  })) << tmux_->screen();
  tmux_->keys("Escape");

  // A failed job, then the filter: only failed echo jobs.
  const std::string failed = submit(R"({"fail":{"code":"nope","retryable":false}})");
  ASSERT_TRUE(wait_for_counts({0, 0, 2, 1, 0})) << tmux_->screen();
  tmux_->keys("/");
  ASSERT_TRUE(wait_for_screen(
      [](const std::string& s) { return s.find("Filter jobs") != std::string::npos; }));
  tmux_->keys("Tab");
  tmux_->keys("fail", true);  // a prefix of the state will do
  tmux_->keys("Enter");
  ASSERT_TRUE(wait_for_screen([&](const std::string& s) {
    return s.find("filter: */failed") != std::string::npos && !row_of(s, failed).empty() &&
           s.find("completed [") == std::string::npos;
  })) << tmux_->screen();
  tmux_->keys("Escape");  // clears the filter
  ASSERT_TRUE(wait_for_screen([](const std::string& s) {
    return s.find("completed [") != std::string::npos;
  })) << tmux_->screen();
}

TEST_F(TopTmuxTest, FollowsAResizeAndLosingTheServer) {
  const std::string first = submit(R"({"message":"first"})");
  start_top(160, 40);
  ASSERT_TRUE(wait_for_counts({0, 0, 1, 0, 0})) << tmux_->screen();
  // Wide: whole job ids and the UPDATED column.
  EXPECT_THAT(tmux_->screen(), HasSubstr(first));
  EXPECT_THAT(tmux_->screen(), HasSubstr("UPDATED"));

  tmux_->resize(70, 20);
  ASSERT_TRUE(wait_for_screen([&](const std::string& s) {
    const auto lines = lines_of(s);
    return lines.size() == 20 && s.find(first) == std::string::npos && !row_of(s, first).empty() &&
           s.find("UPDATED") == std::string::npos;
  })) << tmux_->screen();
  for (const auto& line : lines_of(tmux_->screen())) EXPECT_LE(line.size(), 70U) << line;

  tmux_->resize(160, 40);
  ASSERT_TRUE(wait_for_screen([&](const std::string& s) {
    return s.find(first) != std::string::npos && s.find("UPDATED") != std::string::npos;
  })) << tmux_->screen();

  const int port = serve_->port();
  serve_->kill_now();
  ASSERT_TRUE(wait_for_screen([](const std::string& s) {
    return s.find("DISCONNECTED") != std::string::npos &&
           s.find("lost connection to the server") != std::string::npos;
  })) << tmux_->screen();
  // What it knew stays on the screen while it reconnects.
  EXPECT_FALSE(row_of(tmux_->screen(), first).empty());

  // The server comes back on the same port (and data): followed again.
  serve_ = std::make_unique<Serve>(folder_ / "data", folder_ / "plugins", port);
  ASSERT_TRUE(wait_for_screen(
      [](const std::string& s) {
        return s.find(" connected ") != std::string::npos &&
               s.find("lost connection") == std::string::npos;
      },
      30s))
      << tmux_->screen();
  const std::string after = submit(R"({"message":"after"})");
  ASSERT_TRUE(wait_for_counts({0, 0, 2, 0, 0})) << tmux_->screen();
  EXPECT_THAT(row_of(tmux_->screen(), after), HasSubstr("completed"));
}

TEST_F(TopTmuxTest, Draws256ColoursUnlessNoColorIsSet) {
  submit(R"({"fail":{"code":"nope","retryable":false}})");
  start_top(120, 30);
  ASSERT_TRUE(wait_for_counts({0, 0, 0, 1, 0})) << tmux_->screen();
  // tmux writes a 256-colour foreground as ESC[38;5;Nm: failed is 203.
  EXPECT_THAT(tmux_->screen(true), HasSubstr("\x1b[1m\x1b[38;5;203m"));

  tmux_.reset();
  start_top(120, 30, "NO_COLOR=1");
  ASSERT_TRUE(wait_for_counts({0, 0, 0, 1, 0})) << tmux_->screen();
  const std::string screen = tmux_->screen(true);
  // No colour at all, 256 or basic, foreground or background (39 and 49,
  // the terminal's own colours, are what tmux writes between runs of text).
  EXPECT_FALSE(std::regex_search(
      screen, std::regex("\x1b\\[(?:[0-9]+;)*(?:3[0-7]|4[0-7]|38;5;[0-9]+|48;5;[0-9]+)m")))
      << screen;
  EXPECT_THAT(screen, HasSubstr("\x1b[7m"));  // failed, reversed instead
}

// REST's job routes off: `dtq top --server grpc://...` reads the listings
// and job types over gRPC, follows WatchJobs, and cancels over gRPC. The
// jobs are submitted with `dtq submit --server grpc://...` (REST would
// refuse them).
class TopTmuxGrpcTest : public TopTmuxTest {
 protected:
  void SetUp() override {
    folder_ = fs::temp_directory_path() / ("dtq-top-" + new_uuid4());
    fs::create_directories(folder_ / "plugins");
    fs::copy_file(fs::path(DTQ_TEST_PLUGIN_DIR) / "echo.so", folder_ / "plugins" / "echo.so");
    serve_ = std::make_unique<Serve>(
        folder_ / "data", folder_ / "plugins", 0,
        std::vector<std::string>{"--grpc-listen", "127.0.0.1:0", "--rest=off"});
  }

  std::string submit_over_grpc(const std::string& payload) {
    const auto [ok, out] = shell("env DTQ_API_KEY=" + std::string(kKey) + " " + DTQ_CLI +
                                 " submit echo " + quote(payload) + " --server " + serve_->grpc());
    EXPECT_TRUE(ok) << out;
    // The id's line: stderr comes along (a library's warning, sometimes).
    for (const auto& line : lines_of(out)) {
      if (is_uuid(line)) return line;
    }
    ADD_FAILURE() << "no job id in: " << out;
    return {};
  }
};

TEST_F(TopTmuxGrpcTest, FollowsAndCancelsOverGrpcWhenRestIsOff) {
  EXPECT_EQ(http("GET", serve_->url() + "/v1/job-types").code, 404);  // REST's job routes: off
  const std::string before = submit_over_grpc(R"({"message":"before"})");
  start_top(160, 40, "", serve_->grpc());
  // The listing (ListJobs) seeds what the stream (WatchJobs) has no snapshot of.
  ASSERT_TRUE(wait_for_counts({0, 0, 1, 0, 0})) << tmux_->screen();
  EXPECT_THAT(row_of(tmux_->screen(), before), HasSubstr("completed"));

  submit_over_grpc(R"({"message":"one","progress":[50]})");
  submit_over_grpc(R"({"fail":{"code":"nope","retryable":false}})");
  const std::string slow =
      submit_over_grpc(R"({"message":"slow","progress":[30],"sleep_ms":60000})");
  ASSERT_TRUE(wait_for_counts({0, 1, 2, 1, 0})) << tmux_->screen();
  ASSERT_TRUE(wait_for_screen([&](const std::string& s) {
    return row_of(s, slow).find("running   [###.......]  30%") != std::string::npos;
  })) << tmux_->screen();

  tmux_->keys("c");
  ASSERT_TRUE(wait_for_screen([&](const std::string& s) {
    return s.find("cancel job " + slow + " (echo, running)? y: yes") != std::string::npos;
  })) << tmux_->screen();
  tmux_->keys("y");
  ASSERT_TRUE(wait_for_counts({0, 0, 2, 1, 1})) << tmux_->screen();
  EXPECT_THAT(row_of(tmux_->screen(), slow), HasSubstr("cancelled"));
  tmux_->keys("q");
  EXPECT_TRUE(testing::eventually([&] { return tmux_->pane_dead(); }, 5s)) << tmux_->screen();
}

}  // namespace
}  // namespace dtq
