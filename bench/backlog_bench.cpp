// A large backlog in the embedded store: what it costs in memory while it
// builds up, when the owner reopens on it, and whether taking from it slows
// down as it grows. Jobs are enqueued as the API does (queued status first,
// then the message, with the job history recorded as `dtq serve` records
// it), in batches, with nothing taking them; then the store is closed and
// reopened, and every job is taken and acknowledged.
//
//   backlog_bench [--jobs N] [--batch B] [--report-every R]
//
// Prints, for every stretch of R jobs, the resident memory (VmRSS) and the
// enqueue rate while the backlog builds, then the same for taking and
// acknowledging (32 at a time, as a pool of 32) after reopening.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "dtq/core/ids.hpp"
#include "dtq/core/job_history_recorder.hpp"
#include "dtq/core/logging.hpp"
#include "dtq/core/time.hpp"
#include "dtq/embedded/embedded_backends.hpp"

namespace {

using SteadyClock = std::chrono::steady_clock;
namespace fs = std::filesystem;

struct Options {
  size_t jobs = 1'000'000;
  size_t batch = 1000;
  size_t report_every = 100'000;
};

Options parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const auto value = std::strtoull(argv[i + 1], nullptr, 10);
    if (flag == "--jobs") options.jobs = value;
    if (flag == "--batch") options.batch = std::max<size_t>(value, 1);
    if (flag == "--report-every") options.report_every = std::max<size_t>(value, 1);
  }
  return options;
}

double rss_mb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) / 1024.0;
  }
  return 0;
}

double seconds_since(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

// Opened as cli/src/local_node.cpp wires `dtq serve`: history recorded.
struct Store {
  dtq::embedded::EmbeddedBackends backends;
  std::shared_ptr<dtq::HistoryWriter> history;
};

dtq::StatusOr<Store> open_store(const fs::path& data_dir) {
  auto backends = dtq::embedded::open_embedded({.data_dir = data_dir});
  if (!backends.ok()) return backends.status();
  Store store{.backends = std::move(backends).value()};
  store.history = dtq::make_history_writer(store.backends.history);
  const std::string identity = dtq::history_worker_identity("bench");
  store.backends.statuses = dtq::record_history(store.backends.statuses, store.history, identity);
  store.backends.queue = dtq::record_history(store.backends.queue, store.history, identity);
  return store;
}

void close_store(Store& store) {
  if (store.history) (void)store.history->flush();
  store.backends = {};
  store.history.reset();
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse(argc, argv);
  (void)dtq::configure_logging("warn");
  const fs::path data_dir = fs::temp_directory_path() / ("dtq-backlog-bench-" + dtq::new_uuid4());
  std::printf("embedded store, a backlog of %zu no-op jobs (batches of %zu), nothing taking\n",
              options.jobs, options.batch);
  std::printf("  RSS at start          %.1f MB\n", rss_mb());
  auto store = open_store(data_dir);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().message().c_str());
    return 1;
  }
  std::vector<dtq::JobMessage> batch;
  auto stretch = SteadyClock::now();
  size_t stretch_jobs = 0;
  for (size_t done = 0; done < options.jobs;) {
    batch.clear();
    const size_t count = std::min(options.batch, options.jobs - done);
    const std::string now = dtq::now_rfc3339();
    for (size_t i = 0; i < count; ++i) {
      batch.push_back(dtq::JobMessage{.job_id = dtq::new_uuid4(),
                                      .job_type = "bench_noop",
                                      .submitted_at = now,
                                      .trace_id = dtq::new_uuid4(),
                                      .payload = "{}"});
      (void)store->backends.statuses->update(dtq::JobStatus{.job_id = batch.back().job_id,
                                                            .state = dtq::JobState::kQueued,
                                                            .updated_at = now,
                                                            .message = "queued",
                                                            .trace_id = batch.back().trace_id,
                                                            .job_type = "bench_noop"});
    }
    if (auto s = store->backends.queue->enqueue_batch(batch); !s.ok()) {
      std::fprintf(stderr, "enqueue failed: %s\n", s.message().c_str());
      return 1;
    }
    done += count;
    stretch_jobs += count;
    if (stretch_jobs >= options.report_every || done == options.jobs) {
      std::printf("  queued %8zu        RSS %6.1f MB   enqueue %7.0f jobs/s\n", done, rss_mb(),
                  static_cast<double>(stretch_jobs) / seconds_since(stretch));
      std::fflush(stdout);
      stretch = SteadyClock::now();
      stretch_jobs = 0;
    }
  }
  close_store(*store);
  std::printf("  RSS after closing     %.1f MB\n", rss_mb());

  const auto reopening = SteadyClock::now();
  store = open_store(data_dir);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().message().c_str());
    return 1;
  }
  std::printf("  reopened in           %.2f s, RSS %.1f MB\n", seconds_since(reopening), rss_mb());

  // Taken in batches of 32 and acknowledged, as a pool of 32 would.
  size_t taken_total = 0;
  stretch = SteadyClock::now();
  stretch_jobs = 0;
  while (taken_total < options.jobs) {
    auto taken = store->backends.queue->take("bench_noop", 32, std::chrono::seconds(5));
    if (!taken.ok() || taken->empty()) {
      std::fprintf(stderr, "take stopped after %zu jobs: %s\n", taken_total,
                   taken.ok() ? "nothing left" : taken.status().message().c_str());
      return 1;
    }
    for (const auto& delivery : *taken) (void)store->backends.queue->ack(delivery);
    taken_total += taken->size();
    stretch_jobs += taken->size();
    if (stretch_jobs >= options.report_every || taken_total == options.jobs) {
      std::printf("  taken+acked %8zu   RSS %6.1f MB   take+ack %6.0f jobs/s\n", taken_total,
                  rss_mb(), static_cast<double>(stretch_jobs) / seconds_since(stretch));
      std::fflush(stdout);
      stretch = SteadyClock::now();
      stretch_jobs = 0;
    }
  }
  close_store(*store);
  fs::remove_all(data_dir);
  return 0;
}
