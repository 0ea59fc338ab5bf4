// One job through the plugin boundary: the payload is checked (by the host,
// or in the runner when isolated), the host builds a job context, calls
// the plugin's run(), the plugin reports progress and sets a result through
// the host API, and the host reads the outcome. Once with the plugin in this
// process, once in a supervised runner process (the default), and the
// difference printed: what the boundary alone costs a job, in CPU time of
// both processes, with no engine around it (bench/isolation_cost.py
// measures a job end to end, engine and store included).
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <condition_variable>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <vector>

#include "dtq/host/isolated_plugin.hpp"
#include "dtq/host/job_context.hpp"
#include "dtq/host/plugin_loader.hpp"

namespace {

// $name, else `fallback`: a copy of an older build's plugin and runner can
// be measured with this binary, side by side with the current ones.
const char* env_or(const char* name, const char* fallback) {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): read before any thread starts
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

std::shared_ptr<dtq::host::Plugin> noop_plugin() {
  auto loaded = dtq::host::load_plugin(env_or("DTQ_BENCH_PLUGIN", DTQ_BENCH_PLUGIN));
  if (!loaded.ok()) {
    std::cerr << loaded.status().message() << "\n";
    std::abort();
  }
  return std::move(loaded).value();
}

class CountingObserver final : public dtq::host::JobObserver {
 public:
  void on_progress(const dtq::host::JobRequest&, int percent, std::string_view) override {
    benchmark::DoNotOptimize(last_ = percent);
  }

