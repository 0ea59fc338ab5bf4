// The MongoDB ResultStore against a real MongoDB wire-protocol server
// (FerretDB): the embedded store's behaviours (tests/embedded/result_test.cpp)
// where they apply, the exact document and its types, the indexes, one
// document per job under concurrent writers, batches with duplicates, an
// unreachable server, and a server restart in the middle.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "dtq/core/time.hpp"
#include "dtq/mongo/mongo_result_store.hpp"
#include "mongo_test_util.hpp"

namespace dtq::mongo::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr const char* kTraceId = "7b0a7a52-5a4e-4f43-9d4c-0e1b2c3d4e5f";

JobResult result_of(const std::string& job_id, std::string output) {
  return JobResult{.job_id = job_id,
                   .job_type = "echo",
                   .input = R"({"message":"hi"})",
                   .output = std::move(output),
                   .final_state = JobState::kCompleted,
                   .started_at = now_rfc3339(),
                   .completed_at = now_rfc3339(),
                   .trace_id = kTraceId,
                   .attempts = 1};
}

JobResult failed_result(const std::string& job_id) {
  JobResult failed = result_of(job_id, "");
  failed.final_state = JobState::kFailed;
  failed.error = JobError{"user_not_found", "no such user"};
  failed.started_at.clear();  // never ran
  return failed;
}

class MongoResultTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const auto& settings : opened_) RawMongo(settings).drop();
  }

  std::unique_ptr<MongoResultStore> open(MongoSettings settings = test_settings()) {
    opened_.push_back(settings);
    auto store = MongoResultStore::connect(std::move(settings));
    EXPECT_TRUE(store.ok()) << store.status().message();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  std::vector<MongoSettings> opened_;
};

TEST_F(MongoResultTest, StoresExactlyTheContractFieldsWithTheirTypes) {
  const MongoSettings settings = test_settings();
  auto store = open(settings);
  ASSERT_TRUE(store);
  const std::string completed = new_uuid4();
  const std::string failed = new_uuid4();
  ASSERT_TRUE(store->put(result_of(completed, R"({"temperature_c":21.5,"ok":true})")).ok());
  ASSERT_TRUE(store->put(failed_result(failed)).ok());

  RawMongo raw(settings);
  EXPECT_EQ(raw.field_types(completed),
            (std::map<std::string, bson_type_t>{{"_id", BSON_TYPE_OID},
                                                {"schema_version", BSON_TYPE_UTF8},
                                                {"job_id", BSON_TYPE_UTF8},
                                                {"job_type", BSON_TYPE_UTF8},
                                                {"input", BSON_TYPE_DOCUMENT},
                                                {"output", BSON_TYPE_DOCUMENT},
                                                {"final_state", BSON_TYPE_UTF8},
                                                {"started_at", BSON_TYPE_DATE_TIME},
                                                {"completed_at", BSON_TYPE_DATE_TIME},
                                                {"error", BSON_TYPE_NULL},
                                                {"trace_id", BSON_TYPE_UTF8}}));
  EXPECT_EQ(raw.field_types(failed),
            (std::map<std::string, bson_type_t>{{"_id", BSON_TYPE_OID},
                                                {"schema_version", BSON_TYPE_UTF8},
                                                {"job_id", BSON_TYPE_UTF8},
                                                {"job_type", BSON_TYPE_UTF8},
                                                {"input", BSON_TYPE_DOCUMENT},
                                                {"output", BSON_TYPE_NULL},
                                                {"final_state", BSON_TYPE_UTF8},
                                                {"started_at", BSON_TYPE_NULL},
                                                {"completed_at", BSON_TYPE_DATE_TIME},
                                                {"error", BSON_TYPE_DOCUMENT},
                                                {"trace_id", BSON_TYPE_UTF8}}));
  const auto documents = raw.documents(failed);
  ASSERT_EQ(documents.size(), 1u);
  EXPECT_THAT(documents[0], HasSubstr(R"("schema_version" : "1.0")"));
  EXPECT_THAT(documents[0], HasSubstr(R"("final_state" : "failed")"));
  EXPECT_THAT(documents[0],
              HasSubstr(R"("error" : { "code" : "user_not_found", "message" : "no such user" })"));
  EXPECT_THAT(documents[0], HasSubstr(R"("input" : { "message" : "hi" })"));
}

