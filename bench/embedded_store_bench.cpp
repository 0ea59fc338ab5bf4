// The embedded backends alone (no engine, no plugin): durable batch enqueue,
// a batch submit's queued statuses and JobService::submit_batch itself,
// and the full life of a job as a worker drives it — enqueue, take, two
// status updates, result put, ack — from 8 threads. Reports items/s. Then a
// page of a filtered listing over millions of stored jobs
// (DTQ_BENCH_LIST_JOBS, 5,000,000 by default), which must not depend on how
// many there are.
#include <benchmark/benchmark.h>
#include <sqlite3.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "dtq/core/ids.hpp"
#include "dtq/core/job_service.hpp"
#include "dtq/core/logging.hpp"
#include "dtq/core/status_progress_query.hpp"
#include "dtq/core/time.hpp"
#include "dtq/embedded/embedded_backends.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// One database per benchmark run, shared by its threads.
struct Fixture {
  fs::path dir;
  dtq::embedded::EmbeddedBackends backends;
};
Fixture* fixture = nullptr;

void open_fixture(const benchmark::State&) {
  fixture = new Fixture{fs::temp_directory_path() / ("dtq-store-bench-" + dtq::new_uuid4()), {}};
  auto backends = dtq::embedded::open_embedded({.data_dir = fixture->dir});
  if (!backends.ok()) {
    std::fprintf(stderr, "%s\n", backends.status().message().c_str());
    std::abort();
  }
  fixture->backends = std::move(backends).value();
}

void close_fixture(const benchmark::State&) {
  const fs::path dir = fixture->dir;
  delete fixture;  // closes the database before its files go
  fixture = nullptr;
  fs::remove_all(dir);
}

dtq::JobMessage make_message() {
  return dtq::JobMessage{.job_id = dtq::new_uuid4(),
                         .job_type = "bench",
                         .submitted_at = dtq::now_rfc3339(),
                         .trace_id = dtq::new_uuid4(),
                         .payload = R"({"city":"Berlin"})"};
}

