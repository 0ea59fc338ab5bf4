#include "top_feed.hpp"

#include <pthread.h>
#include <csignal>

#include "../job_client.hpp"
#include "dtq/core/backoff.hpp"
#include "dtq/core/model_json.hpp"
#include "top_wire.hpp"

namespace dtq::cli::top {
namespace {

bool ok(const ApiReply& reply) {
  return reply.code >= 200 && reply.code < 300;
}

std::string why(const ApiReply& reply) {
  if (reply.code == 0) return reply.transport.empty() ? "no answer" : reply.transport;
  return error_text(reply.code, reply.body);
}

// Every page of a listing, up to `most` jobs; nothing when a page fails.
std::optional<std::vector<JobStatus>> list(JobClient& client, const std::string& state,
                                           size_t most) {
  std::vector<JobStatus> jobs;
  std::string cursor;
  while (jobs.size() < most) {
    const size_t limit = std::min<size_t>(500, most - jobs.size());
    const ApiReply reply =
        client.list_jobs({.state = state, .job_type = {}, .limit = limit, .cursor = cursor});
    if (!ok(reply)) return std::nullopt;
    auto page = parse_listing(reply.body);
    if (!page) return std::nullopt;
    jobs.insert(jobs.end(), page->jobs.begin(), page->jobs.end());
    // A page with no cursor is the last.
    if (page->next_cursor.empty() || page->jobs.empty()) break;
    cursor = page->next_cursor;
  }
  return jobs;
}

// The screen's thread takes SIGWINCH (curses' resize), so no feed thread
// may: each blocks it before it starts.
template <class F>
std::thread start_thread(F&& body) {
  sigset_t blocked;
  sigset_t previous;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGWINCH);
  pthread_sigmask(SIG_BLOCK, &blocked, &previous);
  std::thread thread(std::forward<F>(body));
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  return thread;
}

}  // namespace

Feed::Feed(FeedSettings settings, std::function<void()> wake)
    : settings_(std::move(settings)), wake_(std::move(wake)) {
  stream_thread_ = start_thread([this] { run_stream(); });
  poll_thread_ = start_thread([this] { run_poll(); });
  action_thread_ = start_thread([this] { run_actions(); });
}

Feed::~Feed() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  stream_thread_.join();
  poll_thread_.join();
  action_thread_.join();
}

FeedUpdate Feed::take() {
  const std::lock_guard lock(mutex_);
  return std::exchange(pending_, FeedUpdate{});
}

void Feed::post(const std::function<void(FeedUpdate&)>& add) {
  bool was_empty = false;
  {
    const std::lock_guard lock(mutex_);
    was_empty = pending_.empty();
    add(pending_);
  }
  if (was_empty) wake_();
}

// Under mutex_: the connection is up while the server answers and a
// stream attempt is in progress; a change is posted once.
void Feed::report_connection() {
  const bool up = server_reachable_ && stream_open_;
  if (reported_up_ == up && up) return;
  reported_up_ = up;
  const bool was_empty = pending_.empty();
  pending_.connection = Connection{
      .up = up, .why = stream_why_.empty() ? poll_why_ : stream_why_, .attempts = failures_};
  if (was_empty) wake_();
}

void Feed::run_stream() {
  const auto client = make_job_client(settings_.server, settings_.key);
  while (!stopping_) {
    {
      const std::lock_guard lock(mutex_);
      stream_open_ = true;
      report_connection();
    }
    bool live = false;
    const ApiReply reply = client->watch_jobs(
        [&](std::string_view data) {
          auto status = parse_job_status(data);
          if (status.ok()) {
            post([&](FeedUpdate& update) { update.statuses.push_back(std::move(*status)); });
          }
          // The stream is live: a failure after this is a new run of them.
          if (!live) {
            live = true;
            const std::lock_guard lock(mutex_);
            failures_ = 0;
            stream_why_.clear();
            report_connection();
          }
          return !stopping_;
        },
        &stopping_,
        [&] {
          {
            const std::lock_guard lock(mutex_);
            ++watching_epoch_;
          }
          changed_.notify_all();  // the poll thread reads the jobs for this stream
        });
    if (stopping_) break;
    std::chrono::milliseconds delay{0};
    {
      const std::lock_guard lock(mutex_);
      stream_open_ = false;
      ++failures_;
      stream_why_ =
          reply.code == 200 && reply.transport.empty() ? "the server ended the stream" : why(reply);
      report_connection();
      delay =
          backoff_delay(std::chrono::milliseconds(250), std::chrono::milliseconds(5000), failures_);
    }
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, delay, [this] { return stopping_.load(); });
  }
}

