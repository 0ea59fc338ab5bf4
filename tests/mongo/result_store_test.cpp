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
