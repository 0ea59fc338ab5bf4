// The PayloadValidator conformance suite: what core/include/dtq/core/ports/
// payload_validator.hpp promises (the owner's verdict, normalized payload and
// field errors passed through whole; NotFound for a type nobody owns;
// an owner that cannot be asked is an error, never a pass; a batch answered
// payload by payload, in order), checked the same
// way on every adapter (the embedded LocalPayloadValidator, the distributed
// GrpcPayloadValidator) and on the in-memory fake. An adapter's own
// behaviour (gRPC's candidates, deadlines and cluster secret) stays in its
// own test file.
//
// To run it over a validator, write a harness and instantiate the suite in
// a test binary of the adapter's folder:
//
//   struct MyValidatorHarness {
//     // The validator the API submits through; nobody owns any job type yet.
//     std::shared_ptr<PayloadValidator> open();
//     // A plugin owns `job_type` from now on, answering each payload as its
//     // check() does with `owner`, which may be called from any thread.
//     void own(const std::string& job_type, Owner owner);
//     // Its plugin is gone: nobody owns `job_type` any more.
//     void disown(const std::string& job_type);
//     // Its owner is still registered but cannot be asked (a runner that
//     // crashed, a pool that does not answer).
//     void cut_off(const std::string& job_type);
//   };
//   INSTANTIATE_TYPED_TEST_SUITE_P(Mine, PayloadValidatorConformance, MyValidatorHarness);
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "dtq/core/ports/payload_validator.hpp"

namespace dtq::testing {

// What a plugin's check() answers for one payload.
using Owner = std::function<StatusOr<ValidationOutcome>(std::string_view payload)>;

inline Owner accepting_as(std::string normalized) {
  return [normalized](std::string_view) { return ValidationOutcome{normalized, {}}; };
}

inline Owner refusing_with(std::vector<FieldError> errors) {
  return [errors](std::string_view) { return ValidationOutcome{"", errors}; };
}

template <class Harness>
class PayloadValidatorConformance : public ::testing::Test {
 protected:
  void SetUp() override {
    validator_ = harness_.open();
    ASSERT_TRUE(validator_);
  }

  ValidationOutcome check_ok(std::string_view job_type, std::string_view payload) {
    auto checked = validator_->check(job_type, payload);
    EXPECT_TRUE(checked.ok()) << checked.status().message();
    return checked.ok() ? std::move(checked).value() : ValidationOutcome{};
  }

  static void expect_same_errors(const ValidationOutcome& outcome,
                                 const std::vector<FieldError>& errors) {
    ASSERT_EQ(outcome.errors.size(), errors.size());
    for (size_t i = 0; i < errors.size(); ++i) {
      EXPECT_EQ(outcome.errors[i].field, errors[i].field) << i;
      EXPECT_EQ(outcome.errors[i].message, errors[i].message) << i;
    }
  }

