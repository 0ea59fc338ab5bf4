// The JobTypeRegistry conformance suite: what core/include/dtq/core/ports/
// job_type_registry.hpp promises (the hosted job types with their plugin's
// metadata, sorted by job type; a type nobody hosts any more leaves the
// list), checked the same way on every adapter (the embedded engine's,
// Redis) and on the in-memory fake. An adapter's own behaviour (Redis's
// heartbeats, TTLs and aggregation over pools of several versions; the
// engine's drain; whether a paused pool really stops taking jobs) stays in
// its own test file.
//
// To run it over a registry, write a harness and instantiate the suite in a
// test binary of the adapter's folder (its label and server fixture):
//
//   struct MyRegistryHarness {
//     // The registry the API lists from, over this test's own data: it
//     // lists nothing until host() is called.
//     std::shared_ptr<JobTypeRegistry> open();
//     // A pool of `type` (a plugin with its metadata, concurrency and
//     // isolation) taking work from now on, as a worker runs one.
//     void host(const JobTypeInfo& type);
//     // The pool of `job_type` stops: it takes no more work.
//     void stop(const std::string& job_type);
//   };
//   INSTANTIATE_TYPED_TEST_SUITE_P(Mine, JobTypeRegistryConformance, MyRegistryHarness);
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dtq/core/ports/job_type_registry.hpp"
#include "support/eventually.hpp"

namespace dtq::testing {

// A plugin's metadata as a registry must give it back.
inline JobTypeInfo hosted_type(const std::string& job_type, uint32_t concurrency = 2) {
  return {.job_type = job_type,
          .name = "Plugin " + job_type,
          .version = "1.4.2",
          .description = "Does " + job_type + " — and says so in UTF-8.",
          .payload_schema_json = R"({"type":"object","properties":{"n":{"type":"integer"}}})",
          .abi_version = "1.0",
          .concurrency = concurrency,
          .isolation = "in_process"};
}

template <class Harness>
class JobTypeRegistryConformance : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = harness_.open();
    ASSERT_TRUE(registry_);
  }

  std::vector<JobTypeInfo> list_ok() {
    auto listed = registry_->list();
    EXPECT_TRUE(listed.ok()) << listed.status().message();
    return listed.ok() ? std::move(listed).value() : std::vector<JobTypeInfo>{};
  }

  std::vector<std::string> job_types() {
    std::vector<std::string> types;
    for (const auto& type : list_ok()) types.push_back(type.job_type);
    return types;
  }

  Harness harness_;
  std::shared_ptr<JobTypeRegistry> registry_;
};

TYPED_TEST_SUITE_P(JobTypeRegistryConformance);

TYPED_TEST_P(JobTypeRegistryConformance, NothingHostedListsNothing) {
  EXPECT_THAT(this->list_ok(), ::testing::IsEmpty());
}

TYPED_TEST_P(JobTypeRegistryConformance, AHostedTypeIsListedWithItsPluginsMetadata) {
  const JobTypeInfo hosted = hosted_type("conformance_echo", 3);
  this->harness_.host(hosted);
  const auto listed = this->list_ok();
  ASSERT_EQ(listed.size(), 1U);
  const JobTypeInfo& type = listed.front();
  EXPECT_EQ(type.job_type, hosted.job_type);
  EXPECT_EQ(type.name, hosted.name);
  EXPECT_EQ(type.version, hosted.version);
  EXPECT_EQ(type.description, hosted.description);
  EXPECT_EQ(type.payload_schema_json, hosted.payload_schema_json);
  EXPECT_EQ(type.abi_version, hosted.abi_version);
  EXPECT_EQ(type.concurrency, hosted.concurrency);
  EXPECT_EQ(type.isolation, hosted.isolation);
  // One pool takes its jobs, and none is running now.
  EXPECT_EQ(type.pools, 1U);
  EXPECT_EQ(type.in_flight, 0U);
  EXPECT_FALSE(type.crash_looping);
}

TYPED_TEST_P(JobTypeRegistryConformance, TypesAreSortedByJobType) {
  for (const std::string type : {"gamma", "alpha", "beta_2", "beta", "alpha0"}) {
    this->harness_.host(hosted_type(type));
  }
  EXPECT_THAT(this->job_types(),
              ::testing::ElementsAre("alpha", "alpha0", "beta", "beta_2", "gamma"));
}

TYPED_TEST_P(JobTypeRegistryConformance, ATypeNoLongerHostedLeavesTheList) {
  this->harness_.host(hosted_type("first"));
  this->harness_.host(hosted_type("second"));
  ASSERT_THAT(this->job_types(), ::testing::ElementsAre("first", "second"));
  this->harness_.stop("first");
  EXPECT_THAT(this->job_types(), ::testing::ElementsAre("second"));
  this->harness_.stop("second");
  EXPECT_THAT(this->list_ok(), ::testing::IsEmpty());
}

