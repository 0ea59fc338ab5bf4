// One job through the plugin boundary: the host builds a job context, calls
// the plugin's run(), the plugin reports progress and sets a result through
// the host API, and the host reads the outcome. Once with the plugin in this
// process, once in a supervised runner process (the default), and the
// difference printed: what isolation costs a job, in CPU time of both
// processes.
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <cstdlib>
#include <iostream>

#include "dtq/host/isolated_plugin.hpp"
#include "dtq/host/job_context.hpp"
#include "dtq/host/plugin_loader.hpp"

namespace {

std::shared_ptr<dtq::host::Plugin> noop_plugin() {
  static auto plugin = [] {
    auto loaded = dtq::host::load_plugin(DTQ_BENCH_PLUGIN);
    if (!loaded.ok()) {
      std::cerr << loaded.status().message() << "\n";
      std::abort();
    }
    return std::move(loaded).value();
  }();
  return plugin;
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

// CPU per job of this process and of the runners (reaped when `plugin` goes,
// so that RUSAGE_CHILDREN holds them), the latest run of each mode.
double in_process_cpu_us = 0;
double isolated_cpu_us = 0;

void run_jobs(benchmark::State& state, const dtq::host::Plugin& plugin) {
  dtq::host::HttpClient http;
  CountingObserver observer;
  dtq::host::JobRequest request{.job_id = "00000000-0000-4000-8000-000000000000",
                                .job_type = "bench_noop",
                                .trace_id = "00000000-0000-4000-8000-000000000001",
                                .payload = "{}"};
  for (auto _ : state) {
    const auto context = dtq::host::JobContext::create(request, {}, http, &observer);
    plugin.run(*context);
    auto outcome = context->finish();
    benchmark::DoNotOptimize(outcome);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Job_InProcess(benchmark::State& state) {
  const double before = cpu_seconds(RUSAGE_SELF);
  run_jobs(state, *noop_plugin());
  in_process_cpu_us =
      (cpu_seconds(RUSAGE_SELF) - before) * 1e6 / static_cast<double>(state.iterations());
  state.counters["cpu_us_per_job"] = in_process_cpu_us;
}
BENCHMARK(BM_Job_InProcess)->UseRealTime();

void BM_Job_Isolated(benchmark::State& state) {
  const double before = cpu_seconds(RUSAGE_SELF) + cpu_seconds(RUSAGE_CHILDREN);
  {
    dtq::host::RunnerSettings settings;
    settings.executable = DTQ_PLUGIN_RUNNER;
    auto plugin = dtq::host::IsolatedPlugin::start(DTQ_BENCH_PLUGIN, settings);
    if (!plugin.ok()) {
      state.SkipWithError(plugin.status().message().c_str());
      return;
    }
    run_jobs(state, **plugin);
  }
  isolated_cpu_us = (cpu_seconds(RUSAGE_SELF) + cpu_seconds(RUSAGE_CHILDREN) - before) * 1e6 /
                    static_cast<double>(state.iterations());
  state.counters["cpu_us_per_job"] = isolated_cpu_us;
}
BENCHMARK(BM_Job_Isolated)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (in_process_cpu_us > 0 && isolated_cpu_us > 0) {
    std::cout << "isolation cost: " << isolated_cpu_us - in_process_cpu_us
              << " us of CPU per job (isolated " << isolated_cpu_us << " us, in process "
              << in_process_cpu_us << " us, ratio " << isolated_cpu_us / in_process_cpu_us
              << "x)\n";
  }
  return 0;
}