  Harness harness_;
  std::shared_ptr<PayloadValidator> validator_;
};

TYPED_TEST_SUITE_P(PayloadValidatorConformance);

TYPED_TEST_P(PayloadValidatorConformance, AValidPayloadComesBackAsItsOwnerNormalizedIt) {
  const std::string normalized = R"({"city":"Austin","units":"metric"})";
  this->harness_.own("weather_like", accepting_as(normalized));
  const auto validated = this->validator_->validate("weather_like", R"({"city":"Austin"})");
  ASSERT_TRUE(validated.has_value());
  EXPECT_TRUE(validated->valid());
  EXPECT_EQ(validated->normalized_payload, normalized);
  const ValidationOutcome checked = this->check_ok("weather_like", R"({"city":"Austin"})");
  EXPECT_TRUE(checked.valid());
  EXPECT_EQ(checked.normalized_payload, normalized);
}

TYPED_TEST_P(PayloadValidatorConformance, AnInvalidPayloadComesBackWithEveryFieldErrorInOrder) {
  const std::vector<FieldError> errors{{"/city", "must not be empty"},
                                       {"", "the payload is too large"},
                                       {"/units", "unknown unit \"kelvin\" — try ºC"}};
  this->harness_.own("picky", refusing_with(errors));
  const auto validated = this->validator_->validate("picky", R"({"city":""})");
  ASSERT_TRUE(validated.has_value());
  EXPECT_FALSE(validated->valid());
  this->expect_same_errors(*validated, errors);
  const ValidationOutcome checked = this->check_ok("picky", R"({"city":""})");
  EXPECT_FALSE(checked.valid());
  this->expect_same_errors(checked, errors);
  EXPECT_EQ(checked.describe(),
            "/city: must not be empty; payload: the payload is too large; "
            "/units: unknown unit \"kelvin\" — try ºC");
}

TYPED_TEST_P(PayloadValidatorConformance, TheOwnerIsGivenThePayloadVerbatim) {
  std::mutex mutex;
  std::vector<std::string> seen;
  this->harness_.own("recorder", [&](std::string_view payload) -> StatusOr<ValidationOutcome> {
    std::lock_guard lock(mutex);
    seen.emplace_back(payload);
    return ValidationOutcome{std::string(payload), {}};
  });
  const std::vector<std::string> payloads{"{}", R"(  { "spaced" : [1, 2] }  )",
                                          R"({"name":"Zoë 🚀"})", "not json at all",
                                          R"({"big":")" + std::string(200'000, 'x') + R"("})"};
  for (const auto& payload : payloads) {
    EXPECT_EQ(this->check_ok("recorder", payload).normalized_payload, payload);
  }
  std::lock_guard lock(mutex);
  EXPECT_EQ(seen, payloads);
}

TYPED_TEST_P(PayloadValidatorConformance, EachTypeIsAnsweredByItsOwnOwner) {
  this->harness_.own("yes", accepting_as(R"({"from":"yes"})"));
  this->harness_.own("no", refusing_with({{"/from", "no"}}));
  EXPECT_EQ(this->check_ok("yes", "{}").normalized_payload, R"({"from":"yes"})");
  this->expect_same_errors(this->check_ok("no", "{}"), {{"/from", "no"}});
}

TYPED_TEST_P(PayloadValidatorConformance, ATypeNobodyOwnsIsNotFound) {
  this->harness_.own("owned", accepting_as("{}"));
  EXPECT_FALSE(this->validator_->validate("unowned", "{}").has_value());
  const auto checked = this->validator_->check("unowned", "{}");
  EXPECT_EQ(checked.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(checked.status().message(), ::testing::HasSubstr("\"unowned\""));
}

TYPED_TEST_P(PayloadValidatorConformance, ATypeWhoseOwnerLeftIsNotFound) {
  this->harness_.own("leaving", accepting_as("{}"));
  ASSERT_TRUE(this->check_ok("leaving", "{}").valid());
  this->harness_.disown("leaving");
  EXPECT_FALSE(this->validator_->validate("leaving", "{}").has_value());
  EXPECT_EQ(this->validator_->check("leaving", "{}").status().code(), StatusCode::kNotFound);
}

// "Try again", never "no such type" and never a pass: the job is not
// enqueued, and the client is not told its payload is wrong.
TYPED_TEST_P(PayloadValidatorConformance, AnOwnerThatCannotBeAskedIsUnavailable) {
  this->harness_.own("flaky", accepting_as("{}"));
  this->harness_.cut_off("flaky");
  EXPECT_EQ(this->validator_->check("flaky", "{}").status().code(), StatusCode::kUnavailable);
  const auto validated = this->validator_->validate("flaky", "{}");
  EXPECT_FALSE(validated.has_value() && validated->valid()) << "an unanswered payload passed";
}

TYPED_TEST_P(PayloadValidatorConformance, ManyThreadsShareTheValidator) {
  this->harness_.own("even", [](std::string_view payload) -> StatusOr<ValidationOutcome> {
    if ((payload.back() - '0') % 2 == 0) return ValidationOutcome{std::string(payload), {}};
    return ValidationOutcome{"", {{"/n", "must be even"}}};
  });
  std::atomic<int> right{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 30; ++i) {
        const std::string payload = "n=" + std::to_string(t + i);
        auto checked = this->validator_->check("even", payload);
        const bool even = (t + i) % 2 == 0;
        if (checked.ok() && checked->valid() == even &&
            (even ? checked->normalized_payload == payload : checked->errors.size() == 1)) {
          ++right;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(right.load(), 180);
}

// check_batch() answers as check() would, payload by payload, in order.
TYPED_TEST_P(PayloadValidatorConformance, ABatchIsAnsweredPayloadByPayloadInOrder) {
  this->harness_.own("even", [](std::string_view payload) -> StatusOr<ValidationOutcome> {
    if ((payload.back() - '0') % 2 == 0) return ValidationOutcome{std::string(payload), {}};
    return ValidationOutcome{"", {{"/n", "must be even"}}};
  });
  std::vector<std::string> texts;
  for (int i = 0; i < 40; ++i) texts.push_back("n=" + std::to_string(i));
  const std::vector<std::string_view> payloads(texts.begin(), texts.end());
  const auto outcomes = this->validator_->check_batch("even", payloads);
  ASSERT_EQ(outcomes.size(), payloads.size());
  for (size_t i = 0; i < payloads.size(); ++i) {
    ASSERT_TRUE(outcomes[i].ok()) << i << ": " << outcomes[i].status().message();
    EXPECT_EQ(outcomes[i]->valid(), i % 2 == 0) << i;
    if (i % 2 == 0) {
      EXPECT_EQ(outcomes[i]->normalized_payload, payloads[i]);
    }
  }
  for (const auto& outcome : this->validator_->check_batch("unowned", payloads)) {
    EXPECT_EQ(outcome.status().code(), StatusCode::kNotFound);
  }
  this->harness_.cut_off("even");
  for (const auto& outcome : this->validator_->check_batch("even", payloads)) {
    EXPECT_EQ(outcome.status().code(), StatusCode::kUnavailable);
  }
}

REGISTER_TYPED_TEST_SUITE_P(PayloadValidatorConformance,
                            AValidPayloadComesBackAsItsOwnerNormalizedIt,
                            AnInvalidPayloadComesBackWithEveryFieldErrorInOrder,
                            TheOwnerIsGivenThePayloadVerbatim, EachTypeIsAnsweredByItsOwnOwner,
                            ATypeNobodyOwnsIsNotFound, ATypeWhoseOwnerLeftIsNotFound,
                            AnOwnerThatCannotBeAskedIsUnavailable, ManyThreadsShareTheValidator,
                            ABatchIsAnsweredPayloadByPayloadInOrder);

}  // namespace dtq::testing
