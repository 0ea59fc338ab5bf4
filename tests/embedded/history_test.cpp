// The embedded job history (job_events in history.db): a batch appended in
// one commit, one job's events listed oldest first, kept across a reopen,
// trimmed by the retention trimmer with the job's status and result, the
// list reading the job_id index, and the events an older dtq kept in
// dtq.db moved over.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>
#include <vector>

#include "dtq/core/job_history_recorder.hpp"
#include "dtq/core/time.hpp"
#include "embedded_test_util.hpp"
#include "support/status_helpers.hpp"

namespace dtq::embedded::testing {
namespace {

using dtq::testing::status_of;
using dtq::testing::update_ok;

JobEvent event(const std::string& job_id, JobEventKind kind, uint32_t attempt = 0,
               std::string at = now_rfc3339()) {
  return JobEvent{.job_id = job_id,
                  .job_type = "echo",
                  .at = std::move(at),
                  .kind = kind,
                  .attempt = attempt,
                  .worker = attempt > 0 ? "host/42 (worker)" : "",
                  .error_code = kind == JobEventKind::kRetry ? "timeout" : "",
                  .detail = std::string(to_string(kind))};
}

// Runs `sql` on `file` and returns the first column of its first row.
std::string run_sql(const std::filesystem::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* statement = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &statement, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  std::string first;
  if (sqlite3_step(statement) == SQLITE_ROW && sqlite3_column_text(statement, 0) != nullptr)
    first = reinterpret_cast<const char*>(sqlite3_column_text(statement, 0));
  sqlite3_finalize(statement);
  sqlite3_close(db);
  return first;
}

std::string query_plan(const std::filesystem::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* statement = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, ("EXPLAIN QUERY PLAN " + sql).c_str(), -1, &statement, nullptr),
            SQLITE_OK);
  std::string plan;
  while (sqlite3_step(statement) == SQLITE_ROW)
    plan += reinterpret_cast<const char*>(sqlite3_column_text(statement, 3));
  sqlite3_finalize(statement);
  sqlite3_close(db);
  return plan;
}

class HistoryTest : public EmbeddedTest {};

TEST_F(HistoryTest, AppendsAndListsOneJobOldestFirstAcrossAReopen) {
  const std::string id = new_uuid4();
  const std::string other = new_uuid4();
  {
    auto backends = open();
    const std::vector<JobEvent> batch = {
        event(id, JobEventKind::kSubmitted, 0, "2026-01-01T00:00:00.000Z"),
        event(other, JobEventKind::kSubmitted, 0, "2026-01-01T00:00:00.000Z"),
        event(id, JobEventKind::kStarted, 1, "2026-01-01T00:00:00.010Z"),
        event(id, JobEventKind::kRetry, 1, "2026-01-01T00:00:00.020Z"),
        event(id, JobEventKind::kStarted, 2, "2026-01-01T00:00:00.030Z")};
    ASSERT_TRUE(backends.history->append(batch).ok());
    // Another batch; one event in the same millisecond as a later kind
    // written earlier is ordered by the life of a job.
    const std::vector<JobEvent> later = {
        event(id, JobEventKind::kCompleted, 2, "2026-01-01T00:00:00.040Z")};
    ASSERT_TRUE(backends.history->append(later).ok());
  }
  auto backends = open();
  auto events = backends.history->list(id, 100);
  ASSERT_TRUE(events.ok()) << events.status().message();
  ASSERT_EQ(events->size(), 5u);
  std::vector<JobEventKind> kinds;
  for (const auto& e : *events) kinds.push_back(e.kind);
  EXPECT_THAT(kinds, ::testing::ElementsAre(JobEventKind::kSubmitted, JobEventKind::kStarted,
                                            JobEventKind::kRetry, JobEventKind::kStarted,
                                            JobEventKind::kCompleted));
  EXPECT_EQ((*events)[2], event(id, JobEventKind::kRetry, 1, "2026-01-01T00:00:00.020Z"));
  EXPECT_EQ(backends.history->list(id, 2)->size(), 2u);
  EXPECT_EQ(backends.history->list(other, 100)->size(), 1u);
  auto none = backends.history->list(new_uuid4(), 100);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_THAT(query_plan(dir_ / "history.db", "SELECT * FROM job_events WHERE job_id = 'x'"),
              ::testing::HasSubstr("job_events_by_job"));
}