 private:
  int last_ = 0;
};

void BM_ProgressReportOnly(benchmark::State& state) {
  dtq::host::HttpClient http;
  CountingObserver observer;
  const auto context = dtq::host::JobContext::create(
      {.job_id = "j", .job_type = "bench_noop", .payload = "{}"}, {}, http, &observer);
  const dtq_host_api* api = dtq::host::host_api();
  int percent = 0;
  for (auto _ : state) {
    api->report_progress(context->abi_handle(), percent++ % 101, dtq_str{nullptr, 0});
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ProgressReportOnly);

double cpu_seconds(int who) {
  rusage usage{};
  getrusage(who, &usage);
  const auto seconds = [](timeval t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// CPU per job of this process and of the runners (reaped when the plugin
// goes, so that RUSAGE_CHILDREN holds them), the latest run of each mode:
// [0] one job at a time, [1] at full load (kFullLoad jobs at once).
constexpr int kFullLoad = 8;
double in_process_cpu_us[2] = {0, 0};
double isolated_cpu_us[2] = {0, 0};

std::shared_ptr<dtq::host::Plugin> isolated_noop_plugin() {
  dtq::host::RunnerSettings settings;
  settings.executable = env_or("DTQ_PLUGIN_RUNNER", DTQ_PLUGIN_RUNNER);
  auto plugin =
      dtq::host::IsolatedPlugin::start(env_or("DTQ_BENCH_PLUGIN", DTQ_BENCH_PLUGIN), settings);
  if (!plugin.ok()) {
    std::cerr << plugin.status().message() << "\n";
    std::abort();
  }
  return std::move(plugin).value();
}

// Checks the payload as the worker pool does before it runs a job, unless
// the plugin does so itself on run (an isolated one, in its runner): both
// modes do the same work.
void validate_like_the_pool(const dtq::host::Plugin& plugin, std::string_view payload) {
  if (plugin.validates_on_run()) return;
  auto outcome = plugin.validate(payload);
  benchmark::DoNotOptimize(outcome);
}

// Every benchmark thread runs no-op jobs on one plugin, made by thread 0
// before the timed loop starts (the loop's start waits for every thread)
// and dropped by it after the loop's end (which does too).
std::shared_ptr<dtq::host::Plugin> shared_plugin;
double cpu_before = 0;

void run_jobs(benchmark::State& state, std::shared_ptr<dtq::host::Plugin> (*make)(),
              double (&cpu_us_per_job)[2]) {
  if (state.thread_index() == 0) {
    cpu_before = cpu_seconds(RUSAGE_SELF) + cpu_seconds(RUSAGE_CHILDREN);
    shared_plugin = make();
  }
  dtq::host::HttpClient http;
  CountingObserver observer;
  dtq::host::JobRequest request{.job_id = "00000000-0000-4000-8000-000000000000",
                                .job_type = "bench_noop",
                                .trace_id = "00000000-0000-4000-8000-000000000001",
                                .payload = "{}"};
  for (auto _ : state) {
    validate_like_the_pool(*shared_plugin, request.payload);
    const auto context = dtq::host::JobContext::create(request, {}, http, &observer);
    shared_plugin->run(*context);
    auto outcome = context->finish();
    benchmark::DoNotOptimize(outcome);
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() != 0) return;
  shared_plugin.reset();
  const double jobs = static_cast<double>(state.iterations()) * state.threads();
  const double cpu_us =
      (cpu_seconds(RUSAGE_SELF) + cpu_seconds(RUSAGE_CHILDREN) - cpu_before) * 1e6 / jobs;
  cpu_us_per_job[state.threads() > 1 ? 1 : 0] = cpu_us;
  state.counters["cpu_us_per_job"] = cpu_us;
}

// Full load as a pool using run_async() makes it: one thread keeps up to
// kInFlight jobs started, topping up once half have ended, and no thread
// waits on any one job.
constexpr int kInFlight = 64;
double in_process_async_cpu_us = 0;
double isolated_async_cpu_us = 0;

void run_jobs_async(benchmark::State& state, std::shared_ptr<dtq::host::Plugin> (*make)(),
                    double& cpu_us_per_job) {
  const double before = cpu_seconds(RUSAGE_SELF) + cpu_seconds(RUSAGE_CHILDREN);
  {
    const auto plugin = make();
    dtq::host::HttpClient http;
    CountingObserver observer;
    dtq::host::JobRequest request{.job_id = "00000000-0000-4000-8000-000000000000",
                                  .job_type = "bench_noop",
                                  .trace_id = "00000000-0000-4000-8000-000000000001",
                                  .payload = "{}"};
    std::mutex mutex;
    std::condition_variable room;
    int in_flight = 0;
    for (auto _ : state) {
      {
        std::unique_lock lock(mutex);
        if (in_flight >= kInFlight) room.wait(lock, [&] { return in_flight <= kInFlight / 2; });
        ++in_flight;
      }
      validate_like_the_pool(*plugin, request.payload);
      auto context = dtq::host::JobContext::create(request, {}, http, &observer);
      dtq::host::JobContext* job = context.get();
      plugin->run_async(std::move(context), [&mutex, &room, &in_flight, job] {
        auto outcome = job->finish();
        benchmark::DoNotOptimize(outcome);
        std::lock_guard lock(mutex);
        if (--in_flight <= kInFlight / 2) room.notify_one();
      });
    }
    std::unique_lock lock(mutex);
    room.wait(lock, [&] { return in_flight == 0; });
  }
  state.SetItemsProcessed(state.iterations());
  cpu_us_per_job = (cpu_seconds(RUSAGE_SELF) + cpu_seconds(RUSAGE_CHILDREN) - before) * 1e6 /
                   static_cast<double>(state.iterations());
  state.counters["cpu_us_per_job"] = cpu_us_per_job;
}

// Full load as the worker pool makes it for a plugin that runs batches:
// jobs started kInFlight / 2 at a time through run_batch(), up to
// kInFlight in flight, each batch started once half have ended.
double in_process_batch_cpu_us = 0;
double isolated_batch_cpu_us = 0;

void run_jobs_batched(benchmark::State& state, std::shared_ptr<dtq::host::Plugin> (*make)(),
                      double& cpu_us_per_job) {
  const double before = cpu_seconds(RUSAGE_SELF) + cpu_seconds(RUSAGE_CHILDREN);
  {
    const auto plugin = make();
    dtq::host::HttpClient http;
    CountingObserver observer;
    dtq::host::JobRequest request{.job_id = "00000000-0000-4000-8000-000000000000",
                                  .job_type = "bench_noop",
                                  .trace_id = "00000000-0000-4000-8000-000000000001",
                                  .payload = "{}"};
    std::mutex mutex;
    std::condition_variable room;
    int in_flight = 0;  // started or about to be
    std::vector<dtq::host::Plugin::AsyncAttempt> batch;
    const auto start_batch = [&] {
      if (!batch.empty()) plugin->run_batch(std::move(batch));
      batch.clear();
    };
    for (auto _ : state) {
      {
        std::unique_lock lock(mutex);
        if (in_flight >= kInFlight) {
          lock.unlock();
          start_batch();
          lock.lock();
          room.wait(lock, [&] { return in_flight <= kInFlight / 2; });
        }
        ++in_flight;
      }
      validate_like_the_pool(*plugin, request.payload);
      auto context = dtq::host::JobContext::create(request, {}, http, &observer);
      dtq::host::JobContext* job = context.get();
      batch.push_back({std::move(context), [&mutex, &room, &in_flight, job] {
                         auto outcome = job->finish();
                         benchmark::DoNotOptimize(outcome);
                         std::lock_guard lock(mutex);
                         if (--in_flight <= kInFlight / 2) room.notify_one();
                       }});
      if (batch.size() >= static_cast<size_t>(kInFlight / 2)) start_batch();
    }
    start_batch();
    std::unique_lock lock(mutex);
    room.wait(lock, [&] { return in_flight == 0; });
  }
  state.SetItemsProcessed(state.iterations());
  cpu_us_per_job = (cpu_seconds(RUSAGE_SELF) + cpu_seconds(RUSAGE_CHILDREN) - before) * 1e6 /
                   static_cast<double>(state.iterations());
  state.counters["cpu_us_per_job"] = cpu_us_per_job;
}

void BM_JobBatch_InProcess(benchmark::State& state) {
  run_jobs_batched(state, &noop_plugin, in_process_batch_cpu_us);
}
BENCHMARK(BM_JobBatch_InProcess)->UseRealTime();

void BM_JobBatch_Isolated(benchmark::State& state) {
  run_jobs_batched(state, &isolated_noop_plugin, isolated_batch_cpu_us);
}
BENCHMARK(BM_JobBatch_Isolated)->UseRealTime();

void BM_JobAsync_InProcess(benchmark::State& state) {
  run_jobs_async(state, &noop_plugin, in_process_async_cpu_us);
}
BENCHMARK(BM_JobAsync_InProcess)->UseRealTime();

void BM_JobAsync_Isolated(benchmark::State& state) {
  run_jobs_async(state, &isolated_noop_plugin, isolated_async_cpu_us);
}
BENCHMARK(BM_JobAsync_Isolated)->UseRealTime();

void BM_Job_InProcess(benchmark::State& state) {
  run_jobs(state, &noop_plugin, in_process_cpu_us);
}
BENCHMARK(BM_Job_InProcess)->UseRealTime()->Threads(1)->Threads(kFullLoad);

void BM_Job_Isolated(benchmark::State& state) {
  run_jobs(state, &isolated_noop_plugin, isolated_cpu_us);
}
BENCHMARK(BM_Job_Isolated)->UseRealTime()->Threads(1)->Threads(kFullLoad);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (in_process_async_cpu_us > 0 && isolated_async_cpu_us > 0) {
    std::cout << "boundary cost, at full load through run_async (" << kInFlight
              << " jobs in flight): " << isolated_async_cpu_us - in_process_async_cpu_us
              << " us of CPU per job (isolated " << isolated_async_cpu_us << " us, in process "
              << in_process_async_cpu_us << " us)\n";
  }
  if (in_process_batch_cpu_us > 0 && isolated_batch_cpu_us > 0) {
    std::cout << "boundary cost, at full load through run_batch (batches of " << kInFlight / 2
              << ", up to " << kInFlight << " in flight, as the worker pool runs them): "
              << isolated_batch_cpu_us - in_process_batch_cpu_us << " us of CPU per job (isolated "
              << isolated_batch_cpu_us << " us, in process " << in_process_batch_cpu_us << " us)\n";
  }
  const char* modes[2] = {"one job at a time", "at full load (8 threads, a job each)"};
  for (int mode = 0; mode < 2; ++mode) {
    if (in_process_cpu_us[mode] <= 0 || isolated_cpu_us[mode] <= 0) continue;
    std::cout << "boundary cost, " << modes[mode] << ": "
              << isolated_cpu_us[mode] - in_process_cpu_us[mode] << " us of CPU per job (isolated "
              << isolated_cpu_us[mode] << " us, in process " << in_process_cpu_us[mode] << " us)\n";
  }
  return 0;
}
