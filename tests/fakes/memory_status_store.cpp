#include "fakes/memory_status_store.hpp"

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace dtq::fakes {

// The store's state, shared with the subscriptions so that one may outlive
// the store.
class MemoryStatusStore::Hub {
 public:
  struct Entry {
    JobStatus status;
    uint64_t submitted = 0;  // order of first appearance: what list() sorts by
  };
  struct Subscriber {
    std::string job_id;  // empty: every job
    std::function<void(const JobStatus&)> on_change;
  };

  std::mutex mutex;
  std::map<std::string, Entry, std::less<>> statuses;
  std::set<std::string, std::less<>> cancels;
  uint64_t submissions = 0;
  Status read_failure;
  std::chrono::milliseconds read_latency{0};

  // Events, in merge order, for the event thread.
  std::deque<JobStatus> events;
  std::map<uint64_t, Subscriber> subscribers;
  uint64_t next_subscriber = 1;
  uint64_t delivering = 0;  // the subscriber whose callback runs now
  bool stopping = false;
  std::condition_variable wake;       // an event, or stopping
  std::condition_variable delivered;  // a callback returned
  std::thread::id event_thread;

  // mutex held.
  void publish(const JobStatus& status) {
    events.push_back(status);
    wake.notify_one();
  }

  void deliver_events() {
    std::unique_lock lock(mutex);
    while (true) {
      wake.wait(lock, [&] { return stopping || !events.empty(); });
      if (stopping) return;
      const JobStatus event = std::move(events.front());
      events.pop_front();
      std::vector<uint64_t> targets;
      for (const auto& [id, subscriber] : subscribers) {
        if (subscriber.job_id.empty() || subscriber.job_id == event.job_id) targets.push_back(id);
      }
      for (const uint64_t id : targets) {
        const auto it = subscribers.find(id);
        if (it == subscribers.end()) continue;  // unsubscribed meanwhile
        const auto on_change = it->second.on_change;
        delivering = id;
        lock.unlock();
        on_change(event);
        lock.lock();
        delivering = 0;
        delivered.notify_all();
      }
    }
  }

  void unsubscribe(uint64_t id) {
    std::unique_lock lock(mutex);
    subscribers.erase(id);
    // From its own callback it cannot wait for itself.
    if (std::this_thread::get_id() == event_thread) return;
    delivered.wait(lock, [&] { return delivering != id; });
  }
};

namespace {

// Runs `unsubscribe` when destroyed.
class MemorySubscription final : public StatusSubscription {
 public:
  explicit MemorySubscription(std::function<void()> unsubscribe)
      : unsubscribe_(std::move(unsubscribe)) {}
  ~MemorySubscription() override { unsubscribe_(); }
  MemorySubscription(const MemorySubscription&) = delete;
  MemorySubscription& operator=(const MemorySubscription&) = delete;

 private:
  std::function<void()> unsubscribe_;
};

StatusOr<uint64_t> parse_cursor(const std::string& cursor) {
  uint64_t below = 0;
  const char* end = cursor.data() + cursor.size();
  const auto [at, error] = std::from_chars(cursor.data(), end, below);
  if (error != std::errc() || at != end || below == 0) {
    return invalid_argument("malformed cursor \"" + cursor + "\"");
  }
  return below;
}

}  // namespace

MemoryStatusStore::MemoryStatusStore() : hub_(std::make_shared<Hub>()) {
  std::lock_guard lock(hub_->mutex);
  events_ = std::thread([hub = hub_] { hub->deliver_events(); });
  hub_->event_thread = events_.get_id();
}

MemoryStatusStore::~MemoryStatusStore() {
  {
    std::lock_guard lock(hub_->mutex);
    hub_->stopping = true;
  }
  hub_->wake.notify_all();
  // Destroyed from a callback: the event thread ends by itself once it
  // returns, and keeps the hub alive until then.
  if (events_.get_id() == std::this_thread::get_id()) {
    events_.detach();
  } else {
    events_.join();
  }
}

StatusOr<JobStatus> MemoryStatusStore::update(const JobStatus& update) {
  if (update.job_id.empty()) return invalid_argument("status update without a job id");
  std::lock_guard lock(hub_->mutex);
  auto it = hub_->statuses.find(update.job_id);
  const bool created = it == hub_->statuses.end();
  if (created) {
    it = hub_->statuses
             .emplace(update.job_id, Hub::Entry{.status = JobStatus{.job_id = update.job_id},
                                                .submitted = ++hub_->submissions})
             .first;
  }
  if (merge_status(it->second.status, update) || created) hub_->publish(it->second.status);
  return it->second.status;
}

StatusOr<JobStatus> MemoryStatusStore::update_durable(const JobStatus& update) {
  return this->update(update);
}

StatusOr<JobStatus> MemoryStatusStore::get(std::string_view job_id) {
  std::chrono::milliseconds latency;
  {
    std::lock_guard lock(hub_->mutex);
    latency = hub_->read_latency;
  }
  // The point of a latency: the caller waits as it would for a remote store.
  if (latency.count() > 0) std::this_thread::sleep_for(latency);
  std::lock_guard lock(hub_->mutex);
  if (!hub_->read_failure.ok()) return hub_->read_failure;
  const auto it = hub_->statuses.find(job_id);
  if (it == hub_->statuses.end()) return not_found("no status for job " + std::string(job_id));
  return it->second.status;
}

std::unique_ptr<StatusSubscription> MemoryStatusStore::subscribe(
    std::string job_id, std::function<void(const JobStatus&)> on_change) {
  std::lock_guard lock(hub_->mutex);
  const uint64_t id = hub_->next_subscriber++;
  hub_->subscribers.emplace(id, Hub::Subscriber{std::move(job_id), std::move(on_change)});
  return std::make_unique<MemorySubscription>([hub = std::weak_ptr<Hub>(hub_), id] {
    if (auto alive = hub.lock()) alive->unsubscribe(id);
  });
}

Status MemoryStatusStore::request_cancel(std::string_view job_id) {
  if (job_id.empty()) return invalid_argument("cancel request without a job id");
  std::lock_guard lock(hub_->mutex);
  hub_->cancels.emplace(job_id);
  return {};
}

bool MemoryStatusStore::cancel_requested(std::string_view job_id) {
  std::lock_guard lock(hub_->mutex);
  return hub_->cancels.contains(job_id);
}

StatusOr<StatusPage> MemoryStatusStore::list(const StatusListQuery& query) {
  uint64_t below = UINT64_MAX;
  if (!query.cursor.empty()) {
    auto parsed = parse_cursor(query.cursor);
    if (!parsed.ok()) return parsed.status();
    below = *parsed;
  }
  std::lock_guard lock(hub_->mutex);
  std::vector<const Hub::Entry*> matching;
  for (const auto& [id, entry] : hub_->statuses) {
    if (entry.submitted >= below) continue;
    if (query.state && entry.status.state != *query.state) continue;
    if (!query.job_type.empty() && entry.status.job_type != query.job_type) continue;
    matching.push_back(&entry);
  }
  std::sort(matching.begin(), matching.end(),
            [](const Hub::Entry* a, const Hub::Entry* b) { return a->submitted > b->submitted; });
  StatusPage page;
  for (size_t i = 0; i < matching.size() && i < query.limit; ++i) {
    page.statuses.push_back(matching[i]->status);
  }
  if (matching.size() > query.limit && query.limit > 0) {
    page.next_cursor = std::to_string(matching[query.limit - 1]->submitted);
  }
  return page;
}

void MemoryStatusStore::fail_reads_with(Status failure) {
  std::lock_guard lock(hub_->mutex);
  hub_->read_failure = std::move(failure);
}

void MemoryStatusStore::set_read_latency(std::chrono::milliseconds latency) {
  std::lock_guard lock(hub_->mutex);
  hub_->read_latency = latency;
}

}  // namespace dtq::fakes