void Feed::run_poll() {
  const auto client = make_job_client(settings_.server, settings_.key);
  uint64_t seeded_epoch = 0;
  while (!stopping_) {
    const ApiReply reply = client->job_types();
    auto types = ok(reply) ? parse_job_types(reply.body) : std::nullopt;
    const bool reachable = types.has_value();
    if (types) {
      // Listing dead letters takes an admin key: without one they stay unknown.
      const ApiReply letters = client->dead_letters("", 500);
      if (const auto counts = ok(letters) ? count_dead_letters(letters.body) : std::nullopt) {
        for (auto& type : *types) {
          const auto found = counts->find(type.job_type);
          type.dead_letters = found == counts->end() ? 0 : found->second;
        }
      }
    }
    uint64_t epoch = 0;
    {
      const std::lock_guard lock(mutex_);
      server_reachable_ = reachable;
      poll_why_ = reachable ? std::string() : ok(reply) ? "unreadable job types" : why(reply);
      // Whatever waits is taken at the next wake: a status posted after
      // these job types would not wake the screen if they had not.
      if (types) {
        if (pending_.empty()) wake_();
        pending_.job_types = std::move(types);
      }
      report_connection();
      epoch = watching_epoch_;
    }
    if (reachable && epoch != seeded_epoch) {
      // Once the server follows every job for the stream, so that a change
      // the listing misses is one the stream carries (the model merges
      // both, newest state and progress winning). Read as soon as the
      // stream's attempt began, a job submitted before the server had
      // subscribed was in neither.
      auto running = list(*client, "running", settings_.seed_per_state);
      auto queued = list(*client, "queued", settings_.seed_per_state);
      auto newest = list(*client, "", settings_.seed_newest);
      if (running && queued && newest) {
        seeded_epoch = epoch;
        post([&](FeedUpdate& update) {
          update.listings.push_back(std::move(*newest));
          update.listings.push_back(std::move(*queued));
          update.listings.push_back(std::move(*running));
        });
      }
    }
    // Again after the period, or at once when a new stream is following.
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, settings_.job_types_every,
                      [&] { return stopping_.load() || watching_epoch_ != epoch; });
  }
}

void Feed::run_actions() {
  while (true) {
    std::pair<uint64_t, std::function<Notice()>> action;
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [this] { return stopping_.load() || !actions_.empty(); });
      if (stopping_) return;
      action = std::move(actions_.front());
      actions_.pop_front();
    }
    Notice notice = action.second();
    notice.request = action.first;
    post([&](FeedUpdate& update) { update.notices.push_back(std::move(notice)); });
  }
}

uint64_t Feed::enqueue(std::function<Notice()> action) {
  uint64_t request = 0;
  {
    const std::lock_guard lock(mutex_);
    request = ++next_request_;
    actions_.emplace_back(request, std::move(action));
  }
  changed_.notify_all();
  return request;
}

uint64_t Feed::cancel(const std::string& job_id) {
  return enqueue([this, job_id] {
    const ApiReply reply = make_job_client(settings_.server, settings_.key)->cancel(job_id);
    if (ok(reply)) return Notice{.ok = true, .text = "cancel requested", .job_id = job_id};
    return Notice{.ok = false, .text = "cancel refused: " + why(reply), .job_id = job_id};
  });
}

uint64_t Feed::submit(const std::string& job_type, const std::string& payload_json) {
  return enqueue([this, job_type, payload_json] {
    const ApiReply reply =
        make_job_client(settings_.server, settings_.key)->submit(job_type, payload_json, {});
    if (!ok(reply)) return Notice{.ok = false, .text = "submit refused: " + why(reply)};
    const std::string id = new_job_id(reply.body);
    return Notice{.ok = true, .text = "submitted " + job_type + " job " + id, .job_id = id};
  });
}

uint64_t Feed::replay(const std::string& job_id) {
  return enqueue([this, job_id] {
    const ApiReply reply = make_job_client(settings_.server, settings_.key)->replay(job_id);
    if (!ok(reply)) return Notice{.ok = false, .text = "replay refused: " + why(reply)};
    const std::string id = new_job_id(reply.body);
    return Notice{
        .ok = true, .text = "replayed " + job_id.substr(0, 8) + " as job " + id, .job_id = id};
  });
}

uint64_t Feed::fetch_job(const std::string& job_id) {
  return enqueue([this, job_id] {
    const auto client = make_job_client(settings_.server, settings_.key);
    const ApiReply reply = client->job(job_id);
    if (!ok(reply)) return Notice{.ok = false, .text = why(reply), .job_id = job_id};
    std::vector<std::string> detail = describe_job(reply.body);
    detail.emplace_back("");
    detail.emplace_back("stored history, oldest first:");
    const ApiReply history = client->history(job_id);
    for (auto& line : ok(history) ? describe_history(history.body)
                                  : std::vector<std::string>{"unavailable: " + why(history)}) {
      detail.push_back("  " + std::move(line));
    }
    return Notice{.ok = true, .text = {}, .job_id = job_id, .detail = std::move(detail)};
  });
}

}  // namespace dtq::cli::top