void BM_EnqueueBatch1000(benchmark::State& state) {
  std::vector<dtq::JobMessage> batch(1000);
  for (auto _ : state) {
    state.PauseTiming();
    for (auto& message : batch) message = make_message();
    state.ResumeTiming();
    if (auto s = fixture->backends.queue->enqueue_batch(batch); !s.ok()) {
      state.SkipWithError(s.message().c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(batch.size()));
}
BENCHMARK(BM_EnqueueBatch1000)
    ->Setup(open_fixture)
    ->Teardown(close_fixture)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// The queued statuses of 1,000 new jobs, as a batch submit writes them
// before its one enqueue: the part of POST /v1/jobs:batch the status store
// costs.
void BM_QueuedStatuses1000(benchmark::State& state) {
  std::vector<dtq::JobMessage> batch(1000);
  for (auto _ : state) {
    state.PauseTiming();
    for (auto& message : batch) message = make_message();
    state.ResumeTiming();
    for (const auto& message : batch) {
      auto stored = fixture->backends.statuses->update({.job_id = message.job_id,
                                                        .state = dtq::JobState::kQueued,
                                                        .updated_at = message.submitted_at,
                                                        .message = "queued",
                                                        .trace_id = message.trace_id,
                                                        .job_type = message.job_type});
      if (!stored.ok()) {
        state.SkipWithError(stored.status().message().c_str());
        return;
      }
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(batch.size()));
}
BENCHMARK(BM_QueuedStatuses1000)
    ->Setup(open_fixture)
    ->Teardown(close_fixture)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// A payload validator that accepts everything as it is: the plugin's
// share left out.
class AcceptAll final : public dtq::PayloadValidator {
 public:
  std::optional<dtq::ValidationOutcome> validate(std::string_view,
                                                 std::string_view payload) override {
    return dtq::ValidationOutcome{.normalized_payload = std::string(payload)};
  }
};

// JobService::submit_batch of 1,000 jobs over the embedded stores, the
// validation free: what a batch costs the service without the plugin and
// without HTTP.
void BM_SubmitBatch1000(benchmark::State& state) {
  AcceptAll validator;
  dtq::StatusProgressQuery progress(*fixture->backends.statuses);
  dtq::JobService jobs(*fixture->backends.queue, *fixture->backends.statuses,
                       *fixture->backends.results, validator, progress);
  const std::vector<dtq::BatchSubmission> batch(
      1000, {.job_type = "bench", .payload = R"({"city":"Berlin"})"});
  for (auto _ : state) {
    auto submitted = jobs.submit_batch(batch);
    if (!submitted.ok() || !submitted->front().ok()) {
      state.SkipWithError("submit_batch failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(batch.size()));
}
BENCHMARK(BM_SubmitBatch1000)
    ->Setup(open_fixture)
    ->Teardown(close_fixture)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_JobCycle(benchmark::State& state) {
  auto& queue = *fixture->backends.queue;
  auto& statuses = *fixture->backends.statuses;
  auto& results = *fixture->backends.results;
  for (auto _ : state) {
    const dtq::JobMessage message = make_message();
    if (auto s = queue.enqueue(message); !s.ok()) {
      state.SkipWithError(s.message().c_str());
      break;
    }
    auto taken = queue.take("bench", 1, 5s);
    if (!taken.ok() || taken->empty()) {
      state.SkipWithError("take returned nothing");
      break;
    }
    const dtq::Delivery& delivery = taken->front();
    const dtq::JobMessage& job = delivery.message;
    dtq::JobStatus status{.job_id = job.job_id,
                          .state = dtq::JobState::kRunning,
                          .progress_percent = 50,
                          .updated_at = dtq::now_rfc3339(),
                          .message = "halfway",
                          .trace_id = job.trace_id,
                          .job_type = job.job_type,
                          .attempt = 1};
    (void)statuses.update(status);
    auto stored = results.put(dtq::JobResult{.job_id = job.job_id,
                                             .job_type = job.job_type,
                                             .input = job.payload,
                                             .output = R"({"ok":true})",
                                             .started_at = status.updated_at,
                                             .completed_at = dtq::now_rfc3339(),
                                             .trace_id = job.trace_id,
                                             .attempts = 1});
    if (!stored.ok()) {
      state.SkipWithError(stored.status().message().c_str());
      break;
    }
    status.state = dtq::JobState::kCompleted;
    status.progress_percent = 100;
    status.message = "completed";
    (void)statuses.update(status);
    (void)queue.ack(delivery);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_JobCycle)->Setup(open_fixture)->Teardown(close_fixture)->Threads(8)->UseRealTime();

// Stores `jobs` finished statuses straight into dtq.db (as fast as SQLite
// inserts), 1 in 100 failed, spread over 3 job types.
void fill_statuses(const fs::path& dir, int64_t jobs) {
  sqlite3* db = nullptr;
  char* error = nullptr;
  const std::string sql =
      "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < " +
      std::to_string(jobs) +
      ") INSERT INTO job_status SELECT printf('00000000-0000-4000-8000-%012d', x),"
      " CASE WHEN x % 100 = 0 THEN 'failed' ELSE 'completed' END, 100, '2026-01-01T00:00:00.000Z', "
      "'', '',"
      " 'type' || (x % 3), '', '', 1 FROM n";
  if (sqlite3_open((dir / "dtq.db").c_str(), &db) != SQLITE_OK ||
      sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    std::fprintf(stderr, "cannot fill the listing fixture: %s\n",
                 error != nullptr ? error : sqlite3_errmsg(db));
    std::abort();
  }
  sqlite3_close(db);
}

void open_listing_fixture(const benchmark::State& state) {
  open_fixture(state);
  // NOLINTNEXTLINE(concurrency-mt-unsafe): read before any thread starts
  const char* configured = std::getenv("DTQ_BENCH_LIST_JOBS");
  const int64_t jobs = configured != nullptr ? std::atoll(configured) : 5'000'000;
  fill_statuses(fixture->dir, jobs);
  std::printf("listing over %lld stored jobs\n", static_cast<long long>(jobs));
}

// One page (20) of failed jobs of one type, the rarest filter: a store that
// scanned would read every row for it.
void BM_FilteredListingPage(benchmark::State& state) {
  auto& statuses = *fixture->backends.statuses;
  for (auto _ : state) {
    auto page = statuses.list({.state = dtq::JobState::kFailed, .job_type = "type1", .limit = 20});
    if (!page.ok() || page->statuses.size() != 20) {
      state.SkipWithError(page.ok() ? "short page" : page.status().message().c_str());
      break;
    }
    benchmark::DoNotOptimize(page);
  }
}
BENCHMARK(BM_FilteredListingPage)
    ->Setup(open_listing_fixture)
    ->Teardown(close_fixture)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
  (void)dtq::configure_logging("warn");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
