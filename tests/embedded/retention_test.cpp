// The embedded store's retention: finished jobs and dead letters past their
// retention are trimmed, in the owner, by job type; what is younger or still
// running stays; the file stays at a steady size under a steady load; and a
// filtered listing reads an index, however many jobs are stored.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>
#include <vector>

#include "dtq/core/time.hpp"
#include "embedded_test_util.hpp"
#include "support/status_helpers.hpp"

namespace dtq::embedded::testing {
namespace {

using dtq::testing::status_of;
using dtq::testing::update_ok;
using ::testing::HasSubstr;
using ::testing::Not;

// A second connection to dtq.db, as another tool would open it.
class RawDatabase {
 public:
  explicit RawDatabase(const std::filesystem::path& file) {
    EXPECT_EQ(sqlite3_open(file.c_str(), &db_), SQLITE_OK);
    sqlite3_busy_timeout(db_, 5000);
  }
  ~RawDatabase() { sqlite3_close(db_); }
  RawDatabase(const RawDatabase&) = delete;
  RawDatabase& operator=(const RawDatabase&) = delete;

  void exec(const std::string& sql) {
    char* error = nullptr;
    EXPECT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
        << (error != nullptr ? error : "");
    sqlite3_free(error);
  }
  int64_t integer(const std::string& sql) {
    const auto values = column(sql, 0);
    return values.empty() ? -1 : std::stoll(values[0]);
  }
  // What the planner would do with `sql`, a step per entry.
  std::vector<std::string> plan(const std::string& sql) {
    return column("EXPLAIN QUERY PLAN " + sql, 3);
  }

 private:
  std::vector<std::string> column(const std::string& sql, int index) {
    sqlite3_stmt* statement = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &statement, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db_);
    std::vector<std::string> out;
    while (sqlite3_step(statement) == SQLITE_ROW) {
      const auto* text = sqlite3_column_text(statement, index);
      out.emplace_back(text != nullptr ? reinterpret_cast<const char*>(text) : "");
    }
    sqlite3_finalize(statement);
    return out;
  }

  sqlite3* db_ = nullptr;
};

class RetentionTest : public EmbeddedTest {
 protected:
  EmbeddedBackends open_with(RetentionPolicy retention, size_t trim_batch = 1000) {
    auto backends = open_embedded({.data_dir = dir_,
                                   .poll_interval = 10ms,
                                   .retention = std::move(retention),
                                   .trim_interval = 10ms,
                                   .trim_batch = trim_batch});
    EXPECT_TRUE(backends.ok()) << backends.status().message();
    return backends.ok() ? std::move(backends).value() : EmbeddedBackends{};
  }

  // `count` finished jobs: their terminal statuses and their results,
  // completed `age` ago, the results stored in one batch (one commit).
  static std::vector<std::string> finish(EmbeddedBackends& backends, const std::string& job_type,
                                         std::chrono::hours age, size_t count) {
    std::vector<std::string> ids;
    for (size_t i = 0; i < count; ++i) ids.push_back(new_uuid4());
    finish(backends, job_type, age, ids);
    return ids;
  }
  static void finish(EmbeddedBackends& backends, const std::string& job_type,
                     std::chrono::hours age, const std::vector<std::string>& ids) {
    std::vector<JobResult> results;
    for (const auto& id : ids) {
      JobStatus status = status_of(id, JobState::kCompleted, 100, "completed");
      status.job_type = job_type;
      update_ok(*backends.statuses, status);
      results.push_back(JobResult{.job_id = id,
                                  .job_type = job_type,
                                  .input = "{}",
                                  .output = "{}",
                                  .final_state = JobState::kCompleted,
                                  .started_at = now_rfc3339(),
                                  .completed_at = to_rfc3339(Clock::now() - age)});
    }
    const auto stored = backends.results->put_batch(results);
    EXPECT_TRUE(stored.ok()) << stored.status().message();
  }
  static std::string finish(EmbeddedBackends& backends, const std::string& job_type,
                            std::chrono::hours age) {
    return finish(backends, job_type, age, 1).front();
  }

