// Feed: `dtq top`'s connection to a dtq API server, over REST or, for a
// grpc://HOST:PORT server, the gRPC JobService (../job_client.hpp). One
// thread follows the stream of every job (GET /v1/events; gRPC WatchJobs)
// and reconnects by itself with the
// shared backoff when it breaks; one reads the job types (pools and their
// health are in no stream, so they are read again every `job_types_every`)
// and, each time a stream is following every job (the server says so
// before any change), the jobs that are queued, running and newest (the
// stream has no snapshot); one runs the user's actions (cancel,
// submit, a job's details) so that a slow server never freezes the screen.
// What they learn waits in the feed until the screen's thread take()s it;
// `wake` is called when something is waiting and nothing was before.
//
// Thread-safety: every public member is thread-safe. Ownership: owns its
// threads; the destructor stops them (within about a second) and joins.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "dtq/core/model.hpp"
#include "top_model.hpp"

namespace dtq::cli::top {

struct FeedSettings {
  std::string server;  // base URL, or grpc://HOST:PORT
  std::string key;     // API key; empty: none sent
  std::chrono::milliseconds job_types_every{2000};
  size_t seed_newest = 1000;     // newest jobs read when the stream starts
  size_t seed_per_state = 5000;  // at most this many queued, and running, jobs
};

struct Connection {
  bool up = false;
  std::string why;        // why it is down
  uint32_t attempts = 0;  // failed attempts in a row
};

// The answer to an action; `request` is what the action call returned.
struct Notice {
  uint64_t request = 0;
  bool ok = false;
  std::string text;
  std::string job_id;               // a submit's or a replay's new job, a cancel's job
  std::vector<std::string> detail;  // a job's details, from GET /v1/jobs/{id}
};

// Everything learnt since the last take().
struct FeedUpdate {
  std::vector<JobStatus> statuses;  // from the stream, in order
  std::vector<std::vector<JobStatus>> listings;
  std::optional<std::vector<JobTypeInfo>> job_types;
  std::optional<Connection> connection;
  std::vector<Notice> notices;
  [[nodiscard]] bool empty() const {
    return statuses.empty() && listings.empty() && !job_types && !connection && notices.empty();
  }
};

class Feed {
 public:
  Feed(FeedSettings settings, std::function<void()> wake);
  ~Feed();
  Feed(const Feed&) = delete;
  Feed& operator=(const Feed&) = delete;

  FeedUpdate take();

  // Each returns a request number that its Notice will carry.
  uint64_t cancel(const std::string& job_id);
  uint64_t submit(const std::string& job_type, const std::string& payload_json);
  uint64_t replay(const std::string& job_id);  // a failed job's dead letter
  uint64_t fetch_job(const std::string& job_id);

 private:
  void run_stream();
  void run_poll();
  void run_actions();
  uint64_t enqueue(std::function<Notice()> action);
  void post(const std::function<void(FeedUpdate&)>& add);
  void report_connection();

  const FeedSettings settings_;
  const std::function<void()> wake_;
  std::atomic<bool> stopping_{false};

  std::mutex mutex_;
  std::condition_variable changed_;  // for the poll and action threads
  FeedUpdate pending_;
  // Bumped each time a stream is following every job: the poll thread then
  // reads the listings, which the stream (no snapshot) cannot give.
  uint64_t watching_epoch_ = 0;
  bool stream_open_ = false;  // an attempt is in progress
  bool server_reachable_ = false;
  std::string stream_why_;
  std::string poll_why_;
  uint32_t failures_ = 0;
  std::optional<bool> reported_up_;
  std::deque<std::pair<uint64_t, std::function<Notice()>>> actions_;
  uint64_t next_request_ = 0;

  std::thread stream_thread_;
  std::thread poll_thread_;
  std::thread action_thread_;
};

}  // namespace dtq::cli::top
