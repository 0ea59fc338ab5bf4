// StatusEvents: live status changes from Redis pub/sub, delivered to
// StatusStore::subscribe callbacks.
//
// Channels: every visible change of job <id> is published (by the merge
// script) on `job:<id>:status`. A subscription to one job SUBSCRIBEs its
// channel (shared by the subscriptions to the same job); a subscription to
// every job PSUBSCRIBEs `job:*:status`. subscribe() returns once Redis has
// confirmed the channel (or after command_timeout, logged), so an update made
// after it returns is seen.
//
// One thread owns the pub/sub connection: it polls the socket and an
// eventfd (woken when subscriptions change), calls back, pings the server
// when idle, and on a lost connection reconnects with backoff, subscribes
// again and re-reads the status of every job-specific subscription,
// delivering it if it changed while the connection was down. Events to
// every-job subscriptions during an outage are lost (there is no history to
// replay); the next change of each job arrives as usual.
//
// Callbacks run on that thread, one at a time per subscription; a
// subscription's destructor waits for its running callback, and none runs
// after it returns.
//
// Thread-safety: every member function is thread-safe. Owned through a
// shared_ptr by the store and by each subscription, so a subscription may
// outlive the store (it then never fires).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "connection.hpp"
#include "dtq/core/model.hpp"
#include "dtq/core/ports/status_store.hpp"
#include "dtq/core/thread_annotations.hpp"

namespace dtq::redis {

std::string status_channel(std::string_view job_id);
inline constexpr std::string_view kEveryStatusPattern = "job:*:status";

class StatusEvents : public std::enable_shared_from_this<StatusEvents> {
 public:
  // `fetch` reads a job's current status (NotFound when unknown), for the
  // catch-up after a reconnection.
  using Fetch = std::function<StatusOr<JobStatus>(const std::string& job_id)>;
  StatusEvents(RedisSettings settings, Fetch fetch);
  ~StatusEvents();
  StatusEvents(const StatusEvents&) = delete;
  StatusEvents& operator=(const StatusEvents&) = delete;

  // Starts the thread on first use.
  std::unique_ptr<StatusSubscription> subscribe(std::string job_id,
                                                std::function<void(const JobStatus&)> on_change);
  // Stops the thread; later subscriptions never fire. Idempotent.
  void stop();

 private:
  struct Subscriber {
    std::string job_id;  // empty: every job
    std::function<void(const JobStatus&)> on_change;
    Mutex calling;  // held while on_change runs
    bool active DTQ_GUARDED_BY(calling) = true;
  };
  class Subscription;
  struct KeepAlive;

  void remove(const std::shared_ptr<Subscriber>& subscriber);
  void wake() const;
  bool stopping();
  void run();
  // Thread: marks the last connection attempt failed or not, for
  // wait_confirmed().
  void set_down(bool down);
  // Thread: sleeps out the backoff after `failures` failed sessions; false
  // when stopped meanwhile.
  bool sleep_before_reconnecting(uint32_t failures);
  void drain_wake_fd() const;
  // Thread: one connected session; returns when the connection is lost or
  // on stop.
  void serve(Connection& connection, bool resync);
  // Thread: every SUBSCRIBE sent has been confirmed.
  bool channels_settled();
  // Thread: waits for the socket, a wake-up or the keep-alive's next
  // deadline, then handles every reply read.
  Status wait_and_read(Connection& connection, KeepAlive& alive);
  // Thread: PINGs an idle connection; DeadlineExceeded when a PONG is late.
  Status keep_alive(Connection& connection, KeepAlive& alive);
  // Thread: sends the (un)subscriptions that the wanted set differs by.
  Status sync_channels(Connection& connection);
  void handle(const Reply& reply);
  void deliver(const std::string& job_id, const JobStatus& status, bool every_job);
  void catch_up();
  bool wait_confirmed(const std::string& channel);

  const RedisSettings settings_;
  const Fetch fetch_;
  int wake_fd_ = -1;

  Mutex mutex_;
  CondVar confirmed_changed_;
  bool stopping_ DTQ_GUARDED_BY(mutex_) = false;
  bool started_ DTQ_GUARDED_BY(mutex_) = false;
  bool down_ DTQ_GUARDED_BY(mutex_) = false;  // the last connection attempt failed
  std::thread thread_;
  // What the subscriptions want: channel -> number of subscriptions, and the
  // number of every-job subscriptions.
  std::map<std::string, int> wanted_ DTQ_GUARDED_BY(mutex_);
  int every_job_ DTQ_GUARDED_BY(mutex_) = 0;
  std::unordered_multimap<std::string, std::shared_ptr<Subscriber>> by_job_ DTQ_GUARDED_BY(mutex_);
  std::vector<std::shared_ptr<Subscriber>> every_ DTQ_GUARDED_BY(mutex_);
  // The connection's state (thread writes, subscribers read): channels sent,
  // SUBSCRIBE replies still due, channels confirmed. The pattern is the
  // entry kEveryStatusPattern.
  std::set<std::string> sent_ DTQ_GUARDED_BY(mutex_);
  std::map<std::string, int> pending_ DTQ_GUARDED_BY(mutex_);
  std::set<std::string> confirmed_ DTQ_GUARDED_BY(mutex_);
  // Thread only: the last status delivered per subscribed job (catch-up
  // compares against it).
  std::unordered_map<std::string, JobStatus> last_delivered_;
};

}  // namespace dtq::redis
