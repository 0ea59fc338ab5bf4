// How a client following one job is fed, shared by the REST face (an SSE
// stream of /v1/jobs/{id}/events) and the gRPC face (WatchJob) so that both
// send the same things:
//  - follow_job() subscribes: the snapshot first, then every change, with a
//    re-read once subscribed so a change between the snapshot and the
//    subscription is never lost;
//  - JobFeed decides what of that reaches the client: the snapshot as it
//    is, then a status only when merging it into what the client has seen
//    changes something (merge_status: progress never goes down, a terminal
//    state is final), and nothing after a terminal state.
//
// Thread-safety: follow_job() calls `on_status` from the caller's thread
// and the store's; a JobFeed is not thread-safe (each face calls it under
// its own lock or on one thread). Ownership: the subscription unsubscribes
// when dropped; no call comes after that.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <utility>

#include "dtq/core/model.hpp"
#include "dtq/core/ports/status_store.hpp"

namespace dtq::api {

class JobFeed {
 public:
  // What to send the client for `status`: what it has seen merged with
  // `status`; nothing when that shows it nothing new or the feed has ended.
  std::optional<JobStatus> next(const JobStatus& status) {
    if (ended()) return std::nullopt;
    if (!sent_) {
      sent_ = status;
    } else if (!merge_status(*sent_, status)) {
      return std::nullopt;
    }
    return sent_;
  }
  // A terminal status has been sent: the client's stream ends here.
  bool ended() const noexcept { return sent_ && is_terminal(sent_->state); }

 private:
  std::optional<JobStatus> sent_;
};

// Hands `on_status` the `snapshot`, then subscribes it to the job's
// changes, then hands it the status re-read.
inline std::unique_ptr<StatusSubscription> follow_job(
    StatusStore& statuses, JobStatus snapshot, std::function<void(const JobStatus&)> on_status) {
  const std::string job_id = snapshot.job_id;
  on_status(snapshot);
  auto subscription = statuses.subscribe(job_id, on_status);
  if (auto now = statuses.get(job_id); now.ok()) on_status(*now);
  return subscription;
}

}  // namespace dtq::api
