// One job through the plugin boundary: the host builds a job context, calls
// the plugin's run(), the plugin reports progress and sets a result through
// the host API, and the host reads the outcome.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <iostream>

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

void BM_HostPluginHostCall(benchmark::State& state) {
  const auto plugin = noop_plugin();
  dtq::host::HttpClient http;
  CountingObserver observer;
  dtq::host::JobRequest request{.job_id = "00000000-0000-4000-8000-000000000000",
                                .job_type = "bench_noop",
                                .trace_id = "00000000-0000-4000-8000-000000000001",
                                .payload = "{}"};
  for (auto _ : state) {
    const auto context = dtq::host::JobContext::create(request, {}, http, &observer);
    plugin->run(*context);
    auto outcome = context->finish();
    benchmark::DoNotOptimize(outcome);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HostPluginHostCall);

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

}  // namespace

BENCHMARK_MAIN();
