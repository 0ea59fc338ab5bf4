// The job history on MongoDB (MongoResultStore::history(), dtq.job_events)
// against the shared FerretDB: the index on job_id, batches appended and
// one job's events listed oldest first (events of one millisecond from two
// processes in the order of a job's life), through the batching writer as
// `dtq api` and the workers use it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dtq/core/job_history_recorder.hpp"
#include "dtq/core/time.hpp"
#include "dtq/mongo/mongo_result_store.hpp"
#include "mongo_test_util.hpp"

namespace dtq::mongo::testing {
namespace {

class MongoHistoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    settings_.history_collection = "job_events_" + new_uuid4().substr(0, 8);
    auto store = MongoResultStore::connect(settings_);
    ASSERT_TRUE(store.ok()) << store.status().message();
    store_ = std::move(store).value();
  }
  void TearDown() override {
    store_.reset();
    RawMongo(settings_).drop();
    RawMongo(events_collection()).drop();
  }
  MongoSettings events_collection() const {
    MongoSettings settings = settings_;
    settings.collection = settings_.history_collection;
    return settings;
  }

  MongoSettings settings_ = test_settings();
  std::unique_ptr<MongoResultStore> store_;
};

TEST_F(MongoHistoryTest, ConnectMakesTheJobIdIndex) {
  const auto indexes = RawMongo(events_collection()).indexes();
  ASSERT_TRUE(indexes.contains("job_id_1"));
  EXPECT_THAT(indexes.at("job_id_1"), ::testing::HasSubstr(R"("job_id" : 1)"));
  // Connecting again (another replica) finds it there.
  EXPECT_TRUE(MongoResultStore::connect(settings_).ok());
}

// Events go with their job's retention: expire_at = at + the type's
// retention, the expire_at_1 index, and the trim deletes the expired ones.
TEST_F(MongoHistoryTest, EventsExpireWithTheirTypesRetentionAndTheTrimDeletesThem) {
  MongoSettings settings = settings_;
  settings.retention.finished_by_type["echo"] = std::chrono::seconds(1);
  settings.retention.finished = std::chrono::hours(24 * 7);
  auto store = MongoResultStore::connect(settings);
  ASSERT_TRUE(store.ok()) << store.status().message();
  EXPECT_TRUE(RawMongo(events_collection()).indexes().contains("expire_at_1"));
  const std::string gone = new_uuid4();
  const std::string kept = new_uuid4();
  const std::string an_hour_ago = to_rfc3339(Clock::now() - std::chrono::hours(1));
  const std::vector<JobEvent> events = {
      JobEvent{.job_id = gone, .job_type = "echo", .at = an_hour_ago},
      JobEvent{.job_id = gone,
               .job_type = "echo",
               .at = an_hour_ago,
               .kind = JobEventKind::kStarted,
               .attempt = 1},
      JobEvent{.job_id = kept, .job_type = "weather", .at = an_hour_ago}};
  ASSERT_TRUE((*store)->history().append(events).ok());
  const auto stored = RawMongo(events_collection()).documents(kept);
  ASSERT_EQ(stored.size(), 1u);
  const int64_t at_ms = to_unix_ms(*parse_rfc3339(an_hour_ago));
  EXPECT_THAT(stored[0], ::testing::HasSubstr(R"("expire_at" : { "$date" : { "$numberLong" : ")" +
                                              std::to_string(at_ms + 7 * 86'400'000LL) + "\""));

  auto trimmed = (*store)->trim_expired();
  ASSERT_TRUE(trimmed.ok()) << trimmed.status().message();
  EXPECT_EQ(*trimmed, 2u);
  EXPECT_TRUE((*store)->history().list(gone, 100)->empty());
  EXPECT_EQ((*store)->history().list(kept, 100)->size(), 1u);
}

TEST_F(MongoHistoryTest, AppendsBatchesAndListsOneJobOldestFirst) {
  const std::string id = new_uuid4();
  const std::string other = new_uuid4();
  // The worker's batch reaches the server before the API's, and its started
  // shares the submitted's millisecond.
  const std::vector<JobEvent> worker = {JobEvent{.job_id = id,
                                                 .job_type = "echo",
                                                 .at = "2026-03-01T10:00:00.005Z",
                                                 .kind = JobEventKind::kStarted,
                                                 .attempt = 1,
                                                 .worker = "w1/10 (worker)"},
                                        JobEvent{.job_id = id,
                                                 .job_type = "echo",
                                                 .at = "2026-03-01T10:00:00.300Z",
                                                 .kind = JobEventKind::kRetry,
                                                 .attempt = 1,
                                                 .worker = "w1/10 (worker)",
                                                 .error_code = "timeout",
                                                 .detail = "attempt 1 failed (timeout: slow)"},
                                        JobEvent{.job_id = id,
                                                 .job_type = "echo",
                                                 .at = "2026-03-01T10:00:01.300Z",
                                                 .kind = JobEventKind::kStarted,
                                                 .attempt = 2,
                                                 .worker = "w2/11 (worker)"},
                                        JobEvent{.job_id = id,
                                                 .job_type = "echo",
                                                 .at = "2026-03-01T10:00:01.400Z",
                                                 .kind = JobEventKind::kCompleted,
                                                 .attempt = 2,
                                                 .worker = "w2/11 (worker)"}};
  const std::vector<JobEvent> api = {JobEvent{.job_id = id,
                                              .job_type = "echo",
                                              .at = "2026-03-01T10:00:00.005Z",
                                              .kind = JobEventKind::kSubmitted,
                                              .detail = "queued"},
                                     JobEvent{.job_id = other,
                                              .job_type = "echo",
                                              .at = "2026-03-01T10:00:00.006Z",
                                              .kind = JobEventKind::kReplayOf,
                                              .related_job_id = id}};
  ASSERT_TRUE(store_->history().append(worker).ok());
  ASSERT_TRUE(store_->history().append(api).ok());

  auto events = store_->history().list(id, 100);
  ASSERT_TRUE(events.ok()) << events.status().message();
  ASSERT_EQ(events->size(), 5u);
  EXPECT_EQ((*events)[0], api[0]);
  EXPECT_EQ((*events)[1], worker[0]);
  EXPECT_EQ((*events)[2], worker[1]);
  EXPECT_EQ((*events)[4], worker[3]);
  EXPECT_EQ(store_->history().list(id, 2)->size(), 2u);
  auto replay = store_->history().list(other, 100);
  ASSERT_TRUE(replay.ok());
  ASSERT_EQ(replay->size(), 1u);
  EXPECT_EQ(replay->front().related_job_id, id);
  EXPECT_TRUE(store_->history().list(new_uuid4(), 100)->empty());
}

TEST_F(MongoHistoryTest, TheBatchingWriterStoresThroughIt) {
  const std::string id = new_uuid4();
  {
    HistoryWriter writer(store_->history());
    for (uint32_t attempt = 1; attempt <= 300; ++attempt) {
      writer.record(JobEvent{.job_id = id, .kind = JobEventKind::kStarted, .attempt = attempt});
    }
    auto seen = writer.list(id, 1000);  // what was recorded before is stored
    ASSERT_TRUE(seen.ok()) << seen.status().message();
    EXPECT_EQ(seen->size(), 300u);
  }
  EXPECT_EQ(RawMongo(events_collection()).count(id), 300);
}

}  // namespace
}  // namespace dtq::mongo::testing
