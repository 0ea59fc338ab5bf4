// How many job updates per second `dtq top` keeps up with, and how far its
// screen lags behind the server. Starts the real `dtq serve` (no-op plugin
// only, a temp data folder, a loopback port of its own) and the real `dtq
// top` in a tmux terminal of its own, then submits jobs at rising rates.
// The bench follows GET /v1/events itself, so it knows when the server
// sent the n-th update; it reads top's screen with capture-pane every few
// milliseconds, and the screen's "updates N" says how many top has drawn.
// The lag of a sample is the time since the bench saw update N, where N is
// what the screen shows: how stale the screen is (tmux's own redraw and
// the capture included). It prints figures and asserts nothing.
//
//   top_bench [--seconds S] [--rates 250,500,1000,2000]   (updates per second)
#include <curl/curl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr const char* kKey = "top-bench-key-0123456789";

std::string shell(const std::string& command) {
  std::string out;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return out;
  std::array<char, 4096> chunk{};
  size_t n = 0;
  while ((n = fread(chunk.data(), 1, chunk.size(), pipe)) > 0) out.append(chunk.data(), n);
  pclose(pipe);
  return out;
}

size_t discard(char* /*data*/, size_t size, size_t count, void* /*user*/) {
  return size * count;
}

// `dtq serve` with the no-op plugin; SIGKILLed on the way out.
struct Serve {
  pid_t pid = -1;
  std::string url;

  explicit Serve(const fs::path& data) {
    int out[2];
    if (pipe(out) != 0) throw std::runtime_error("pipe");
    pid = fork();
    if (pid == 0) {
      dup2(out[1], STDOUT_FILENO);
      close(out[0]);
      close(out[1]);
      setenv("DTQ_API_TOKEN", kKey, 1);  // NOLINT(concurrency-mt-unsafe): the child, one thread
      execl(DTQ_CLI, DTQ_CLI, "--plugin-dir", DTQ_BENCH_PLUGIN_DIR, "--data-dir", data.c_str(),
            "--log-level", "error", "serve", "--listen", "127.0.0.1:0", "--submit-rate", "0",
            static_cast<char*>(nullptr));
      _exit(127);
    }
    close(out[1]);
    std::string line;
    char c = 0;
    while (read(out[0], &c, 1) == 1 && c != '\n') line.push_back(c);
    if (line.rfind("LISTENING ", 0) != 0) {
      throw std::runtime_error("dtq serve did not start: " + line);
    }
    url = line.substr(10);
  }
  ~Serve() {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
};

// Follows GET /v1/events and notes when each update arrived.
class Follower {
 public:
  explicit Follower(const std::string& url) : url_(url + "/v1/events") {
    thread_ = std::thread([this] { run(); });
  }
  ~Follower() {
    stop_ = true;
    thread_.join();
  }
  size_t count() {
    const std::lock_guard lock(mutex_);
    return seen_.size();
  }
  // When the n-th update (1-based) arrived; nothing when it has not.
  std::optional<Clock::time_point> seen(size_t n) {
    const std::lock_guard lock(mutex_);
    if (n == 0 || n > seen_.size()) return std::nullopt;
    return seen_[n - 1];
  }

 private:
  static size_t on_data(char* data, size_t size, size_t count, void* user) {
    auto& self = *static_cast<Follower*>(user);
    const auto now = Clock::now();
    self.buffer_.append(data, size * count);
    size_t at = 0;
    const std::lock_guard lock(self.mutex_);
    while ((at = self.buffer_.find("\n\n")) != std::string::npos) {
      if (self.buffer_.compare(0, 13, "event: status") == 0) self.seen_.push_back(now);
      self.buffer_.erase(0, at + 2);
    }
    return size * count;
  }
  static int on_progress(void* user, curl_off_t /*dltotal*/, curl_off_t /*dlnow*/,
                         curl_off_t /*ultotal*/, curl_off_t /*ulnow*/) {
    return static_cast<Follower*>(user)->stop_ ? 1 : 0;
  }
  void run() {
    CURL* curl = curl_easy_init();
    curl_slist* headers = curl_slist_append(nullptr, "Accept: text/event-stream");
    headers = curl_slist_append(headers, (std::string("Authorization: Bearer ") + kKey).c_str());
    curl_easy_setopt(curl, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, this);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, this);
    curl_easy_perform(curl);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
  }

