// The ResultStore conformance suite: what core/include/dtq/core/ports/
// result_store.hpp promises (one result per job id, whatever the order and
// concurrency of the writers; batches), checked the same way on every adapter
// (embedded SQLite, MongoDB) and on the in-memory fake. An adapter's own
// behaviour (its document, indexes, settings, restarts) stays in its own test
// file.
//
// To run it over a store, write a harness and instantiate the suite in a
// test binary of the adapter's folder (its label and server fixture):
//
//   struct MyResultHarness {
//     // The store a worker writes through, over this test's own data (called
//     // again after it was destroyed, opens it again).
//     std::shared_ptr<ResultStore> open();
//     // A store of another process on the same data (the API, the CLI).
//     std::shared_ptr<ResultStore> open_client();
//     // Another store that may write the same jobs at the same time as
//     // open()'s.
//     std::shared_ptr<ResultStore> open_peer();
//     // How many copies of the job's result the backend holds, when it can
//     // tell (a document count); nullopt otherwise.
//     std::optional<int64_t> copies(const std::string& job_id);
//     // Whether results outlive the store, and whether `attempts` is kept.
//     static constexpr bool kDurable = true;
//     static constexpr bool kKeepsAttempts = true;
//   };
//   INSTANTIATE_TYPED_TEST_SUITE_P(Mine, ResultStoreConformance, MyResultHarness);
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "dtq/core/ids.hpp"
#include "dtq/core/ports/result_store.hpp"
#include "support/model_factories.hpp"

namespace dtq::testing {

template <class Harness>
class ResultStoreConformance : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = harness_.open();
    ASSERT_TRUE(store_);
  }

  // The backend holds one copy of the job's result (when it can tell).
  void expect_one_copy(const std::string& job_id) {
    if (const auto copies = harness_.copies(job_id)) {
      EXPECT_EQ(*copies, 1) << job_id;
    }
  }

  std::string output_of(const std::string& job_id) {
    auto got = store_->get(job_id);
    EXPECT_TRUE(got.ok()) << got.status().message();
    return got.ok() ? got->output : "(none)";
  }

  Harness harness_;
  std::shared_ptr<ResultStore> store_;
};

TYPED_TEST_SUITE_P(ResultStoreConformance);

TYPED_TEST_P(ResultStoreConformance, FirstPutWins) {
  const std::string id = new_uuid4();
  auto first = this->store_->put(result_of(id, R"({"n":1})"));
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_TRUE(*first);
  auto second = this->store_->put(result_of(id, R"({"n":2})"));
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_FALSE(*second);
  EXPECT_EQ(this->output_of(id), R"({"n":1})");
  this->expect_one_copy(id);
}

TYPED_TEST_P(ResultStoreConformance, ResultsReadBackAsTheyWereWritten) {
  const std::string id = new_uuid4();
  JobResult written = result_of(id, "");
  written.input =
      R"({"city":"Zürich","days":[1,2,3],"nested":{"big":9007199254740993,"ratio":0.25,"unit":null,"on":false},"empty":{},"text":"line\nbreak \"quoted\""})";
  written.output = R"({"temperature_c":21.5,"whole":2.0,"list":[{"a":1},"x",null]})";
  ASSERT_TRUE(this->store_->put(written).ok());
  auto got = this->store_->get(id);
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
}

TYPED_TEST_P(ResultStoreConformance, AFailedResultIsKeptWholeAndSeenByOtherProcesses) {
  const std::string id = new_uuid4();
  const JobResult failed = failed_result(id);
  ASSERT_TRUE(this->store_->put(failed).ok());
  if constexpr (TypeParam::kDurable) this->store_.reset();
  auto client = this->harness_.open_client();
  ASSERT_TRUE(client);
  if constexpr (TypeParam::kDurable) this->store_ = this->harness_.open();
  ASSERT_TRUE(this->store_);
  for (ResultStore* store : {client.get(), this->store_.get()}) {
    auto got = store->get(id);
    ASSERT_TRUE(got.ok()) << got.status().message();
    EXPECT_EQ(got->final_state, JobState::kFailed);
    ASSERT_TRUE(got->error.has_value());
    EXPECT_EQ(got->error->code, "user_not_found");
    EXPECT_EQ(got->error->message, "no such user");
    EXPECT_EQ(got->output, "");
    EXPECT_EQ(got->started_at, "");
    EXPECT_EQ(got->input, failed.input);
    EXPECT_EQ(got->trace_id, failed.trace_id);
    EXPECT_EQ(got->completed_at, failed.completed_at);
    if constexpr (TypeParam::kKeepsAttempts) {
      EXPECT_EQ(got->attempts, 3U);
    }
  }
}