TEST_F(HistoryTest, TheRetentionTrimTakesAJobsEventsWithIt) {
  auto opened = open_embedded({.data_dir = dir_,
                               .poll_interval = 10ms,
                               .retention = RetentionPolicy{.finished = std::chrono::hours(24)},
                               .trim_interval = 10ms});
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  auto& backends = *opened;
  const std::string old_job = new_uuid4();
  const std::string young_job = new_uuid4();
  for (const auto& [id, age] :
       {std::pair{old_job, std::chrono::hours(48)}, std::pair{young_job, std::chrono::hours(1)}}) {
    const std::vector<JobEvent> events = {event(id, JobEventKind::kSubmitted),
                                          event(id, JobEventKind::kCompleted, 1)};
    ASSERT_TRUE(backends.history->append(events).ok());
    update_ok(*backends.statuses, status_of(id, JobState::kCompleted, 100, "completed"));
    ASSERT_TRUE(backends.results
                    ->put(JobResult{.job_id = id,
                                    .job_type = "echo",
                                    .input = "{}",
                                    .output = "{}",
                                    .completed_at = to_rfc3339(Clock::now() - age)})
                    .ok());
  }
  ASSERT_TRUE(eventually([&] { return !backends.results->get(old_job).ok(); }));
  EXPECT_TRUE(eventually([&] { return backends.history->list(old_job, 100)->empty(); }));
  EXPECT_EQ(backends.history->list(young_job, 100)->size(), 2u);
}

TEST_F(HistoryTest, EventsAnOlderDtqKeptInTheJobsFileMoveToTheHistoryFile) {
  const std::string id = new_uuid4();
  { auto backends = open(); }  // dtq.db at its current schema, job_events empty
  // As an older dtq left the folder: its events in dtq.db, no history.db.
  std::filesystem::remove(dir_ / "history.db");
  for (const char* kind : {"submitted", "started", "completed"}) {
    run_sql(dir_ / "dtq.db",
            "INSERT INTO job_events(job_id, job_type, at, kind, attempt, worker, error_code,"
            " related_job_id, detail) VALUES('" +
                id + "', 'echo', '2026-01-01T00:00:00.000Z', '" + kind + "', 1, '', '', '', '')");
  }
  auto backends = open();
  auto events = backends.history->list(id, 100);
  ASSERT_TRUE(events.ok()) << events.status().message();
  ASSERT_EQ(events->size(), 3u);
  EXPECT_EQ((*events)[0].kind, JobEventKind::kSubmitted);
  EXPECT_EQ((*events)[2].kind, JobEventKind::kCompleted);
  EXPECT_EQ(run_sql(dir_ / "dtq.db", "SELECT count(*) FROM job_events"), "0");
}

TEST_F(HistoryTest, TheRecordersWriteThroughTheWriterIntoSqlite) {
  auto backends = open();
  auto writer = make_history_writer(backends.history);
  auto statuses = record_history(backends.statuses, writer, "host/7");
  const std::string id = new_uuid4();
  update_ok(*statuses, status_of(id, JobState::kQueued, 0, "queued"));
  ASSERT_TRUE(statuses->request_cancel(id).ok());
  auto events = writer->list(id, 100);  // sees what was recorded before it
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[0].kind, JobEventKind::kSubmitted);
  EXPECT_EQ((*events)[1].kind, JobEventKind::kCancelRequested);
}

}  // namespace
}  // namespace dtq::embedded::testing