  std::string url_;
  std::atomic<bool> stop_{false};
  std::string buffer_;
  std::mutex mutex_;
  std::vector<Clock::time_point> seen_;
  std::thread thread_;
};

// Submits no-op jobs at `jobs_per_second` for `span` over `connections`
// keep-alive connections; returns how many were accepted.
size_t submit_at(const std::string& url, double jobs_per_second, std::chrono::milliseconds span,
                 int connections) {
  std::atomic<size_t> accepted{0};
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(connections));
  const auto start = Clock::now();
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&, c] {
      CURL* curl = curl_easy_init();
      curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
      headers = curl_slist_append(headers, (std::string("Authorization: Bearer ") + kKey).c_str());
      const std::string target = url + "/v1/jobs";
      const std::string body = R"({"job_type":"bench_noop","payload":{}})";
      curl_easy_setopt(curl, CURLOPT_URL, target.c_str());
      curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
      curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
      curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
      const double each = jobs_per_second / connections;
      for (size_t n = 0;; ++n) {
        // Paced from the start, so that a slow request is caught up on.
        const auto due = start + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(static_cast<double>(n) / each) +
                                     std::chrono::duration<double>(c * 0.37 / jobs_per_second));
        if (due >= start + span) break;
        std::this_thread::sleep_until(due);
        long code = 0;
        if (curl_easy_perform(curl) == CURLE_OK) {
          curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
        }
        if (code == 202) ++accepted;
      }
      curl_slist_free_all(headers);
      curl_easy_cleanup(curl);
    });
  }
  for (auto& thread : threads) thread.join();
  return accepted;
}

struct Tmux {
  std::string socket;
  Tmux(const fs::path& folder, const std::string& command)
      : socket((folder / "tmux.sock").string()) {
    std::ofstream(folder / "tmux.conf")
        << "set -g default-terminal tmux-256color\nset -g status off\n";
    shell("tmux -S " + socket + " -f " + (folder / "tmux.conf").string() +
          " new-session -d -x 200 -y 50 '" + command + "'");
  }
  ~Tmux() { shell("tmux -S " + socket + " kill-server"); }
  [[nodiscard]] std::string screen() const {
    return shell("tmux -S " + socket + " capture-pane -p -t 0");
  }
  [[nodiscard]] std::string pane_pid() const {
    std::string pid = shell("tmux -S " + socket + " display-message -p -t 0 '#{pane_pid}'");
    while (!pid.empty() && (pid.back() == '\n')) pid.pop_back();
    return pid;
  }
};

// The "updates N" of top's title line; nothing when it is not drawn.
std::optional<size_t> screen_updates(const std::string& screen) {
  const size_t at = screen.find("updates ");
  if (at == std::string::npos) return std::nullopt;
  return std::strtoull(screen.c_str() + at + 8, nullptr, 10);
}

// CPU seconds a process has used (user + system), from /proc.
double cpu_seconds(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);
    if (i == 15) break;
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1,
                         static_cast<size_t>(p * static_cast<double>(values.size())))];
}

}  // namespace

