// The IdempotencyStore conformance suite: what core/include/dtq/core/ports/
// idempotency_store.hpp promises (one holder per key until it expires or
// its own job releases it, whatever the concurrency of the claimers; a
// retried claim of the same record counts as claimed), checked the same
// way on every adapter (embedded SQLite, Redis) and on the in-memory fake.
// An adapter's own behaviour (its table or keys, trimming) stays in its
// own test file.
//
// To run it over a store, write a harness and instantiate the suite in a
// test binary of the adapter's folder (its label and server fixture):
//
//   struct MyIdempotencyHarness {
//     // The store of this test's own data (its own keys: a data folder, a
//     // key prefix), the same each time it is called.
//     std::shared_ptr<IdempotencyStore> open();
//     // Another store on the same data: another connection, process or
//     // replica, claiming at the same time as open()'s.
//     std::shared_ptr<IdempotencyStore> open_peer();
//   };
//   INSTANTIATE_TYPED_TEST_SUITE_P(Mine, IdempotencyStoreConformance, MyIdempotencyHarness);
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dtq/core/ids.hpp"
#include "dtq/core/ports/idempotency_store.hpp"
#include "support/eventually.hpp"

namespace dtq::testing {

template <class Harness>
class IdempotencyStoreConformance : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = harness_.open();
    ASSERT_TRUE(store_);
  }

  // A key no other test (or earlier run on the same server) uses.
  static std::string fresh_key() { return "owner:" + new_uuid4(); }
  static IdempotencyRecord record_of(std::string fingerprint) {
    return {.fingerprint = std::move(fingerprint), .job_id = new_uuid4()};
  }

  IdempotencyClaim claim(IdempotencyStore& store, const std::string& key,
                         const IdempotencyRecord& record,
                         std::chrono::milliseconds ttl = kIdempotencyTtl) {
    auto claimed = store.claim(key, record, ttl);
    EXPECT_TRUE(claimed.ok()) << claimed.status().message();
    return claimed.ok() ? *claimed : IdempotencyClaim{};
  }

  Harness harness_;
  std::shared_ptr<IdempotencyStore> store_;
};

TYPED_TEST_SUITE_P(IdempotencyStoreConformance);

TYPED_TEST_P(IdempotencyStoreConformance, FirstClaimHoldsTheKey) {
  const std::string key = this->fresh_key();
  const auto first = this->record_of("fp-1");
  const auto second = this->record_of("fp-2");
  const auto won = this->claim(*this->store_, key, first);
  EXPECT_TRUE(won.claimed);
  EXPECT_EQ(won.holder, first);
  const auto lost = this->claim(*this->store_, key, second);
  EXPECT_FALSE(lost.claimed);
  EXPECT_EQ(lost.holder, first) << "the key must answer the first record, unchanged";
}

TYPED_TEST_P(IdempotencyStoreConformance, SameFingerprintOtherJobIsNotClaimed) {
  // A repeat of the request makes its own job id before it claims: it must
  // learn the first job's id, not hold the key.
  const std::string key = this->fresh_key();
  const auto first = this->record_of("same");
  const auto repeat = this->record_of("same");
  EXPECT_TRUE(this->claim(*this->store_, key, first).claimed);
  const auto answer = this->claim(*this->store_, key, repeat);
  EXPECT_FALSE(answer.claimed);
  EXPECT_EQ(answer.holder.job_id, first.job_id);
}

TYPED_TEST_P(IdempotencyStoreConformance, RetriedClaimOfTheSameRecordIsClaimed) {
  const std::string key = this->fresh_key();
  const auto record = this->record_of("fp");
  EXPECT_TRUE(this->claim(*this->store_, key, record).claimed);
  const auto again = this->claim(*this->store_, key, record);
  EXPECT_TRUE(again.claimed);
  EXPECT_EQ(again.holder, record);
}

TYPED_TEST_P(IdempotencyStoreConformance, KeysAreIndependent) {
  const auto record = this->record_of("fp");
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(this->claim(*this->store_, this->fresh_key(), this->record_of("fp")).claimed);
  }
  // Keys that differ only in their owner part or case are different keys.
  const std::string base = new_uuid4();
  EXPECT_TRUE(this->claim(*this->store_, "a:" + base, record).claimed);
  EXPECT_TRUE(this->claim(*this->store_, "b:" + base, this->record_of("fp")).claimed);
  EXPECT_TRUE(this->claim(*this->store_, "a:" + base + "X", this->record_of("x")).claimed);
  EXPECT_TRUE(this->claim(*this->store_, "a:" + base + "x", this->record_of("y")).claimed);
}

TYPED_TEST_P(IdempotencyStoreConformance, KeysOfAnyPrintableCharacters) {
  // Up to 255 characters of the client's, after the owner's part.
  const std::string odd =
      "0123456789abcdef:" + std::string(200, 'k') + " '\"\\%*?[]{}$ ~!" + new_uuid4();
  const auto first = this->record_of("fp-odd");
  EXPECT_TRUE(this->claim(*this->store_, odd, first).claimed);
  const auto lost = this->claim(*this->store_, odd, this->record_of("other"));
  EXPECT_FALSE(lost.claimed);
  EXPECT_EQ(lost.holder, first);
  EXPECT_TRUE(this->store_->release(odd, first.job_id).ok());
  EXPECT_TRUE(this->claim(*this->store_, odd, this->record_of("other")).claimed);
}

