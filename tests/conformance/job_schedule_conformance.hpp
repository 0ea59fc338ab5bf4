// The JobSchedule conformance suite: what core/include/dtq/core/ports/
// job_schedule.hpp promises (a job is claimed only once due, by one claim
// at a time until its lease ends, then again; complete and cancel take it
// out for good; it outlives the store object that scheduled it), checked
// the same way on every adapter (embedded SQLite, Redis) and on the
// in-memory fake. A JobScheduler over the schedule is checked here too,
// with the in-memory queue and status store: due jobs move once, however
// many schedulers race.
//
// To run it over a schedule, write a harness and instantiate the suite in a
// test binary of the adapter's folder (its label and server fixture):
//
//   struct MyScheduleHarness {
//     // The schedule of this test's own data (a data folder, a key
//     // prefix), the same each time it is called.
//     std::shared_ptr<JobSchedule> open();
//     // Another schedule on the same data (another process or replica),
//     // used at the same time as open()'s.
//     std::shared_ptr<JobSchedule> open_peer();
//     // open() again after the schedule was dropped: a restart. Null when
//     // the adapter keeps nothing (kDurable false).
//     std::shared_ptr<JobSchedule> reopen();
//     static constexpr bool kDurable = ...;
//   };
//   INSTANTIATE_TYPED_TEST_SUITE_P(Mine, JobScheduleConformance, MyScheduleHarness);
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "dtq/core/ids.hpp"
#include "dtq/core/job_scheduler.hpp"
#include "dtq/core/ports/job_schedule.hpp"
#include "fakes/memory_job_queue.hpp"
#include "fakes/memory_status_store.hpp"

namespace dtq::testing {

template <class Harness>
class JobScheduleConformance : public ::testing::Test {
 protected:
  void SetUp() override {
    schedule_ = harness_.open();
    ASSERT_TRUE(schedule_);
  }

  static JobMessage message_of(std::string job_type = "echo") {
    return JobMessage{.job_id = new_uuid4(),
                      .job_type = std::move(job_type),
                      .submitted_at = now_rfc3339(),
                      .trace_id = new_uuid4(),
                      .payload = R"({"n":1})"};
  }
  // Millisecond precision, as the schedule keeps it.
  static Clock::time_point at(int64_t ms) { return from_unix_ms(ms); }
  static Clock::time_point now_ms() { return from_unix_ms(to_unix_ms(Clock::now())); }

  std::vector<std::string> claim_ids(JobSchedule& schedule, Clock::time_point now,
                                     std::chrono::milliseconds lease = std::chrono::seconds(30),
                                     size_t limit = 100) {
    auto claimed = schedule.claim_due(now, lease, limit);
    EXPECT_TRUE(claimed.ok()) << claimed.status().message();
    std::vector<std::string> ids;
    if (claimed.ok()) {
      for (const auto& job : *claimed) ids.push_back(job.message.job_id);
    }
    return ids;
  }

