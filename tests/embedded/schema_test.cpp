// The embedded database file itself: a fresh folder, schema versions, rows
// that cannot be read, and expired idempotency keys trimmed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include "dtq/core/time.hpp"
#include "embedded_test_util.hpp"

namespace dtq::embedded::testing {
namespace {

using ::testing::HasSubstr;

class SchemaTest : public EmbeddedTest {
 protected:
  // Runs `sql` on dtq.db directly, as another tool (or a newer dtq) would.
  void exec(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ / "dtq.db").c_str(), &db), SQLITE_OK);
    char* error = nullptr;
    const int code = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
    EXPECT_EQ(code, SQLITE_OK) << (error != nullptr ? error : "");
    sqlite3_free(error);
    sqlite3_close(db);
  }
  // The first column of the first row of `sql`, an integer.
  int64_t count(const std::string& sql) {
    sqlite3* db = nullptr;
    sqlite3_stmt* statement = nullptr;
    EXPECT_EQ(sqlite3_open((dir_ / "dtq.db").c_str(), &db), SQLITE_OK);
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &statement, nullptr), SQLITE_OK);
    EXPECT_EQ(sqlite3_step(statement), SQLITE_ROW);
    const int64_t value = sqlite3_column_int64(statement, 0);
    sqlite3_finalize(statement);
    sqlite3_close(db);
    return value;
  }
  int64_t user_version() {
    sqlite3* db = nullptr;
    sqlite3_stmt* statement = nullptr;
    EXPECT_EQ(sqlite3_open((dir_ / "dtq.db").c_str(), &db), SQLITE_OK);
    EXPECT_EQ(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &statement, nullptr), SQLITE_OK);
    EXPECT_EQ(sqlite3_step(statement), SQLITE_ROW);
    const int64_t version = sqlite3_column_int64(statement, 0);
    sqlite3_finalize(statement);
    sqlite3_close(db);
    return version;
  }
};