TEST_F(MongoResultTest, ResultsReadBackAsTheyWereWritten) {
  auto store = open();
  ASSERT_TRUE(store);
  const std::string id = new_uuid4();
  JobResult written = result_of(id, "");
  written.input =
      R"({"city":"Zürich","days":[1,2,3],"nested":{"big":9007199254740993,"ratio":0.25,"unit":null,"on":false},"empty":{},"text":"line\nbreak \"quoted\""})";
  written.output = R"({"temperature_c":21.5,"whole":2.0,"list":[{"a":1},"x",null]})";
  ASSERT_TRUE(store->put(written).ok());
  auto got = store->get(id);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->schema_version, "1.0");
  EXPECT_EQ(got->job_id, id);
  EXPECT_EQ(got->job_type, "echo");
  EXPECT_EQ(got->input, written.input);
  EXPECT_EQ(got->output, written.output);
  EXPECT_EQ(got->final_state, JobState::kCompleted);
  EXPECT_EQ(got->started_at, written.started_at);
  EXPECT_EQ(got->completed_at, written.completed_at);
  EXPECT_FALSE(got->error.has_value());
  EXPECT_EQ(got->trace_id, kTraceId);

  const std::string failed = new_uuid4();
  ASSERT_TRUE(store->put(failed_result(failed)).ok());
  got = store->get(failed);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->final_state, JobState::kFailed);
  ASSERT_TRUE(got->error.has_value());
  EXPECT_EQ(got->error->code, "user_not_found");
  EXPECT_EQ(got->error->message, "no such user");
  EXPECT_EQ(got->output, "");
  EXPECT_EQ(got->started_at, "");
}

TEST_F(MongoResultTest, StartUpCreatesTheIndexesOnceAndAgainIsHarmless) {
  const MongoSettings settings = test_settings();
  ASSERT_TRUE(open(settings));
  ASSERT_TRUE(open(settings));  // idempotent
  const auto indexes = RawMongo(settings).indexes();
  ASSERT_TRUE(indexes.contains("job_id_1")) << ::testing::PrintToString(indexes);
  EXPECT_THAT(indexes.at("job_id_1"), HasSubstr(R"("key" : { "job_id" : 1 })"));
  EXPECT_THAT(indexes.at("job_id_1"), HasSubstr(R"("unique" : true)"));
  ASSERT_TRUE(indexes.contains("completed_at_-1")) << ::testing::PrintToString(indexes);
  EXPECT_THAT(indexes.at("completed_at_-1"), HasSubstr(R"("key" : { "completed_at" : -1 })"));
  EXPECT_THAT(indexes.at("completed_at_-1"), ::testing::Not(HasSubstr("unique")));
  EXPECT_EQ(indexes.size(), 3u);  // and _id_
}

TEST_F(MongoResultTest, AConflictingIndexStopsStartUp) {
  const MongoSettings settings = test_settings();
  RawMongo raw(settings);
  bson_t* command =
      BCON_NEW("createIndexes", BCON_UTF8(settings.collection.c_str()), "indexes", "[", "{", "key",
               "{", "job_id", BCON_INT32(1), "}", "name", BCON_UTF8("job_id_1"), "}", "]");
  ASSERT_TRUE(raw.command(command));
  bson_destroy(command);
  opened_.push_back(settings);
  auto store = MongoResultStore::connect(settings);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition) << store.status().message();
  EXPECT_THAT(store.status().message(), HasSubstr("job_id_1"));
}

TEST_F(MongoResultTest, DefaultsAreTheContractsDatabaseAndCollection) {
  const MongoSettings defaults;
  EXPECT_EQ(defaults.database, "dtq");
  EXPECT_EQ(defaults.collection, "job_results");
  EXPECT_EQ(defaults.write_acknowledgement, WriteAcknowledgement::kMajority);
  EXPECT_TRUE(defaults.journal);

  MongoSettings settings = test_settings();
  settings.collection = defaults.collection;  // dtq.job_results itself (job ids never collide)
  auto store = MongoResultStore::connect(settings);
  ASSERT_TRUE(store.ok()) << store.status().message();
  EXPECT_THAT((*store)->describe(), HasSubstr("/dtq.job_results"));
  const std::string id = new_uuid4();
  ASSERT_TRUE((*store)->put(result_of(id, "{}")).ok());
  EXPECT_EQ(RawMongo(settings).count(id), 1);
}

