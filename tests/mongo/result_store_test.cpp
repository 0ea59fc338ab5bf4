// What only the MongoDB ResultStore does, against a real MongoDB
// wire-protocol server (FerretDB): the exact document and its types, the
// indexes, results MongoDB cannot hold, write concerns, settings, an
// unreachable server, and a server restart in the middle. What every
// ResultStore does (one result per job, batches, concurrent writers) is the
// conformance suite's (result_conformance_test.cpp).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <vector>

#include "dtq/core/time.hpp"
#include "dtq/mongo/mongo_result_store.hpp"
#include "mongo_test_util.hpp"
#include "support/model_factories.hpp"

namespace dtq::mongo::testing {
namespace {

using ::testing::HasSubstr;

using dtq::testing::failed_result;
using dtq::testing::result_of;

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
                                                {"trace_id", BSON_TYPE_UTF8},
                                                {"expire_at", BSON_TYPE_DATE_TIME}}));
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
                                                {"trace_id", BSON_TYPE_UTF8},
                                                {"expire_at", BSON_TYPE_DATE_TIME}}));
  const auto documents = raw.documents(failed);
  ASSERT_EQ(documents.size(), 1u);
  EXPECT_THAT(documents[0], HasSubstr(R"("schema_version" : "1.0")"));
  EXPECT_THAT(documents[0], HasSubstr(R"("final_state" : "failed")"));
  EXPECT_THAT(documents[0],
              HasSubstr(R"("error" : { "code" : "user_not_found", "message" : "no such user" })"));
  EXPECT_THAT(documents[0], HasSubstr(R"("input" : { "message" : "hi" })"));
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
  ASSERT_TRUE(indexes.contains("expire_at_1")) << ::testing::PrintToString(indexes);
  EXPECT_THAT(indexes.at("expire_at_1"), HasSubstr(R"("key" : { "expire_at" : 1 })"));
  EXPECT_EQ(indexes.size(), 4u);  // and _id_
}

// FerretDB 1.24 refuses expireAfterSeconds (NotImplemented): the index is
// then a plain one, and the trim alone deletes. A MongoDB takes the TTL.
TEST_F(MongoResultTest, TheExpireAtIndexIsATtlIndexWhereTheServerHasThem) {
  const MongoSettings settings = test_settings();
  auto store = open(settings);
  ASSERT_TRUE(store);
  const auto indexes = RawMongo(settings).indexes();
  ASSERT_TRUE(indexes.contains("expire_at_1")) << ::testing::PrintToString(indexes);
  if (store->ttl_index()) {
    EXPECT_THAT(indexes.at("expire_at_1"), HasSubstr(R"("expireAfterSeconds" : 0)"));
  } else {
    EXPECT_THAT(indexes.at("expire_at_1"), ::testing::Not(HasSubstr("expireAfterSeconds")));
  }
}

// expire_at = completed_at + the retention of the job's type.
TEST_F(MongoResultTest, ExpireAtIsCompletionPlusTheRetentionOfItsType) {
  MongoSettings settings = test_settings();
  settings.retention.finished = std::chrono::hours(24);
  settings.retention.finished_by_type["echo"] = std::chrono::seconds(90);
  auto store = open(settings);
  ASSERT_TRUE(store);
  JobResult echo = result_of(new_uuid4(), "{}");
  echo.completed_at = "2026-01-02T03:04:05.000Z";  // the model's form, as read back
  JobResult other = echo;
  other.job_id = new_uuid4();
  other.job_type = "weather";
  ASSERT_TRUE(store->put_batch(std::vector<JobResult>{echo, other}).ok());
  RawMongo raw(settings);
  const auto echo_docs = raw.documents(echo.job_id);
  ASSERT_EQ(echo_docs.size(), 1u);
  const int64_t completed_ms = to_unix_ms(*parse_rfc3339(echo.completed_at));
  EXPECT_THAT(echo_docs[0], HasSubstr(R"("expire_at" : { "$date" : { "$numberLong" : ")" +
                                      std::to_string(completed_ms + 90'000) + "\" } }"));
  const auto other_docs = raw.documents(other.job_id);
  ASSERT_EQ(other_docs.size(), 1u);
  EXPECT_THAT(other_docs[0], HasSubstr(R"("expire_at" : { "$date" : { "$numberLong" : ")" +
                                       std::to_string(completed_ms + 86'400'000) + "\" } }"));
  // get() reads the contract's fields, as before.
  auto read = store->get(echo.job_id);
  ASSERT_TRUE(read.ok()) << read.status().message();
  EXPECT_EQ(read->completed_at, echo.completed_at);
}

// trim_expired() deletes what expired, in batches, and nothing else.
TEST_F(MongoResultTest, TheTrimDeletesExpiredResultsInBatches) {
  MongoSettings settings = test_settings();
  settings.retention.finished_by_type["echo"] = std::chrono::seconds(1);
  settings.retention.finished = std::chrono::hours(1);
  settings.trim_batch = 2;
  auto store = open(settings);
  ASSERT_TRUE(store);
  const std::string an_hour_ago = to_rfc3339(Clock::now() - std::chrono::hours(1));
  std::vector<JobResult> results;
  for (int i = 0; i < 5; ++i) {
    JobResult old = result_of(new_uuid4(), "{}");
    old.completed_at = an_hour_ago;  // expired 59 minutes ago
    results.push_back(old);
  }
  JobResult kept = result_of(new_uuid4(), "{}");
  kept.job_type = "weather";  // the 1 h default, completed now
  kept.completed_at = now_rfc3339();
  results.push_back(kept);
  ASSERT_TRUE(store->put_batch(results).ok());

  auto first = store->trim_expired();
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_EQ(*first, 2u);
  EXPECT_EQ(*store->trim_expired(), 2u);
  EXPECT_EQ(*store->trim_expired(), 1u);
  EXPECT_EQ(*store->trim_expired(), 0u);
  RawMongo raw(settings);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(raw.count(results[static_cast<size_t>(i)].job_id), 0);
  EXPECT_EQ(raw.count(kept.job_id), 1);
  EXPECT_EQ(store->get(results[0].job_id).status().code(), StatusCode::kNotFound);
}

// With trim_interval set (a worker), a short retention trims on its own and
// a long one keeps.
TEST_F(MongoResultTest, ThePeriodicTrimDeletesAShortRetentionAndKeepsALongOne) {
  MongoSettings settings = test_settings();
  settings.retention.finished_by_type["echo"] = std::chrono::seconds(2);
  settings.retention.finished = std::chrono::hours(24 * 7);
  settings.trim_interval = std::chrono::milliseconds(200);
  auto store = open(settings);
  ASSERT_TRUE(store);
  JobResult brief = result_of(new_uuid4(), "{}");
  JobResult kept = result_of(new_uuid4(), "{}");
  kept.job_type = "weather";
  ASSERT_TRUE(store->put_batch(std::vector<JobResult>{brief, kept}).ok());
  ASSERT_TRUE(store->get(brief.job_id).ok());  // there until it expires
  RawMongo raw(settings);
  EXPECT_TRUE(eventually([&] { return raw.count(brief.job_id) == 0; }, 15s));
  EXPECT_EQ(raw.count(kept.job_id), 1);
  EXPECT_TRUE(store->get(kept.job_id).ok());
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
           [](MongoSettings& s) { s.trim_batch = 0; },
           [](MongoSettings& s) { s.trim_interval = std::chrono::milliseconds(-1); },
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
  EXPECT_TRUE(eventually(
      [&] {
        auto put = (*store)->put(result_of(during, "{}"));
        return put.ok() && *put;
      },
      20s, 50ms));
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