TEST_F(SchemaTest, CreatesAPrivateFolderAndTheCurrentSchema) {
  dir_ /= "nested";
  { auto backends = open(Role::kClient); }
  struct stat info {};
  ASSERT_EQ(stat(dir_.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0700u);
  EXPECT_EQ(user_version(), 9);
  { auto backends = open(Role::kOwner); }  // opening again changes nothing
  EXPECT_EQ(user_version(), 9);
  std::filesystem::remove_all(dir_.parent_path());
}

// Version 8 gave queued jobs their priority class as a column; a queue
// written before it keeps each job's class.
TEST_F(SchemaTest, QueuedJobsKeepTheirPriorityThroughTheMigrationTo8) {
  JobMessage urgent = make_message();
  urgent.priority = JobPriority::kHigh;
  JobMessage later = make_message();
  later.priority = JobPriority::kLow;
  const JobMessage usual = make_message();
  {
    auto backends = open();
    ASSERT_TRUE(backends.queue->enqueue_batch(std::vector{usual, urgent, later}).ok());
  }
  // Back to version 7, as an older dtq left it.
  exec(
      "DROP INDEX jobs_by_type_class; ALTER TABLE jobs DROP COLUMN priority_class; "
      "PRAGMA user_version=7");
  auto backends = open();
  EXPECT_EQ(user_version(), 9);
  const auto class_of = [&](const JobMessage& message) {
    return count("SELECT priority_class FROM jobs WHERE job_id = '" + message.job_id + "'");
  };
  EXPECT_EQ(class_of(urgent), 0);
  EXPECT_EQ(class_of(usual), 1);
  EXPECT_EQ(class_of(later), 2);
  auto taken = backends.queue->take("echo", 1, 5s);
  ASSERT_TRUE(taken.ok());
  ASSERT_EQ(taken->size(), 1u);
  EXPECT_EQ(taken->front().message.job_id, urgent.job_id);
}

// Version 9 rebuilt the queue's table without its UNIQUE job_id: a folder
// from before keeps its queued jobs, their deliveries and their order, and
// seq still never goes back below the newest acked row's (clients load the
// rows past the last they saw).
TEST_F(SchemaTest, TheQueueSurvivesTheRebuildOfItsTableIn9) {
  const std::vector<JobMessage> kept = {make_message(), make_message()};
  {
    auto backends = open();
    ASSERT_TRUE(backends.queue->enqueue_batch(std::vector{kept[0], kept[1], make_message()}).ok());
    auto taken = backends.queue->take("echo", 3, 5s);
    ASSERT_TRUE(taken.ok());
    ASSERT_EQ(taken->size(), 3u);
    ASSERT_TRUE(backends.queue->release((*taken)[0]).ok());
    ASSERT_TRUE(backends.queue->release((*taken)[1]).ok());
    ASSERT_TRUE(backends.queue->ack((*taken)[2]).ok());
  }
  ASSERT_EQ(count("SELECT seq FROM sqlite_sequence WHERE name = 'jobs'"), 3);
  // Back to version 8, its table with the index 9 drops.
  exec(R"sql(
    CREATE TABLE jobs_v8 (seq INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL UNIQUE,
      job_type TEXT NOT NULL, message TEXT NOT NULL, deliveries INTEGER NOT NULL DEFAULT 0,
      enqueued_at INTEGER NOT NULL, priority_class INTEGER NOT NULL DEFAULT 1);
    INSERT INTO jobs_v8 SELECT seq, job_id, job_type, message, deliveries, enqueued_at,
      priority_class FROM jobs;
    UPDATE sqlite_sequence SET seq = 3 WHERE name = 'jobs_v8';
    DROP TABLE jobs;
    ALTER TABLE jobs_v8 RENAME TO jobs;
    CREATE INDEX jobs_by_type_class ON jobs(job_type, priority_class);
    PRAGMA user_version = 8;
  )sql");
  const std::string unique_indexes =
      "SELECT count(*) FROM pragma_index_list('jobs') WHERE origin = 'u'";
  ASSERT_EQ(count(unique_indexes), 1);

  const JobMessage after = make_message();
  {
    auto backends = open();
    ASSERT_TRUE(backends.queue->enqueue(after).ok());
    auto taken = backends.queue->take("echo", 10, 5s);
    ASSERT_TRUE(taken.ok());
    ASSERT_EQ(taken->size(), 3u);
    EXPECT_EQ((*taken)[0].message.job_id, kept[0].job_id);
    EXPECT_EQ((*taken)[1].message.job_id, kept[1].job_id);
    EXPECT_EQ((*taken)[2].message.job_id, after.job_id);
    EXPECT_EQ((*taken)[0].delivery_count, 2u) << "its first delivery was kept";
  }
  EXPECT_EQ(user_version(), 9);
  EXPECT_EQ(count(unique_indexes), 0);
  EXPECT_EQ(count("SELECT seq FROM jobs WHERE job_id = '" + after.job_id + "'"), 4);
}

TEST_F(SchemaTest, RefusesADatabaseFromANewerDtq) {
  { auto backends = open(); }
  const int64_t current = user_version();
  exec("PRAGMA user_version=99");
  for (const Role role : {Role::kOwner, Role::kClient}) {
    const auto refused = open_embedded({.data_dir = dir_, .role = role});
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_THAT(refused.status().message(), HasSubstr("schema version 99"));
    EXPECT_THAT(refused.status().message(), HasSubstr((dir_ / "dtq.db").string()));
  }
  // The refused owner released its lock.
  exec("PRAGMA user_version=" + std::to_string(current));
  EXPECT_TRUE(open_embedded({.data_dir = dir_, .role = Role::kOwner}).ok());
}

TEST_F(SchemaTest, UnreadableRowsAreSkipped) {
  const JobMessage good = make_message();
  {
    auto backends = open();
    ASSERT_TRUE(backends.queue->enqueue(good).ok());
  }
  exec(
      "INSERT INTO jobs(job_id, job_type, message, enqueued_at) VALUES('x', 'echo', '{not json', "
      "0);"
      "INSERT INTO dead_letters(job_id, job_type, message, error_code, error_message, attempts, "
      "failed_at) "
      "VALUES('y', 'echo', 'garbage', 'e', 'm', 1, '2026-01-01T00:00:00.000Z');"
      // Completed now: an older result could be trimmed by retention first.
      "INSERT INTO job_results(job_id, job_type, document, final_state, completed_at) "
      "VALUES('z', 'echo', '[]', 'completed', '" +
      now_rfc3339() +
      "');"
      "INSERT INTO job_status(job_id, state, progress_percent, updated_at, message, trace_id, "
      "job_type, "
      "error_code, error_message, attempt) VALUES('w', 'exploded', 5, '', '', '', '', '', '', 0);");
  auto backends = open();
  auto taken = backends.queue->take("echo", 10, 100ms);
  ASSERT_TRUE(taken.ok());
  ASSERT_EQ(taken->size(), 1u);
  EXPECT_EQ(taken->front().message.job_id, good.job_id);
  auto letters = backends.queue->dead_letters("", 10);
  ASSERT_TRUE(letters.ok());
  EXPECT_TRUE(letters->empty());
  EXPECT_EQ(backends.results->get("z").status().code(), StatusCode::kInternal);
  EXPECT_EQ(backends.statuses->get("w").status().code(), StatusCode::kNotFound);
}

// Idempotency keys past their TTL leave the table as new claims come in,
// a bounded number per claim, so the file does not grow with every key
// ever used.
TEST_F(SchemaTest, ExpiredIdempotencyKeysAreTrimmed) {
  { auto backends = open(); }
  // Keys left from long ago, as a database that ran for days holds them.
  constexpr int kExpired = 100;
  exec("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < " +
       std::to_string(kExpired) +
       ") INSERT INTO idempotency_keys(key, fingerprint, job_id, expires_at) "
       "SELECT 'owner:old-' || i, 'f', 'job-' || i, 1000 FROM n");
  ASSERT_EQ(count("SELECT COUNT(*) FROM idempotency_keys"), kExpired);
  auto backends = open();
  // Each claim trims up to 64 expired keys: two claims leave their own.
  for (int i = 1; i <= 2; ++i) {
    auto claimed =
        backends.idempotency->claim("owner:new-" + std::to_string(i),
                                    {.fingerprint = "f", .job_id = new_uuid4()}, kIdempotencyTtl);
    ASSERT_TRUE(claimed.ok()) << claimed.status().message();
    EXPECT_TRUE(claimed->claimed);
  }
  EXPECT_EQ(count("SELECT COUNT(*) FROM idempotency_keys"), 2);
  EXPECT_EQ(count("SELECT COUNT(*) FROM idempotency_keys WHERE key LIKE 'owner:new-%'"), 2);
}

TEST_F(SchemaTest, EmptyDataDirIsRefused) {
  const auto refused = open_embedded({.data_dir = {}});
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace dtq::embedded::testing
