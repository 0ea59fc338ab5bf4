// StatusStore port: the current status of every job, live change events, and
// cancellation requests. Implementations: embedded (SQLite + in-process
// events) and Redis (hash job:<id>:status with a 24 h TTL + pub/sub).
//
// Contract: update() folds the change in with merge_status() — progress never
// goes down, a terminal status is final — atomically with respect to other
// updates of the same job, and notifies subscribers when something visible
// changed.
//
// Thread-safety: every member function is thread-safe. Subscriber callbacks
// run on a store thread, one at a time per subscription; they must be quick
// and must not call back into subscribe() or unsubscribe.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dtq/core/model.hpp"
#include "dtq/core/status.hpp"

namespace dtq {

// Unsubscribes when destroyed; no callback runs after the destructor returns.
class StatusSubscription {
 public:
  virtual ~StatusSubscription() = default;
};

// Which statuses list() returns: newest submitted first, filtered,
// `limit` per page; `cursor` is the previous page's next_cursor.
struct StatusListQuery {
  std::optional<JobState> state;
  std::string job_type;  // empty: every type
  size_t limit = 50;
  std::string cursor;  // empty: the first page
};

struct StatusPage {
  std::vector<JobStatus> statuses;
  std::string next_cursor;  // empty on the last page
};

class StatusStore {
 public:
  virtual ~StatusStore() = default;

  // Returns the status as stored after the merge. A store may write it
  // behind: a process killed right after may lose it.
  virtual StatusOr<JobStatus> update(const JobStatus& update) = 0;
  // update() of several jobs: one answer per update, in order, a refused
  // one failing alone. A store that talks to a server overrides it to send
  // them together (a batch submit's queued statuses); by default they are
  // applied one after another.
  virtual std::vector<StatusOr<JobStatus>> update_batch(std::span<const JobStatus> updates) {
    std::vector<StatusOr<JobStatus>> stored;
    stored.reserve(updates.size());
    for (const auto& one : updates) stored.push_back(this->update(one));
    return stored;
  }
  // update(), returning only once the merged status is as durable as the
  // store makes anything: it survives this process being killed. The engine
  // records each attempt's number this way before the plugin runs, so an
  // attempt the process does not survive still counts.
  virtual StatusOr<JobStatus> update_durable(const JobStatus& update) = 0;
  // update_durable() of several jobs: one answer per update, in order. A
  // store that can make them durable together (one commit) overrides it,
  // since the engine records a batch of attempts at once; by default they
  // are made durable one after another.
  virtual std::vector<StatusOr<JobStatus>> update_durable_batch(
      std::span<const JobStatus> updates) {
    std::vector<StatusOr<JobStatus>> stored;
    stored.reserve(updates.size());
    for (const auto& update : updates) stored.push_back(update_durable(update));
    return stored;
  }
  virtual StatusOr<JobStatus> get(std::string_view job_id) = 0;  // NotFound if unknown
  // get() of several jobs: one answer per id, in order, an unknown or
  // refused one failing alone. A store that talks to a server overrides it
  // to read them in one round trip (the progress responder answers the
  // requests it holds together); by default they are read one after another.
  virtual std::vector<StatusOr<JobStatus>> get_batch(std::span<const std::string> job_ids) {
    std::vector<StatusOr<JobStatus>> found;
    found.reserve(job_ids.size());
    for (const auto& job_id : job_ids) found.push_back(get(job_id));
    return found;
  }

  // Every visible change to `job_id` (to every job when empty).
  virtual std::unique_ptr<StatusSubscription> subscribe(
      std::string job_id, std::function<void(const JobStatus&)> on_change) = 0;

  // Cancellation reaches whichever worker holds the job through these.
  virtual Status request_cancel(std::string_view job_id) = 0;
  virtual bool cancel_requested(std::string_view job_id) = 0;

  // A page of statuses. InvalidArgument for a cursor this store did not
  // make. A backend that cannot list answers Unavailable, so adding listing
  // left the other adapters untouched.
  virtual StatusOr<StatusPage> list(const StatusListQuery& query) {
    (void)query;
    return unavailable("this status store cannot list jobs");
  }
};

}  // namespace dtq