TYPED_TEST_P(ResultStoreConformance, ABatchReportsWhichResultsItStored) {
  using ::testing::ElementsAre;
  ResultStore& store = *this->store_;
  const std::string already = new_uuid4();
  ASSERT_TRUE(store.put(result_of(already, R"({"n":1})")).ok());
  const std::string twice = new_uuid4();
  const std::vector<JobResult> batch = {
      result_of(new_uuid4(), "{}"),      result_of(already, R"({"n":2})"),
      result_of(twice, R"({"copy":1})"), result_of(new_uuid4(), "{}"),
      result_of(twice, R"({"copy":2})"),  // the same job twice in one batch
  };
  auto stored = store.put_batch(batch);
  ASSERT_TRUE(stored.ok()) << stored.status().message();
  EXPECT_THAT(*stored, ElementsAre(true, false, true, true, false));
  EXPECT_EQ(this->output_of(already), R"({"n":1})");
  EXPECT_EQ(this->output_of(twice), R"({"copy":1})");
  EXPECT_TRUE(store.get(batch[3].job_id).ok());
  for (const auto& result : batch) this->expect_one_copy(result.job_id);

  // A replayed batch (a redelivery after a crash) stores nothing twice.
  auto again = store.put_batch(batch);
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_THAT(*again, ElementsAre(false, false, false, false, false));
  for (const auto& result : batch) this->expect_one_copy(result.job_id);

  auto empty = store.put_batch({});
  ASSERT_TRUE(empty.ok()) << empty.status().message();
  EXPECT_TRUE(empty->empty());
}

TYPED_TEST_P(ResultStoreConformance, AResultWithoutAJobIdIsRefusedAndSoIsItsBatch) {
  const std::vector<JobResult> batch = {result_of(new_uuid4(), "{}"), result_of("", "{}")};
  const auto stored = this->store_->put_batch(batch);
  EXPECT_EQ(stored.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(this->store_->get(batch[0].job_id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(this->store_->put(result_of("", "{}")).status().code(), StatusCode::kInvalidArgument);
}

TYPED_TEST_P(ResultStoreConformance, UnknownJobIsNotFound) {
  EXPECT_EQ(this->store_->get(new_uuid4()).status().code(), StatusCode::kNotFound);
}

TYPED_TEST_P(ResultStoreConformance, ConcurrentPutsStoreOneResultPerJob) {
  auto other = this->harness_.open_peer();
  ASSERT_TRUE(other);
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
      ResultStore& mine = t % 2 == 0 ? *this->store_ : *other;
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
  for (int j = 0; j < kJobs; ++j) {
    EXPECT_EQ(stored[j].load(), 1) << ids[j];
    this->expect_one_copy(ids[j]);
    EXPECT_EQ(this->output_of(ids[j]), R"({"thread":)" + std::to_string(winner[j].load()) + "}");
  }
}

TYPED_TEST_P(ResultStoreConformance, PutsFromTwoProcessesStoreExactlyOne) {
  auto client = this->harness_.open_client();
  ASSERT_TRUE(client);
  const std::string id = new_uuid4();
  auto from_client = client->put(result_of(id, R"({"from":"client"})"));
  auto from_worker = this->store_->put(result_of(id, R"({"from":"worker"})"));
  ASSERT_TRUE(from_client.ok()) << from_client.status().message();
  ASSERT_TRUE(from_worker.ok()) << from_worker.status().message();
  EXPECT_TRUE(*from_client);
  EXPECT_FALSE(*from_worker);
  EXPECT_EQ(this->output_of(id), R"({"from":"client"})");
}

REGISTER_TYPED_TEST_SUITE_P(ResultStoreConformance, FirstPutWins, ResultsReadBackAsTheyWereWritten,
                            AFailedResultIsKeptWholeAndSeenByOtherProcesses,
                            ABatchReportsWhichResultsItStored,
                            AResultWithoutAJobIdIsRefusedAndSoIsItsBatch, UnknownJobIsNotFound,
                            ConcurrentPutsStoreOneResultPerJob,
                            PutsFromTwoProcessesStoreExactlyOne);

}  // namespace dtq::testing
