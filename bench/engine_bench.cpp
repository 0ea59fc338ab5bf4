// The embedded job engine end to end: jobs enqueued durably (queued status
// first, as the API does), run by the no-op
// plugin (one progress report each), results stored and acknowledged. Prints
// throughput and submit->complete latency percentiles.
//
//   engine_bench [--jobs N] [--concurrency C] [--batch B] [--isolated 0|1] [--history 0|1]
//
// --isolated 1 (the default, as in dtq) runs the plugin in a supervised
// runner process; 0 loads it into this one. --history 1 (the default, as in
// dtq) records the job history through the recording decorators, as the
// wiring of `dtq serve` does; 0 measures without it.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "dtq/core/ids.hpp"
#include "dtq/core/job_history_recorder.hpp"
#include "dtq/core/logging.hpp"
#include "dtq/core/time.hpp"
#include "dtq/embedded/embedded_backends.hpp"
#include "dtq/host/engine.hpp"
#include "dtq/host/isolated_plugin.hpp"
#include "dtq/host/plugin_loader.hpp"

namespace {

using SteadyClock = std::chrono::steady_clock;
namespace fs = std::filesystem;

struct Options {
  size_t jobs = 200'000;
  uint32_t concurrency = 32;
  size_t batch = 500;
  bool isolated = true;
  bool history = true;
};

Options parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const auto value = std::strtoull(argv[i + 1], nullptr, 10);
    if (flag == "--jobs") options.jobs = value;
    if (flag == "--concurrency") options.concurrency = static_cast<uint32_t>(value);
    if (flag == "--batch") options.batch = value;
    if (flag == "--isolated") options.isolated = value != 0;
    if (flag == "--history") options.history = value != 0;
  }
  return options;
}

// $name, else `fallback`: a copy of an older build's plugin and runner can
// be measured with this binary, side by side with the current ones.
const char* env_or(const char* name, const char* fallback) {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): read before any thread starts
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

// CPU seconds (user and system) of this process and of its live children
// (the plugin runners), read from /proc: the runners are still running when
// the figure is taken, so RUSAGE_CHILDREN would miss them.
struct CpuSeconds {
  double self = 0;
  double children = 0;
};
CpuSeconds cpu_seconds() {
  const auto ticks_per_second = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const auto stat_cpu = [&](const fs::path& stat, pid_t& parent) {
    std::ifstream in(stat);
    std::string line;
    std::getline(in, line);
    // Fields after the command, which may hold spaces: state ppid ... utime(14) stime(15).
    const auto close = line.rfind(')');
    if (close == std::string::npos) return 0.0;
    std::istringstream fields(line.substr(close + 2));
    std::string field;
    double cpu = 0;
    for (int i = 3; fields >> field && i <= 15; ++i) {
      if (i == 4) parent = static_cast<pid_t>(std::stol(field));
      if (i == 14 || i == 15) cpu += std::stod(field) / ticks_per_second;
    }
    return cpu;
  };
  pid_t parent = 0;
  CpuSeconds total{.self = stat_cpu("/proc/self/stat", parent)};
  const pid_t self = ::getpid();
  std::error_code error;
  for (const auto& entry : fs::directory_iterator("/proc", error)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t child_parent = 0;
    const double cpu = stat_cpu(entry.path() / "stat", child_parent);
    if (child_parent == self) total.children += cpu;
  }
  return total;
}