  Harness harness_;
  std::shared_ptr<JobSchedule> schedule_;
};

TYPED_TEST_SUITE_P(JobScheduleConformance);

TYPED_TEST_P(JobScheduleConformance, NothingIsClaimedBeforeItIsDue) {
  // Each test's jobs are far from the others' in time: a schedule may be
  // shared, and a claim takes whatever is due.
  const auto base = this->now_ms() + std::chrono::hours(24 * 400);
  const JobMessage message = this->message_of();
  ASSERT_TRUE(this->schedule_->schedule(message, base).ok());
  EXPECT_TRUE(this->claim_ids(*this->schedule_, base - std::chrono::milliseconds(1)).empty());
  const auto claimed = this->schedule_->claim_due(base, std::chrono::seconds(30), 100);
  ASSERT_TRUE(claimed.ok()) << claimed.status().message();
  ASSERT_EQ(claimed->size(), 1U);
  const ScheduledJob& job = claimed->front();
  EXPECT_EQ(job.message.job_id, message.job_id);
  EXPECT_EQ(job.message.payload, message.payload);
  EXPECT_EQ(job.message.trace_id, message.trace_id);
  EXPECT_EQ(job.run_at, base);
  EXPECT_EQ(job.claims, 1U);
  ASSERT_TRUE(this->schedule_->complete(message.job_id).ok());
}

TYPED_TEST_P(JobScheduleConformance, GetAnswersAWaitingJobAndNotFoundOtherwise) {
  const auto run_at = this->now_ms() + std::chrono::hours(1);
  const JobMessage message = this->message_of();
  EXPECT_EQ(this->schedule_->get(message.job_id).status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(this->schedule_->schedule(message, run_at).ok());
  auto waiting = this->schedule_->get(message.job_id);
  ASSERT_TRUE(waiting.ok()) << waiting.status().message();
  EXPECT_EQ(waiting->run_at, run_at);
  EXPECT_EQ(waiting->message.job_type, "echo");
  EXPECT_TRUE(this->schedule_->schedule(message, run_at).ok())
      << "the same message again is a retried call, not a conflict";
  JobMessage other = this->message_of();
  other.job_id = message.job_id;
  EXPECT_EQ(this->schedule_->schedule(other, run_at).code(), StatusCode::kAlreadyExists);
  ASSERT_TRUE(this->schedule_->complete(message.job_id).ok());
  EXPECT_EQ(this->schedule_->get(message.job_id).status().code(), StatusCode::kNotFound);
}

TYPED_TEST_P(JobScheduleConformance, AClaimLeasesUntilItEndsThenItIsClaimedAgain) {
  const auto base = this->now_ms() + std::chrono::hours(24 * 500);
  const JobMessage message = this->message_of();
  ASSERT_TRUE(this->schedule_->schedule(message, base).ok());
  const auto lease = std::chrono::seconds(10);
  EXPECT_EQ(this->claim_ids(*this->schedule_, base, lease), std::vector{message.job_id});
  auto peer = this->harness_.open_peer();
  ASSERT_TRUE(peer);
  EXPECT_TRUE(this->claim_ids(*peer, base + lease - std::chrono::milliseconds(1)).empty())
      << "a leased job was claimed again before its lease ended";
  auto again = peer->claim_due(base + lease, lease, 100);
  ASSERT_TRUE(again.ok()) << again.status().message();
  ASSERT_EQ(again->size(), 1U) << "a job whose claim was never completed must come back";
  EXPECT_EQ(again->front().claims, 2U);
  EXPECT_EQ(again->front().run_at, base) << "a lease does not move when the job was due";
  ASSERT_TRUE(peer->complete(message.job_id).ok());
  EXPECT_TRUE(this->claim_ids(*this->schedule_, base + std::chrono::hours(1)).empty());
}

TYPED_TEST_P(JobScheduleConformance, CancelTakesAWaitingOrLeasedJobOut) {
  const auto base = this->now_ms() + std::chrono::hours(24 * 600);
  const JobMessage waiting = this->message_of();
  const JobMessage leased = this->message_of();
  ASSERT_TRUE(this->schedule_->schedule(waiting, base + std::chrono::hours(1)).ok());
  ASSERT_TRUE(this->schedule_->schedule(leased, base).ok());
  EXPECT_EQ(this->claim_ids(*this->schedule_, base), std::vector{leased.job_id});
  for (const auto* message : {&waiting, &leased}) {
    auto removed = this->schedule_->cancel(message->job_id);
    ASSERT_TRUE(removed.ok()) << removed.status().message();
    EXPECT_TRUE(*removed);
    auto twice = this->schedule_->cancel(message->job_id);
    ASSERT_TRUE(twice.ok());
    EXPECT_FALSE(*twice) << "a job cancelled already is not there";
  }
  EXPECT_TRUE(this->claim_ids(*this->schedule_, base + std::chrono::hours(24)).empty());
  EXPECT_TRUE(this->schedule_->complete(leased.job_id).ok())
      << "completing a job no longer there succeeds";
}

TYPED_TEST_P(JobScheduleConformance, ClaimsComeEarliestDueFirstUpToTheLimit) {
  const auto base = this->now_ms() + std::chrono::hours(24 * 700);
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    const JobMessage message = this->message_of();
    ids.push_back(message.job_id);
    // Scheduled latest first: the order must come from run_at.
    ASSERT_TRUE(this->schedule_->schedule(message, base + std::chrono::seconds(3 - i)).ok());
  }
  const auto due = base + std::chrono::seconds(10);
  EXPECT_EQ(this->claim_ids(*this->schedule_, due, std::chrono::seconds(30), 2),
            (std::vector{ids[2], ids[1]}));
  EXPECT_EQ(this->claim_ids(*this->schedule_, due), std::vector{ids[0]});
  for (const auto& id : ids) ASSERT_TRUE(this->schedule_->complete(id).ok());
}

TYPED_TEST_P(JobScheduleConformance, ListsWaitingJobsEarliestDueFirstPageByPage) {
  const auto base = this->now_ms() + std::chrono::hours(24 * 700);
  std::vector<std::string> by_due;  // every job, earliest due first
  std::vector<std::string> others;  // the "other" type's, earliest due first
  std::vector<JobMessage> messages;
  for (int i = 0; i < 5; ++i) messages.push_back(this->message_of(i % 2 == 0 ? "echo" : "other"));
  // Two share a due time: the job id breaks the tie.
  const std::vector<std::chrono::seconds> due = {std::chrono::seconds(5), std::chrono::seconds(4),
                                                 std::chrono::seconds(3), std::chrono::seconds(3),
                                                 std::chrono::seconds(1)};
  // Scheduled latest first: the order must come from the due time.
  for (size_t i = 0; i < messages.size(); ++i) {
    ASSERT_TRUE(this->schedule_->schedule(messages[i], base + due[i]).ok());
  }
  const auto tied = std::minmax(messages[2].job_id, messages[3].job_id);
  by_due = {messages[4].job_id, tied.first, tied.second, messages[1].job_id, messages[0].job_id};
  for (const auto& id : by_due) {
    const auto it = std::find_if(messages.begin(), messages.end(),
                                 [&](const JobMessage& m) { return m.job_id == id; });
    if (it->job_type == "other") others.push_back(id);
  }
  const JobMessage cancelled = this->message_of("other");
  ASSERT_TRUE(this->schedule_->schedule(cancelled, base + std::chrono::seconds(2)).ok());
  ASSERT_TRUE(this->schedule_->cancel(cancelled.job_id).ok());

  const auto list_all = [&](std::string_view job_type, size_t limit) {
    std::vector<std::string> ids;
    std::string cursor;
    for (int pages = 0; pages < 20; ++pages) {
      auto page = this->schedule_->list(job_type, cursor, limit);
      EXPECT_TRUE(page.ok()) << page.status().message();
      if (!page.ok()) break;
      EXPECT_LE(page->jobs.size(), limit);
      for (const auto& job : page->jobs) {
        ids.push_back(job.message.job_id);
        if (!job_type.empty()) {
          EXPECT_EQ(job.message.job_type, job_type);
        }
      }
      if (page->next_cursor.empty()) break;
      cursor = page->next_cursor;
    }
    return ids;
  };
  EXPECT_EQ(list_all("", 100), by_due);
  EXPECT_EQ(list_all("", 2), by_due) << "paged by 2";
  EXPECT_EQ(list_all("", 1), by_due) << "paged by 1, across the tie";
  EXPECT_EQ(list_all("other", 1), others);
  EXPECT_TRUE(list_all("nobody", 10).empty());

  auto first = this->schedule_->list("", "", 2);
  ASSERT_TRUE(first.ok()) << first.status().message();
  ASSERT_EQ(first->jobs.size(), 2u);
  EXPECT_EQ(first->jobs[0].run_at, base + std::chrono::seconds(1));
  EXPECT_FALSE(first->next_cursor.empty());
  for (const auto& message : messages) ASSERT_TRUE(this->schedule_->complete(message.job_id).ok());
  auto empty = this->schedule_->list("", "", 10);
  ASSERT_TRUE(empty.ok()) << empty.status().message();
  EXPECT_TRUE(empty->jobs.empty());
  EXPECT_TRUE(empty->next_cursor.empty());
}

TYPED_TEST_P(JobScheduleConformance, AMalformedListCursorIsRefused) {
  for (const std::string_view cursor : {"garbage", "12:", ":abc", "x1:abc", "1e3:abc"}) {
    EXPECT_EQ(this->schedule_->list("", cursor, 10).status().code(), StatusCode::kInvalidArgument)
        << cursor;
  }
}

TYPED_TEST_P(JobScheduleConformance, RacingClaimersTakeEachJobOnce) {
  const auto base = this->now_ms() + std::chrono::hours(24 * 800);
  constexpr int kJobs = 60;
  std::set<std::string> scheduled;
  for (int i = 0; i < kJobs; ++i) {
    const JobMessage message = this->message_of();
    scheduled.insert(message.job_id);
    ASSERT_TRUE(this->schedule_->schedule(message, base + std::chrono::milliseconds(i)).ok());
  }
  std::vector<std::shared_ptr<JobSchedule>> claimers{this->schedule_, this->harness_.open_peer()};
  ASSERT_TRUE(claimers[1]);
  std::vector<std::vector<std::string>> taken(4);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < taken.size(); ++t) {
    threads.emplace_back([&, t] {
      JobSchedule& schedule = *claimers[t % claimers.size()];
      for (int round = 0; round < 40; ++round) {
        auto claimed =
            schedule.claim_due(base + std::chrono::seconds(1), std::chrono::minutes(5), 3);
        if (!claimed.ok()) continue;
        for (const auto& job : *claimed) taken[t].push_back(job.message.job_id);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::multiset<std::string> all;
  for (const auto& ids : taken) all.insert(ids.begin(), ids.end());
  EXPECT_EQ(all.size(), scheduled.size()) << "a job was claimed twice, or one was missed";
  EXPECT_EQ(std::set<std::string>(all.begin(), all.end()), scheduled);
  for (const auto& id : scheduled) ASSERT_TRUE(this->schedule_->complete(id).ok());
}

TYPED_TEST_P(JobScheduleConformance, AScheduledJobSurvivesARestart) {
  if constexpr (!TypeParam::kDurable) {
    GTEST_SKIP() << "this schedule keeps nothing past its own life";
  } else {
    const auto run_at = this->now_ms() + std::chrono::hours(24 * 300);
    const JobMessage message = this->message_of();
    ASSERT_TRUE(this->schedule_->schedule(message, run_at).ok());
    this->schedule_.reset();
    auto reopened = this->harness_.reopen();
    ASSERT_TRUE(reopened);
    auto kept = reopened->get(message.job_id);
    ASSERT_TRUE(kept.ok()) << kept.status().message();
    EXPECT_EQ(kept->run_at, run_at);
    EXPECT_EQ(this->claim_ids(*reopened, run_at), std::vector{message.job_id});
    ASSERT_TRUE(reopened->complete(message.job_id).ok());
  }
}

// The scheduler over this schedule: two racing schedulers (two `dtq api`
// replicas) move every due job to the queue once, with its queued status;
// a cancelled one never moves, a later one waits.
TYPED_TEST_P(JobScheduleConformance, RacingSchedulersMoveEachDueJobOnce) {
  fakes::MemoryJobQueue queue;
  fakes::MemoryStatusStore statuses;
  const auto now = this->now_ms() + std::chrono::hours(24 * 900);
  std::set<std::string> due;
  for (int i = 0; i < 20; ++i) {
    const JobMessage message = this->message_of();
    due.insert(message.job_id);
    ASSERT_TRUE(statuses
                    .update(JobStatus{.job_id = message.job_id,
                                      .state = JobState::kScheduled,
                                      .updated_at = message.submitted_at,
                                      .message = "scheduled"})
                    .ok());
    ASSERT_TRUE(this->schedule_->schedule(message, now - std::chrono::milliseconds(i)).ok());
  }
  const JobMessage later = this->message_of();
  ASSERT_TRUE(this->schedule_->schedule(later, now + std::chrono::minutes(1)).ok());
  auto peer = this->harness_.open_peer();
  ASSERT_TRUE(peer);
  JobScheduler first(*this->schedule_, queue, statuses, {.batch = 4});
  JobScheduler second(*peer, queue, statuses, {.batch = 4});
  std::atomic<size_t> moved{0};
  std::thread racer([&] {
    for (int i = 0; i < 10; ++i) {
      if (auto n = second.run_once(now); n.ok()) moved += *n;
    }
  });
  for (int i = 0; i < 10; ++i) {
    if (auto n = first.run_once(now); n.ok()) moved += *n;
  }
  racer.join();
  EXPECT_EQ(moved.load(), due.size());
  auto enqueued = queue.take("echo", 1000, std::chrono::milliseconds(0));
  ASSERT_TRUE(enqueued.ok());
  std::multiset<std::string> on_queue;
  for (const auto& delivery : *enqueued) on_queue.insert(delivery.message.job_id);
  EXPECT_EQ(on_queue.size(), due.size()) << "a due job was enqueued twice, or not at all";
  EXPECT_EQ(std::set<std::string>(on_queue.begin(), on_queue.end()), due);
  for (const auto& id : due) {
    auto status = statuses.get(id);
    ASSERT_TRUE(status.ok());
    EXPECT_EQ(status->state, JobState::kQueued) << id;
    EXPECT_EQ(this->schedule_->get(id).status().code(), StatusCode::kNotFound)
        << "a moved job stays in the schedule";
  }
  EXPECT_TRUE(this->schedule_->get(later.job_id).ok()) << "a job not due yet moved";
  ASSERT_TRUE(this->schedule_->complete(later.job_id).ok());
}

REGISTER_TYPED_TEST_SUITE_P(JobScheduleConformance, NothingIsClaimedBeforeItIsDue,
                            GetAnswersAWaitingJobAndNotFoundOtherwise,
                            AClaimLeasesUntilItEndsThenItIsClaimedAgain,
                            CancelTakesAWaitingOrLeasedJobOut,
                            ClaimsComeEarliestDueFirstUpToTheLimit, RacingClaimersTakeEachJobOnce,
                            AScheduledJobSurvivesARestart, RacingSchedulersMoveEachDueJobOnce,
                            ListsWaitingJobsEarliestDueFirstPageByPage,
                            AMalformedListCursorIsRefused);

}  // namespace dtq::testing