TYPED_TEST_P(JobTypeRegistryConformance, ATypeHostedAgainComesBackWithItsNewMetadata) {
  this->harness_.host(hosted_type("again", 2));
  this->harness_.stop("again");
  JobTypeInfo upgraded = hosted_type("again", 5);
  upgraded.version = "2.0.0";
  upgraded.description = "The second version.";
  this->harness_.host(upgraded);
  const auto listed = this->list_ok();
  ASSERT_EQ(listed.size(), 1U);
  EXPECT_EQ(listed.front().version, "2.0.0");
  EXPECT_EQ(listed.front().description, "The second version.");
  EXPECT_EQ(listed.front().concurrency, 5U);
  EXPECT_EQ(listed.front().pools, 1U);
}

// Listing while pools come and go (a plugin dropped into a worker's folder,
// a worker leaving) answers each time a sorted list of whole entries.
TYPED_TEST_P(JobTypeRegistryConformance, ListingWhileTypesComeAndGoStaysWhole) {
  this->harness_.host(hosted_type("steady"));
  std::atomic<bool> done{false};
  std::atomic<int> torn{0};
  std::atomic<int> listings{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      while (!done) {
        auto listed = this->registry_->list();
        if (!listed.ok()) {
          ++torn;
          continue;
        }
        const bool sorted =
            std::is_sorted(listed->begin(), listed->end(),
                           [](const auto& a, const auto& b) { return a.job_type < b.job_type; });
        const bool steady = std::any_of(listed->begin(), listed->end(),
                                        [](const auto& type) { return type.job_type == "steady"; });
        const bool whole = std::all_of(listed->begin(), listed->end(), [](const auto& type) {
          return type.name == "Plugin " + type.job_type && type.version == "1.4.2";
        });
        if (!sorted || !steady || !whole) ++torn;
        ++listings;
      }
    });
  }
  // Each change waits for a listing after the last one, so that every
  // change overlaps the readers however fast the registry is.
  const auto listed_again = [&] {
    const int before = listings;
    EXPECT_TRUE(eventually([&] { return listings > before; }));
  };
  for (int round = 0; round < 10; ++round) {
    const std::string type = "coming_" + std::to_string(round);
    listed_again();
    this->harness_.host(hosted_type(type));
    listed_again();
    this->harness_.stop(type);
  }
  done = true;
  for (auto& reader : readers) reader.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_THAT(this->job_types(), ::testing::ElementsAre("steady"));
}

TYPED_TEST_P(JobTypeRegistryConformance, APausedTypeIsListedPausedUntilResumed) {
  this->harness_.host(hosted_type("held"));
  this->harness_.host(hosted_type("other"));
  EXPECT_FALSE(this->list_ok().front().paused);
  const Status paused = this->registry_->set_paused("held", true);
  ASSERT_TRUE(paused.ok()) << paused.message();
  auto listed = this->list_ok();
  ASSERT_EQ(listed.size(), 2U);
  EXPECT_TRUE(listed[0].paused);
  EXPECT_FALSE(listed[1].paused);  // only the type named
  // Pausing again changes nothing.
  ASSERT_TRUE(this->registry_->set_paused("held", true).ok());
  EXPECT_TRUE(this->list_ok().front().paused);
  const Status resumed = this->registry_->set_paused("held", false);
  ASSERT_TRUE(resumed.ok()) << resumed.message();
  listed = this->list_ok();
  ASSERT_EQ(listed.size(), 2U);
  EXPECT_FALSE(listed[0].paused);
  EXPECT_FALSE(listed[1].paused);
  ASSERT_TRUE(this->registry_->set_paused("held", false).ok());
}

TYPED_TEST_P(JobTypeRegistryConformance, PausingATypeNobodyHostsIsNotFound) {
  this->harness_.host(hosted_type("hosted"));
  EXPECT_EQ(this->registry_->set_paused("nobody_hosts_this", true).code(), StatusCode::kNotFound);
  EXPECT_EQ(this->registry_->set_paused("nobody_hosts_this", false).code(), StatusCode::kNotFound);
  this->harness_.stop("hosted");
  EXPECT_EQ(this->registry_->set_paused("hosted", true).code(), StatusCode::kNotFound);
  EXPECT_THAT(this->list_ok(), ::testing::IsEmpty());
}

REGISTER_TYPED_TEST_SUITE_P(JobTypeRegistryConformance, NothingHostedListsNothing,
                            AHostedTypeIsListedWithItsPluginsMetadata, TypesAreSortedByJobType,
                            ATypeNoLongerHostedLeavesTheList,
                            ATypeHostedAgainComesBackWithItsNewMetadata,
                            ListingWhileTypesComeAndGoStaysWhole,
                            APausedTypeIsListedPausedUntilResumed,
                            PausingATypeNobodyHostsIsNotFound);

}  // namespace dtq::testing