TYPED_TEST_P(IdempotencyStoreConformance, ReleaseFreesOnlyItsOwnJobsClaim) {
  const std::string key = this->fresh_key();
  const auto first = this->record_of("fp-1");
  ASSERT_TRUE(this->claim(*this->store_, key, first).claimed);
  // Another job's release (a repeat that failed after the key was taken
  // again) must not free the key.
  const Status other = this->store_->release(key, new_uuid4());
  EXPECT_TRUE(other.ok()) << other.message();
  EXPECT_FALSE(this->claim(*this->store_, key, this->record_of("fp-2")).claimed);

  const Status own = this->store_->release(key, first.job_id);
  EXPECT_TRUE(own.ok()) << own.message();
  const auto retry = this->record_of("fp-1");
  const auto after = this->claim(*this->store_, key, retry);
  EXPECT_TRUE(after.claimed);
  EXPECT_EQ(after.holder, retry);
}

TYPED_TEST_P(IdempotencyStoreConformance, ReleaseOfAFreeKeySucceeds) {
  const Status released = this->store_->release(this->fresh_key(), new_uuid4());
  EXPECT_TRUE(released.ok()) << released.message();
}

TYPED_TEST_P(IdempotencyStoreConformance, ExpiredKeyCanBeClaimedAgain) {
  using namespace std::chrono_literals;
  const std::string key = this->fresh_key();
  const auto first = this->record_of("fp-1");
  const auto later = this->record_of("fp-2");
  ASSERT_TRUE(this->claim(*this->store_, key, first, 300ms).claimed);
  EXPECT_FALSE(this->claim(*this->store_, key, later).claimed) << "held before it expires";
  // Claims that lost did not extend it: it expires 300 ms after the first.
  EXPECT_TRUE(eventually(
      [&] {
        auto answer = this->store_->claim(key, later, kIdempotencyTtl);
        return answer.ok() && answer->claimed;
      },
      5s, 20ms));
  const auto now_held = this->claim(*this->store_, key, this->record_of("fp-3"));
  EXPECT_FALSE(now_held.claimed);
  EXPECT_EQ(now_held.holder, later);
}

TYPED_TEST_P(IdempotencyStoreConformance, PeerSeesTheClaim) {
  auto peer = this->harness_.open_peer();
  ASSERT_TRUE(peer);
  const std::string key = this->fresh_key();
  const auto first = this->record_of("fp-1");
  ASSERT_TRUE(this->claim(*this->store_, key, first).claimed);
  const auto lost = this->claim(*peer, key, this->record_of("fp-1"));
  EXPECT_FALSE(lost.claimed);
  EXPECT_EQ(lost.holder, first);
  EXPECT_TRUE(peer->release(key, first.job_id).ok());
  EXPECT_TRUE(this->claim(*this->store_, key, this->record_of("fp-1")).claimed);
}

TYPED_TEST_P(IdempotencyStoreConformance, ConcurrentClaimsHaveExactlyOneWinner) {
  constexpr int kKeys = 20;
  constexpr int kThreads = 8;
  std::vector<std::shared_ptr<IdempotencyStore>> stores{this->store_, this->harness_.open_peer()};
  ASSERT_TRUE(stores[1]);
  for (int k = 0; k < kKeys; ++k) {
    const std::string key = this->fresh_key();
    std::vector<IdempotencyRecord> records;
    for (int t = 0; t < kThreads; ++t) records.push_back(this->record_of("same request"));
    std::vector<StatusOr<IdempotencyClaim>> answers(kThreads, internal_error("not run"));
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        ready.fetch_add(1);
        while (ready.load() < kThreads) std::this_thread::yield();
        answers[t] = stores[t % 2]->claim(key, records[t], kIdempotencyTtl);
      });
    }
    for (auto& thread : threads) thread.join();
    int winners = 0;
    int winner = -1;
    for (int t = 0; t < kThreads; ++t) {
      ASSERT_TRUE(answers[t].ok()) << answers[t].status().message();
      if (answers[t]->claimed) {
        ++winners;
        winner = t;
      }
    }
    ASSERT_EQ(winners, 1) << "key " << key;
    for (int t = 0; t < kThreads; ++t) {
      EXPECT_EQ(answers[t]->holder, records[winner])
          << "thread " << t << " was told another holder";
    }
  }
}

REGISTER_TYPED_TEST_SUITE_P(IdempotencyStoreConformance, FirstClaimHoldsTheKey,
                            SameFingerprintOtherJobIsNotClaimed,
                            RetriedClaimOfTheSameRecordIsClaimed, KeysAreIndependent,
                            KeysOfAnyPrintableCharacters, ReleaseFreesOnlyItsOwnJobsClaim,
                            ReleaseOfAFreeKeySucceeds, ExpiredKeyCanBeClaimedAgain,
                            PeerSeesTheClaim, ConcurrentClaimsHaveExactlyOneWinner);

}  // namespace dtq::testing