int run(int argc, char** argv) {
  double seconds = 5;
  std::vector<double> rates = {250, 500, 1000, 2000};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--seconds") {
      seconds = std::stod(argv[i + 1]);
    } else if (flag == "--rates") {
      rates.clear();
      std::istringstream list(argv[i + 1]);
      for (std::string rate; std::getline(list, rate, ',');) rates.push_back(std::stod(rate));
    }
  }
  if (shell("command -v tmux").empty()) {
    std::fprintf(stderr, "top_bench: needs tmux (scripts/install-deps.sh test)\n");
    return 1;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  char folder_template[] = "/tmp/dtq-top-bench-XXXXXX";
  const fs::path folder = mkdtemp(folder_template);
  int result = 0;
  {
    Serve serve(folder / "data");
    Follower follower(serve.url);
    Tmux tmux(folder, std::string("env DTQ_API_KEY=") + kKey + " " + DTQ_CLI + " top --server " +
                          serve.url);
    const std::string top_pid = tmux.pane_pid();
    // Started, and both streams open: a job seen by both. Top's stream may
    // have opened after the bench's, so the two counts differ by what top
    // missed: `offset`, read once both are still.
    const auto ready_by = Clock::now() + 20s;
    while (Clock::now() < ready_by && screen_updates(tmux.screen()).value_or(0) == 0) {
      submit_at(serve.url, 10, 100ms, 1);
      std::this_thread::sleep_for(200ms);
    }
    size_t warm = follower.count();
    std::optional<size_t> shown = screen_updates(tmux.screen());
    for (int still = 0; still < 5 && Clock::now() < ready_by;) {
      std::this_thread::sleep_for(100ms);
      const size_t now_warm = follower.count();
      const auto now_shown = screen_updates(tmux.screen());
      still = now_warm == warm && now_shown == shown ? still + 1 : 0;
      warm = now_warm;
      shown = now_shown;
    }
    if (shown.value_or(0) == 0 || warm < *shown) {
      std::fprintf(stderr, "top_bench: dtq top did not come up (bench saw %zu updates):\n%s\n",
                   warm, tmux.screen().c_str());
      result = 1;
      rates.clear();  // nothing to measure; the folder is still removed
    }
    const size_t offset = warm - shown.value_or(0);
    const double per_job = 4.0;  // queued, running, its one progress, completed (the no-op's)
    std::printf(
        "dtq top against dtq serve (no-op plugin), tmux 200x50, a %.0f s step per rate "
        "(client, server, tmux and top share the machine's cores)\n",
        seconds);
    std::printf("  %10s %10s %10s %10s %10s %10s %10s %9s\n", "offered/s", "server/s", "screen/s",
                "lag p50", "lag p99", "lag max", "caught up", "top CPU");
    for (const double rate : rates) {
      const size_t server_before = follower.count();
      const size_t screen_before = screen_updates(tmux.screen()).value_or(0) + offset;
      const double cpu_before = cpu_seconds(top_pid);
      std::atomic<bool> loading{true};
      std::vector<double> lags;
      const auto start = Clock::now();
      std::thread sampler([&] {
        while (loading) {
          const std::string screen = tmux.screen();
          const auto now = Clock::now();
          const auto drawn = screen_updates(screen);
          if (drawn && *drawn + offset > server_before) {
            if (const auto sent = follower.seen(*drawn + offset)) {
              lags.push_back(std::chrono::duration<double, std::milli>(now - *sent).count());
            }
          }
          std::this_thread::sleep_for(10ms);
        }
      });
      const auto span = std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
      submit_at(serve.url, rate / per_job, span, 4);
      const auto stop = Clock::now();
      const size_t screen_at_stop = screen_updates(tmux.screen()).value_or(0) + offset;
      loading = false;
      sampler.join();
      // Every update of the step on the server's side, then on the screen.
      const auto settle_by = Clock::now() + 30s;
      size_t server_after = follower.count();
      while (Clock::now() < settle_by) {
        std::this_thread::sleep_for(100ms);
        const size_t now_count = follower.count();
        if (now_count == server_after) break;
        server_after = now_count;
      }
      std::optional<double> caught_up;
      while (Clock::now() < settle_by) {
        if (screen_updates(tmux.screen()).value_or(0) + offset >= server_after) {
          caught_up = std::chrono::duration<double>(Clock::now() - stop).count();
          break;
        }
        std::this_thread::sleep_for(10ms);
      }
      const double span_s = std::chrono::duration<double>(stop - start).count();
      char caught[32];
      if (caught_up) {
        std::snprintf(caught, sizeof caught, "%.2f s", *caught_up);
      } else {
        std::snprintf(caught, sizeof caught, "never");
        result = 2;
      }
      std::printf("  %10.0f %10.0f %10.0f %7.0f ms %7.0f ms %7.0f ms %10s %8.0f%%\n", rate,
                  static_cast<double>(server_after - server_before) / span_s,
                  static_cast<double>(screen_at_stop - screen_before) / span_s,
                  percentile(lags, 0.5), percentile(lags, 0.99), percentile(lags, 1.0), caught,
                  100.0 * (cpu_seconds(top_pid) - cpu_before) /
                      std::chrono::duration<double>(Clock::now() - start).count());
      std::fflush(stdout);
    }
  }
  fs::remove_all(folder);
  curl_global_cleanup();
  return result;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "top_bench: %s\n", error.what());
    return 1;
  }
}