  std::filesystem::path file() const { return dir_ / "dtq.db"; }
};

TEST_F(RetentionTest, FinishedJobsGoAfterTheirTypesRetentionAndTheRestStays) {
  RetentionPolicy policy{.finished = std::chrono::hours(24 * 7)};
  policy.finished_by_type["archive"] = std::chrono::hours(24 * 30);
  auto backends = open_with(policy);
  // Cancelled while it ran, then finished; another job's cancel request is
  // the newest, which the trim keeps whatever its age.
  const std::string expired = new_uuid4();
  ASSERT_TRUE(backends.statuses->request_cancel(expired).ok());
  const std::string running = new_uuid4();
  update_ok(*backends.statuses, status_of(running, JobState::kRunning, 10, "working"));
  ASSERT_TRUE(backends.statuses->request_cancel(running).ok());
  const std::string recent = finish(backends, "echo", std::chrono::hours(24 * 6));
  const std::string kept_longer = finish(backends, "archive", std::chrono::hours(24 * 8));
  finish(backends, "echo", std::chrono::hours(24 * 8), std::vector<std::string>{expired});

  ASSERT_TRUE(eventually([&] { return !backends.results->get(expired).ok(); }));
  EXPECT_EQ(backends.results->get(expired).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(backends.statuses->get(expired).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(backends.statuses->cancel_requested(expired));
  RawDatabase raw(file());
  EXPECT_EQ(raw.integer("SELECT count(*) FROM cancel_requests WHERE job_id = '" + expired + "'"),
            0);
  for (const auto& id : {recent, kept_longer}) {
    EXPECT_TRUE(backends.results->get(id).ok()) << id;
    EXPECT_TRUE(backends.statuses->get(id).ok()) << id;
  }
  EXPECT_TRUE(backends.statuses->get(running).ok());
  EXPECT_TRUE(backends.statuses->cancel_requested(running));
}

TEST_F(RetentionTest, DeadLettersGoAfterTheirOwnRetention) {
  auto backends =
      open_with({.finished = std::chrono::hours(1), .dead_letters = std::chrono::hours(24 * 30)});
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(backends.queue->enqueue(make_message()).ok());
  }
  auto taken = backends.queue->take("echo", 3, 1s);
  ASSERT_TRUE(taken.ok());
  ASSERT_EQ(taken->size(), 3u);
  for (const auto& delivery : *taken) {
    ASSERT_TRUE(backends.queue->dead_letter(delivery, JobError{"boom", "it failed"}, 1).ok());
    ids.push_back(delivery.message.job_id);
  }
  RawDatabase raw(file());
  // One died 31 days ago, as far as the store can tell.
  raw.exec("UPDATE dead_letters SET failed_at = '" +
           to_rfc3339(Clock::now() - std::chrono::hours(24 * 31)) + "' WHERE job_id = '" + ids[0] +
           "'");
  ASSERT_TRUE(eventually([&] {
    auto letters = backends.queue->dead_letters("echo", 10);
    return letters.ok() && letters->size() == 2;
  }));
  auto letters = backends.queue->dead_letters("echo", 10);
  ASSERT_TRUE(letters.ok());
  for (const auto& letter : *letters) EXPECT_NE(letter.message.job_id, ids[0]);
}

TEST_F(RetentionTest, ABacklogIsTrimmedInBatchesUntilNoneIsLeft) {
  auto backends = open_with({.finished = std::chrono::hours(1)}, /*trim_batch=*/50);
  finish(backends, "echo", std::chrono::hours(2), 420);
  RawDatabase raw(file());
  ASSERT_TRUE(eventually([&] { return raw.integer("SELECT count(*) FROM job_results") == 0; }));
  EXPECT_EQ(raw.integer("SELECT count(*) FROM job_status"), 0);
}

TEST_F(RetentionTest, TheFileStaysAtASteadySizeUnderASteadyLoad) {
  auto backends = open_with({.finished = std::chrono::hours(1)});
  RawDatabase raw(file());
  std::vector<int64_t> pages;
  for (int round = 0; round < 10; ++round) {
    finish(backends, "echo", std::chrono::hours(2), 1500);
    ASSERT_TRUE(eventually([&] { return raw.integer("SELECT count(*) FROM job_results") == 0; }));
    ASSERT_TRUE(eventually([&] { return raw.integer("SELECT count(*) FROM job_status") == 0; }));
    pages.push_back(raw.integer("PRAGMA page_count"));
  }
  // Pages freed by one round's trim hold the next round's jobs: the file
  // does not grow with the rounds (untrimmed, it would be 10 times larger by
  // the last). A round may end with a few more pages than the first, as the
  // trim and the writes interleave differently.
  EXPECT_LE(pages.back(), pages.front() * 3 / 2)
      << "pages per round: " << ::testing::PrintToString(pages);
}

TEST_F(RetentionTest, FilteredListingsReadAnIndexNewestFirst) {
  auto backends = open_with({});
  RawDatabase raw(file());
  // The statement shapes SqliteStatusStore::list() runs for each filter.
  for (const std::string filter : {" AND state = 'failed'", " AND job_type = 'echo'",
                                   " AND state = 'failed' AND job_type = 'echo'"}) {
    std::string plan;
    for (const auto& step : raw.plan("SELECT job_id FROM job_status WHERE rowid < 100" + filter +
                                     " ORDER BY rowid DESC LIMIT 21")) {
      plan += step + "; ";
    }
    EXPECT_THAT(plan, HasSubstr("USING INDEX job_status_by_")) << filter;
    // Newest first straight from the index: no sort of every match.
    EXPECT_THAT(plan, Not(HasSubstr("TEMP B-TREE"))) << filter;
  }
}

}  // namespace
}  // namespace dtq::embedded::testing