TEST_F(MongoResultTest, FirstPutWins) {
  const MongoSettings settings = test_settings();
  auto store = open(settings);
  ASSERT_TRUE(store);
  const std::string id = new_uuid4();
  auto first = store->put(result_of(id, R"({"n":1})"));
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_TRUE(*first);
  auto second = store->put(result_of(id, R"({"n":2})"));
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_FALSE(*second);
  EXPECT_EQ(store->get(id)->output, R"({"n":1})");
  EXPECT_EQ(RawMongo(settings).count(id), 1);
}

TEST_F(MongoResultTest, ConcurrentPutsFromManyThreadsStoreOneDocumentPerJob) {
  const MongoSettings settings = test_settings();
  auto store = open(settings);
  auto other = open(settings);  // a second process's store, as it were
  ASSERT_TRUE(store && other);
  constexpr int kThreads = 8;
  constexpr int kJobs = 25;
  std::vector<std::string> ids;
  for (int j = 0; j < kJobs; ++j) ids.push_back(new_uuid4());
  std::vector<std::atomic<int>> stored(kJobs);
  std::vector<std::atomic<int>> winner(kJobs);
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      MongoResultStore& mine = t % 2 == 0 ? *store : *other;
      for (int k = 0; k < kJobs; ++k) {
        const int j = (k + t * 3) % kJobs;  // threads meet on different jobs at different times
        auto put = mine.put(result_of(ids[j], R"({"thread":)" + std::to_string(t) + "}"));
        if (!put.ok()) {
          ADD_FAILURE() << put.status().message();
          ++errors;
        } else if (*put) {
          ++stored[j];
          winner[j] = t;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(errors.load(), 0);
  RawMongo raw(settings);
  for (int j = 0; j < kJobs; ++j) {
    EXPECT_EQ(stored[j].load(), 1) << ids[j];
    EXPECT_EQ(raw.count(ids[j]), 1) << ids[j];
    EXPECT_EQ(store->get(ids[j])->output, R"({"thread":)" + std::to_string(winner[j].load()) + "}");
  }
}

TEST_F(MongoResultTest, ABatchReportsWhichResultsItStored) {
  const MongoSettings settings = test_settings();
  auto store = open(settings);
  ASSERT_TRUE(store);
  const std::string already = new_uuid4();
  ASSERT_TRUE(store->put(result_of(already, R"({"n":1})")).ok());
  const std::string twice = new_uuid4();
  const std::vector<JobResult> batch = {
      result_of(new_uuid4(), "{}"),      result_of(already, R"({"n":2})"),
      result_of(twice, R"({"copy":1})"), result_of(new_uuid4(), "{}"),
      result_of(twice, R"({"copy":2})"),  // the same job twice in one batch
  };
  auto stored = store->put_batch(batch);
  ASSERT_TRUE(stored.ok()) << stored.status().message();
  EXPECT_THAT(*stored, ElementsAre(true, false, true, true, false));
  EXPECT_EQ(store->get(already)->output, R"({"n":1})");
  EXPECT_EQ(store->get(twice)->output, R"({"copy":1})");
  RawMongo raw(settings);
  for (const auto& result : batch) EXPECT_EQ(raw.count(result.job_id), 1);

  // A replayed batch (a redelivery after a crash) stores nothing twice.
  auto again = store->put_batch(batch);
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_THAT(*again, ElementsAre(false, false, false, false, false));
  for (const auto& result : batch) EXPECT_EQ(raw.count(result.job_id), 1);

  auto empty = store->put_batch({});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST_F(MongoResultTest, AResultMongoCannotHoldIsRefusedWithItsJobNamed) {
  const MongoSettings settings = test_settings();
  auto store = open(settings);
  ASSERT_TRUE(store);
  JobResult dotted = result_of(new_uuid4(), R"({"a.b":1})");
  const std::vector<JobResult> batch = {result_of(new_uuid4(), "{}"), dotted};
  auto stored = store->put_batch(batch);
  ASSERT_FALSE(stored.ok());
  EXPECT_EQ(stored.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(stored.status().message(), HasSubstr(dotted.job_id));
  EXPECT_EQ(RawMongo(settings).count(batch[0].job_id), 0);  // refused before anything was sent

  JobResult bad_time = result_of(new_uuid4(), "{}");
  bad_time.completed_at = "yesterday";
  EXPECT_EQ(store->put(bad_time).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store->put(result_of("", "{}")).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(MongoResultTest, UnknownJobIsNotFound) {
  auto store = open();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->get(new_uuid4()).status().code(), StatusCode::kNotFound);
}

TEST_F(MongoResultTest, EveryWriteConcernStores) {
  for (const auto acknowledgement :
       {WriteAcknowledgement::kMajority, WriteAcknowledgement::kPrimary}) {
    for (const bool journal : {true, false}) {
      MongoSettings settings = test_settings();
      settings.write_acknowledgement = acknowledgement;
      settings.journal = journal;
      auto store = open(settings);
      ASSERT_TRUE(store);
      const std::string id = new_uuid4();
      auto put = store->put(result_of(id, "{}"));
      ASSERT_TRUE(put.ok()) << put.status().message();
      EXPECT_TRUE(*put);
      EXPECT_EQ(RawMongo(settings).count(id), 1);
    }
  }
}

TEST_F(MongoResultTest, BadSettingsAreRefused) {
  MongoSettings settings = test_settings();
  settings.uri = "http://127.0.0.1:1";
  auto store = MongoResultStore::connect(settings);
  EXPECT_EQ(store.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(store.status().message(), HasSubstr("URI"));
  for (auto change : std::vector<void (*)(MongoSettings&)>{
           [](MongoSettings& s) { s.database = ""; }, [](MongoSettings& s) { s.database = "a.b"; },
           [](MongoSettings& s) { s.collection = ""; },
           [](MongoSettings& s) { s.heartbeat_frequency = std::chrono::milliseconds(100); },
           [](MongoSettings& s) { s.max_pool_size = 0; },
           [](MongoSettings& s) { s.server_selection_timeout = std::chrono::milliseconds(0); }}) {
    MongoSettings bad = test_settings();
    change(bad);
    EXPECT_EQ(MongoResultStore::connect(bad).status().code(), StatusCode::kInvalidArgument);
  }
}

TEST_F(MongoResultTest, AnUnreachableServerStopsStartUpWithAClearMessage) {
  const uint16_t nobody = dtq::testing::pick_ports();
  MongoSettings settings = test_settings(nobody);
  settings.server_selection_timeout = std::chrono::milliseconds(500);
  const auto started = std::chrono::steady_clock::now();
  auto store = MongoResultStore::connect(settings);
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kUnavailable);
  const std::string& message = store.status().message();
  EXPECT_THAT(message, HasSubstr("cannot start the result store"));
  EXPECT_THAT(message, HasSubstr("127.0.0.1:" + std::to_string(nobody)));
  EXPECT_THAT(message, HasSubstr("no server reachable within 500 ms (server selection timeout)"));
  EXPECT_LT(took, std::chrono::seconds(5));
}

TEST_F(MongoResultTest, RecoversFromAServerRestart) {
  uint16_t port = 0;
  auto server = make_ferretdb(port);
  ASSERT_TRUE(server->start());
  MongoSettings settings = test_settings(port);
  settings.server_selection_timeout = std::chrono::milliseconds(1000);
  auto store = MongoResultStore::connect(settings);
  ASSERT_TRUE(store.ok()) << store.status().message();
  const std::string before = new_uuid4();
  ASSERT_TRUE((*store)->put(result_of(before, "{}")).ok());

  ASSERT_TRUE(server->stop());
  const std::string during = new_uuid4();
  auto down = (*store)->put(result_of(during, "{}"));
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.status().code(), StatusCode::kUnavailable) << down.status().message();
  EXPECT_EQ((*store)->get(before).status().code(), StatusCode::kUnavailable);
  EXPECT_FALSE((*store)->ping().ok());

  ASSERT_TRUE(server->start());
  // The same store, without reconnecting by hand: the driver finds the
  // server again within a heartbeat or two.
  EXPECT_TRUE(eventually([&] {
    auto put = (*store)->put(result_of(during, "{}"));
    return put.ok() && *put;
  }));
  EXPECT_TRUE((*store)->ping().ok());
  auto got = (*store)->get(before);
  ASSERT_TRUE(got.ok()) << got.status().message();  // kept across the restart
  auto again = (*store)->put(result_of(before, "{}"));
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_FALSE(*again);  // and still written once
  RawMongo raw(settings);
  EXPECT_EQ(raw.count(before), 1);
  EXPECT_EQ(raw.count(during), 1);
}

}  // namespace
}  // namespace dtq::mongo::testing
