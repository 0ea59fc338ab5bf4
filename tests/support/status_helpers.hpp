// Helpers of the tests that drive a StatusStore: an update that must
// succeed, waiting for a job to end, submitting from several threads, and
// for list(): submitting jobs, reading pages and walking
// cursors. On a server shared by many tests, each test gives its jobs a job
// type of its own and looks at the unfiltered listing only through only(),
// so that nobody else's jobs change what it sees.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "dtq/core/ids.hpp"
#include "dtq/core/ports/status_store.hpp"
#include "dtq/core/time.hpp"
#include "support/eventually.hpp"

namespace dtq::testing {

inline JobStatus update_ok(StatusStore& store, const JobStatus& update) {
  auto stored = store.update(update);
  EXPECT_TRUE(stored.ok()) << stored.status().message();
  return stored.ok() ? *stored : JobStatus{};
}

// The job's status once it is terminal. Fails the test, and returns the
// last status seen, when it is not within `limit`.
inline JobStatus wait_terminal(StatusStore& store, const std::string& job_id,
                               std::chrono::milliseconds limit) {
  JobStatus last;
  const bool ended = eventually(
      [&] {
        auto status = store.get(job_id);
        if (status.ok()) last = *status;
        return status.ok() && is_terminal(status->state);
      },
      limit);
  EXPECT_TRUE(ended) << "job " << job_id << " still " << to_string(last.state) << " after "
                     << limit.count() << " ms";
  return last;
}

// A job type no other test uses.
inline std::string unique_job_type() {
  return "list-" + new_uuid4();
}

// A new job of `job_type`, queued (as at submission) and then moved to
// `state`; returns its id.
inline std::string submit(StatusStore& store, const std::string& job_type,
                          JobState state = JobState::kQueued) {
  const std::string id = new_uuid4();
  JobStatus status{.job_id = id,
                   .state = JobState::kQueued,
                   .updated_at = now_rfc3339(),
                   .message = "queued",
                   .job_type = job_type};
  EXPECT_TRUE(store.update(status).ok());
  if (state != JobState::kQueued) {
    status.state = state;
    status.message = std::string(to_string(state));
    EXPECT_TRUE(store.update(status).ok());
  }
  return id;
}

inline StatusPage list_ok(StatusStore& store, const StatusListQuery& query) {
  auto page = store.list(query);
  EXPECT_TRUE(page.ok()) << page.status().message();
  return page.ok() ? std::move(*page) : StatusPage{};
}

inline std::vector<std::string> ids(const StatusPage& page) {
  std::vector<std::string> out;
  for (const auto& status : page.statuses) out.push_back(status.job_id);
  return out;
}

// Every page of `query` from its cursor on, concatenated; fails on a page
// that repeats itself.
inline std::vector<std::string> walk(StatusStore& store, StatusListQuery query,
                                     size_t max_pages = 10'000) {
  std::vector<std::string> out;
  for (size_t pages = 0; pages < max_pages; ++pages) {
    const StatusPage page = list_ok(store, query);
    for (const auto& status : page.statuses) out.push_back(status.job_id);
    if (page.next_cursor.empty()) return out;
    EXPECT_NE(page.next_cursor, query.cursor);
    if (page.next_cursor == query.cursor) return out;
    query.cursor = page.next_cursor;
  }
  ADD_FAILURE() << "more than " << max_pages << " pages";
  return out;
}

// What the pages after `page` of `query` hold.
inline std::vector<std::string> after(StatusStore& store, StatusListQuery query,
                                      const StatusPage& page) {
  if (page.next_cursor.empty()) return {};
  query.cursor = page.next_cursor;
  return walk(store, query);
}

// `all` restricted to the ids in `mine`, in the order of `all`.
inline std::vector<std::string> only(const std::vector<std::string>& all,
                                     const std::vector<std::string>& mine) {
  std::vector<std::string> out;
  for (const auto& id : all) {
    if (std::find(mine.begin(), mine.end(), id) != mine.end()) out.push_back(id);
  }
  return out;
}

// `per_thread` jobs of `job_type` submitted by each of `threads` threads at
// once, the even ones through `first`, the odd ones through `second`; the ids
// per thread, in submission order.
inline std::vector<std::vector<std::string>> submit_concurrently(StatusStore& first,
                                                                 StatusStore& second,
                                                                 const std::string& job_type,
                                                                 int threads, int per_thread) {
  std::vector<std::vector<std::string>> submitted(static_cast<size_t>(threads));
  std::vector<std::thread> submitters;
  for (int t = 0; t < threads; ++t) {
    submitters.emplace_back([&, t] {
      StatusStore& store = t % 2 == 0 ? first : second;
      for (int i = 0; i < per_thread; ++i) submitted[t].push_back(submit(store, job_type));
    });
  }
  for (auto& submitter : submitters) submitter.join();
  return submitted;
}

inline std::vector<std::string> reversed(std::vector<std::string> ids) {
  std::reverse(ids.begin(), ids.end());
  return ids;
}

}  // namespace dtq::testing
