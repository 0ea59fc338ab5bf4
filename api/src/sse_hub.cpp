#include "sse_hub.hpp"

#include <spdlog/spdlog.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <exception>
#include <string>
#include <vector>

#include "dtq/core/model_json.hpp"

namespace dtq::api {

struct SseHub::Stream {
  Stream(Pistache::Http::ResponseStream response_stream, std::weak_ptr<Pistache::Tcp::Peer> client,
         Pistache::Tcp::Transport* reactor)
      : response(std::move(response_stream)), peer(std::move(client)), transport(reactor) {}

  // Touched only by pump(), which runs on the reactor, one call at a time.
  Pistache::Http::ResponseStream response;
  JobStatus sent;  // what the client has seen
  bool snapshot_sent = false;

  const std::weak_ptr<Pistache::Tcp::Peer> peer;
  Pistache::Tcp::Transport* const transport;
  std::atomic<bool> scheduled{false};  // a pump() is armed or running
  std::atomic<bool> heartbeat_due{false};
  std::atomic<bool> finished{false};
  std::chrono::steady_clock::time_point next_heartbeat;  // hub thread only

  std::mutex mutex;
  std::deque<JobStatus> queued;  // guarded by mutex

  std::unique_ptr<StatusSubscription> subscription;  // dropped before the stream
};

namespace {

// How often the hub looks for clients that went away when nothing happens.
constexpr auto kPeerCheck = std::chrono::seconds(1);

void write_event(Pistache::Http::ResponseStream& out, const JobStatus& status) {
  const std::string event = "event: status\ndata: " + to_json(status) + "\n\n";
  out.write(event.data(), static_cast<std::streamsize>(event.size()));
}

}  // namespace

SseHub::SseHub(StatusStore& statuses, size_t max_streams, std::chrono::seconds heartbeat)
    : statuses_(statuses), max_streams_(max_streams), heartbeat_(heartbeat), thread_([this] { run(); }) {}

SseHub::~SseHub() { stop(); }

bool SseHub::reserve() {
  size_t now = reserved_.load();
  do {
    if (now >= max_streams_) return false;
  } while (!reserved_.compare_exchange_weak(now, now + 1));
  return true;
}

void SseHub::release() { reserved_.fetch_sub(1); }

void SseHub::open(Pistache::Http::ResponseStream response, std::weak_ptr<Pistache::Tcp::Peer> peer,
                  Pistache::Tcp::Transport* transport, JobStatus snapshot) {
  auto stream = std::make_shared<Stream>(std::move(response), std::move(peer), transport);
  stream->sent = snapshot;
  stream->queued.push_back(std::move(snapshot));
  std::weak_ptr<Stream> weak = stream;
  const std::string job_id = stream->sent.job_id;
  stream->subscription = statuses_.subscribe(job_id, [this, weak](const JobStatus& status) {
    const auto target = weak.lock();
    if (!target) return;
    {
      std::lock_guard lock(target->mutex);
      target->queued.push_back(status);
    }
    {
      std::lock_guard lock(mutex_);
      pending_ = true;
    }
    wake_.notify_one();
  });
  // A change between the snapshot and the subscription is caught by a re-read.
  if (auto now = statuses_.get(job_id); now.ok()) {
    std::lock_guard lock(stream->mutex);
    stream->queued.push_back(std::move(now).value());
  }
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      stream->subscription.reset();
      release();
      return;
    }
    streams_.push_back(std::move(stream));
    pending_ = true;
  }
  wake_.notify_one();
}

void SseHub::schedule(const std::shared_ptr<Stream>& stream) {
  stream->scheduled.store(true);
  const int timer = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (timer < 0) {
    spdlog::error("SSE: cannot create a timer ({}); closing the stream of job {}", std::strerror(errno),
                  stream->sent.job_id);
    stream->finished.store(true);
    return;
  }
  Pistache::Async::Promise<uint64_t> armed([&](Pistache::Async::Deferred<uint64_t> deferred) {
    stream->transport->armTimer(timer, std::chrono::milliseconds(1), std::move(deferred));
  });
  armed.then(
      [this, stream, timer](uint64_t) {
        ::close(timer);
        if (!pump(*stream)) stream->finished.store(true);
        stream->scheduled.store(false);
        {
          std::lock_guard lock(mutex_);
          pending_ = true;
        }
        wake_.notify_one();
      },
      [stream, timer](std::exception_ptr) {
        ::close(timer);
        stream->finished.store(true);
        stream->scheduled.store(false);
      });
}

bool SseHub::pump(Stream& stream) {
  if (stream.peer.expired()) return false;
  std::deque<JobStatus> batch;
  {
    std::lock_guard lock(stream.mutex);
    batch.swap(stream.queued);
  }
  try {
    bool wrote = false;
    for (const auto& status : batch) {
      if (!stream.snapshot_sent) {
        stream.snapshot_sent = true;
      } else if (!merge_status(stream.sent, status)) {
        continue;  // nothing the client has not seen
      }
      write_event(stream.response, stream.sent);
      wrote = true;
      if (is_terminal(stream.sent.state)) {
        stream.response.ends();
        return false;
      }
    }
    if (stream.heartbeat_due.exchange(false)) {
      static constexpr char kHeartbeat[] = ": heartbeat\n\n";
      stream.response.write(kHeartbeat, sizeof kHeartbeat - 1);
      wrote = true;
    }
    if (wrote) stream.response.flush();
  } catch (const std::exception& e) {
    // Pistache throws when the peer is gone between the check and the write.
    spdlog::debug("SSE stream for job {} closed: {}", stream.sent.job_id, e.what());
    return false;
  }
  return true;
}

void SseHub::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, kPeerCheck, [this] { return stopping_ || pending_; });
    if (stopping_) break;
    pending_ = false;
    std::vector<std::shared_ptr<Stream>> streams(streams_.begin(), streams_.end());
    lock.unlock();
    const auto now = std::chrono::steady_clock::now();
    std::vector<std::shared_ptr<Stream>> finished;
    for (const auto& stream : streams) {
      if (stream->scheduled.load()) continue;
      if (stream->finished.load() || stream->peer.expired()) {
        finished.push_back(stream);
        continue;
      }
      bool queued = false;
      {
        std::lock_guard stream_lock(stream->mutex);
        queued = !stream->queued.empty();
      }
      if (stream->next_heartbeat == std::chrono::steady_clock::time_point{}) stream->next_heartbeat = now + heartbeat_;
      if (now >= stream->next_heartbeat) stream->heartbeat_due.store(true);
      if (queued || stream->heartbeat_due.load()) {
        stream->next_heartbeat = now + heartbeat_;
        schedule(stream);
      }
    }
    // Unsubscribing waits for a running callback, so it happens unlocked.
    for (const auto& stream : finished) {
      stream->subscription.reset();
      release();
    }
    lock.lock();
    for (const auto& stream : finished) streams_.remove(stream);
  }
  // The endpoint's shutdown closes the connections that are still open.
  std::list<std::shared_ptr<Stream>> remaining;
  remaining.swap(streams_);
  lock.unlock();
  for (const auto& stream : remaining) {
    stream->subscription.reset();
    release();
  }
}

void SseHub::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

}  // namespace dtq::api