double percentile(std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto index = static_cast<size_t>(p * static_cast<double>(sorted.size() - 1));
  return sorted[index];
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse(argc, argv);
  (void)dtq::configure_logging("warn");
  const fs::path data_dir = fs::temp_directory_path() / ("dtq-engine-bench-" + dtq::new_uuid4());

  dtq::host::IsolationSettings isolation;
  isolation.isolate = options.isolated;
  isolation.runner.executable = env_or("DTQ_PLUGIN_RUNNER", DTQ_PLUGIN_RUNNER);
  auto plugin = dtq::host::start_plugin(env_or("DTQ_BENCH_PLUGIN", DTQ_BENCH_PLUGIN), isolation);
  if (!plugin.ok()) {
    std::fprintf(stderr, "%s\n", plugin.status().message().c_str());
    return 1;
  }
  dtq::host::PluginRegistry registry;
  (void)registry.add(*plugin);
  auto backends = dtq::embedded::open_embedded({.data_dir = data_dir});
  if (!backends.ok()) {
    std::fprintf(stderr, "%s\n", backends.status().message().c_str());
    return 1;
  }
  // As cli/src/local_node.cpp wires it.
  std::shared_ptr<dtq::HistoryWriter> history;
  if (options.history) {
    history = dtq::make_history_writer(backends->history);
    const std::string identity = dtq::history_worker_identity("bench");
    backends->statuses = dtq::record_history(backends->statuses, history, identity);
    backends->queue = dtq::record_history(backends->queue, history, identity);
  }

  // Submit times by job id, filled before the job can possibly finish.
  std::vector<dtq::JobMessage> messages(options.jobs);
  std::unordered_map<std::string, size_t> index;
  index.reserve(options.jobs);
  for (size_t i = 0; i < options.jobs; ++i) {
    messages[i] = dtq::JobMessage{.job_id = dtq::new_uuid4(),
                                  .job_type = "bench_noop",
                                  .submitted_at = dtq::now_rfc3339(),
                                  .trace_id = dtq::new_uuid4(),
                                  .payload = "{}"};
    index.emplace(messages[i].job_id, i);
  }
  std::vector<SteadyClock::time_point> submitted(options.jobs);
  std::vector<double> latency_ms;
  latency_ms.reserve(options.jobs);
  std::mutex mutex;
  std::condition_variable all_done;
  std::atomic<size_t> completed{0};
  auto subscription = backends->statuses->subscribe("", [&](const dtq::JobStatus& status) {
    if (status.state != dtq::JobState::kCompleted) return;
    const auto now = SteadyClock::now();
    const auto it = index.find(status.job_id);
    if (it == index.end()) return;
    std::lock_guard lock(mutex);
    latency_ms.push_back(
        std::chrono::duration<double, std::milli>(now - submitted[it->second]).count());
    if (++completed == options.jobs) all_done.notify_all();
  });

  dtq::host::HttpClient http;
  dtq::host::EngineSettings settings;
  settings.per_plugin["bench_noop"].concurrency = options.concurrency;
  auto engine = dtq::host::Engine::create(
      registry, settings, {*backends->queue, *backends->statuses, *backends->results}, http);
  if (!engine.ok()) {
    std::fprintf(stderr, "%s\n", engine.status().message().c_str());
    return 1;
  }
  (*engine)->start();

  const CpuSeconds cpu_before = cpu_seconds();
  const auto start = SteadyClock::now();
  for (size_t first = 0; first < options.jobs; first += options.batch) {
    const size_t count = std::min(options.batch, options.jobs - first);
    const auto now = SteadyClock::now();
    // As the API does: the queued status first, then the message.
    for (size_t i = first; i < first + count; ++i) {
      submitted[i] = now;
      (void)backends->statuses->update(dtq::JobStatus{.job_id = messages[i].job_id,
                                                      .state = dtq::JobState::kQueued,
                                                      .updated_at = messages[i].submitted_at,
                                                      .message = "queued",
                                                      .trace_id = messages[i].trace_id,
                                                      .job_type = messages[i].job_type});
    }
    if (auto s = backends->queue->enqueue_batch({messages.data() + first, count}); !s.ok()) {
      std::fprintf(stderr, "enqueue failed: %s\n", s.message().c_str());
      return 1;
    }
  }
  const auto enqueued = SteadyClock::now();
  {
    std::unique_lock lock(mutex);
    all_done.wait(lock, [&] { return completed.load() == options.jobs; });
  }
  const auto finished = SteadyClock::now();
  const CpuSeconds cpu_after = cpu_seconds();
  (*engine)->drain();
  subscription.reset();

  const double seconds = std::chrono::duration<double>(finished - start).count();
  const double enqueue_seconds = std::chrono::duration<double>(enqueued - start).count();
  std::sort(latency_ms.begin(), latency_ms.end());
  std::printf("embedded engine, no-op plugin with one progress report per job\n");
  std::printf("  plugin               %s\n",
              options.isolated ? "isolated (a runner process)" : "in process");
  std::printf("  job history          %s\n", options.history ? "recorded" : "off");
  std::printf("  jobs                 %zu (concurrency %u, enqueue batches of %zu)\n", options.jobs,
              options.concurrency, options.batch);
  std::printf("  durable enqueue      %.0f jobs/s\n",
              static_cast<double>(options.jobs) / enqueue_seconds);
  std::printf("  submit -> complete   %.0f jobs/s\n", static_cast<double>(options.jobs) / seconds);
  std::printf("  latency p50          %.2f ms\n", percentile(latency_ms, 0.50));
  std::printf("  latency p99          %.2f ms\n", percentile(latency_ms, 0.99));
  // Enqueue, run and store alike, of this process and the runner: the
  // difference between --isolated 1 and 0 is what isolation costs a job.
  const double per_job = 1e6 / static_cast<double>(options.jobs);
  const double self_us = (cpu_after.self - cpu_before.self) * per_job;
  const double runner_us = (cpu_after.children - cpu_before.children) * per_job;
  std::printf("  CPU per job          %.1f us (this process %.1f, plugin runner %.1f)\n",
              self_us + runner_us, self_us, runner_us);
  if (history) (void)history->flush();
  backends = dtq::Status{};  // close before removing the files
  history.reset();
  fs::remove_all(data_dir);
  return 0;
}
