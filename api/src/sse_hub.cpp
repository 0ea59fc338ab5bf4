#include "sse_hub.hpp"

#include <linux/sockios.h>
#include <pistache/peer.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <deque>
#include <exception>
#include <string>
#include <vector>

#include "dtq/core/model_json.hpp"
#include "http_connection.hpp"
#include "job_feed.hpp"
#include "reactor_task.hpp"

namespace dtq::api {

struct SseHub::Stream {
  Stream(Pistache::Http::ResponseStream response_stream, std::weak_ptr<Pistache::Tcp::Peer> client,
         Pistache::Tcp::Transport* reactor, bool all)
      : response(std::move(response_stream)),
        peer(std::move(client)),
        transport(reactor),
        every_job(all) {}

  // What the logs call the stream.
  std::string name() const { return every_job ? std::string("every job") : "job " + job_id; }

  // Touched only by pump(), which runs on the reactor, one call at a time.
  Pistache::Http::ResponseStream response;
  JobFeed feed;  // what the client is sent (a job's stream only)

  std::string job_id;  // a job's stream only; set before the stream is shared

  const std::weak_ptr<Pistache::Tcp::Peer> peer;
  Pistache::Tcp::Transport* const transport;
  std::atomic<bool> scheduled{false};  // a pump() is armed or running
  std::atomic<bool> heartbeat_due{false};
  std::atomic<bool> finished{false};
  const bool every_job;                                  // GET /v1/events, not one job's stream
  std::chrono::steady_clock::time_point next_heartbeat;  // hub thread only

  Mutex mutex;
  std::deque<JobStatus> queued DTQ_GUARDED_BY(mutex);
  bool overflowed DTQ_GUARDED_BY(mutex) = false;  // the client could not keep up

  std::unique_ptr<StatusSubscription> subscription;  // dropped before the stream
};

namespace {

// How often the hub looks for clients that went away when nothing happens
// (and retries streams whose client was not reading).
constexpr auto kPeerCheck = std::chrono::seconds(1);

// Statuses a stream of every job holds for a client that is not reading;
// past it the client is dropped. A few hundred kilobytes at most.
constexpr size_t kMaxQueued = 1024;

// Bytes the kernel may hold unsent for a stream of every job before the
// client counts as behind. Past it, anything written would pile up in
// Pistache's unbounded write queue, or in a send buffer the kernel grows to
// megabytes, so statuses wait in the hub instead, where they are bounded.
constexpr int kMaxUnsent = 64 << 10;

bool client_behind(int fd) {
  int unsent = 0;
  return ::ioctl(fd, SIOCOUTQNSD, &unsent) == 0 && unsent >= kMaxUnsent;
}

void write_event(Pistache::Http::ResponseStream& out, const JobStatus& status) {
  const std::string event = "event: status\ndata: " + to_json(status) + "\n\n";
  out.write(event.data(), static_cast<std::streamsize>(event.size()));
}

}  // namespace

SseHub::SseHub(StatusStore& statuses, size_t max_streams, std::chrono::seconds heartbeat)
    : statuses_(statuses), heartbeat_(heartbeat), slots_(max_streams), thread_([this] { run(); }) {}

SseHub::~SseHub() {
  stop();
}

SseHub::Opened SseHub::begin(Pistache::Http::ResponseWriter& response,
                             Pistache::Tcp::Transport* transport, bool every_job,
                             std::shared_ptr<Stream>& stream) {
  if (!slots_.claim()) return Opened::kAtLimit;
  std::shared_ptr<Pistache::Tcp::Peer> peer;
  try {
    peer = response.peer();
  } catch (const std::exception&) {
    slots_.release();  // the client is already gone
    return Opened::kClientGone;
  }
  // A request that asked to close gets its whole stream, then the close.
  HardenedHandler::answer_streams(*peer);
  response.setMime(Pistache::Http::Mime::MediaType::fromString("text/event-stream"));
  response.headers().add<Pistache::Http::Header::CacheControl>(
      Pistache::Http::CacheDirective::NoCache);
  stream = std::make_shared<Stream>(response.stream(Pistache::Http::Code::Ok), std::move(peer),
                                    transport, every_job);
  return Opened::kOpened;
}

SseHub::Opened SseHub::open(Pistache::Http::ResponseWriter& response,
                            Pistache::Tcp::Transport* transport, JobStatus snapshot) {
  std::shared_ptr<Stream> stream;
  if (const Opened began = begin(response, transport, false, stream); began != Opened::kOpened)
    return began;
  stream->job_id = snapshot.job_id;
  std::weak_ptr<Stream> weak = stream;
  stream->subscription =
      follow_job(statuses_, std::move(snapshot),
                 [this, weak](const JobStatus& status) { deliver(weak, status); });
  add(std::move(stream));
  return Opened::kOpened;
}

SseHub::Opened SseHub::open_all(Pistache::Http::ResponseWriter& response,
                                Pistache::Tcp::Transport* transport, Filter filter) {
  std::shared_ptr<Stream> stream;
  if (const Opened began = begin(response, transport, true, stream); began != Opened::kOpened)
    return began;
  // With no snapshot to send, a first heartbeat sends the headers, so the
  // client knows the stream is open before any job changes.
  stream->heartbeat_due.store(true);
  std::weak_ptr<Stream> weak = stream;
  stream->subscription =
      statuses_.subscribe("", [this, weak, filter = std::move(filter)](const JobStatus& status) {
        if (filter.state && status.state != *filter.state) return;
        if (!filter.job_type.empty() && status.job_type != filter.job_type) return;
        deliver(weak, status);
      });
  add(std::move(stream));
  return Opened::kOpened;
}

void SseHub::deliver(const std::weak_ptr<Stream>& stream, const JobStatus& status) {
  const auto target = stream.lock();
  if (!target) return;
  {
    MutexLock lock(target->mutex);
    if (target->overflowed) return;
    if (target->every_job && target->queued.size() >= kMaxQueued) {
      target->overflowed = true;
      target->queued.clear();
    } else {
      target->queued.push_back(status);
    }
  }
  {
    MutexLock lock(mutex_);
    pending_ = true;
  }
  wake_.notify_one();
}

void SseHub::add(std::shared_ptr<Stream> stream) {
  {
    MutexLock lock(mutex_);
    if (stopping_) {
      stream->subscription.reset();
      slots_.release();
      return;
    }
    streams_.push_back(std::move(stream));
    pending_ = true;
  }
  wake_.notify_one();
}

void SseHub::schedule(const std::shared_ptr<Stream>& stream) {
  stream->scheduled.store(true);
  run_on_reactor(
      *stream->transport,
      [this, stream] {
        const Pumped pumped = pump(*stream);
        if (pumped == Pumped::kFinished) stream->finished.store(true);
        stream->scheduled.store(false);
        // A blocked stream is retried on the next change or peer check,
        // not at once, which would spin while its client is not reading.
        if (pumped == Pumped::kBlocked) return;
        {
          MutexLock lock(mutex_);
          pending_ = true;
        }
        wake_.notify_one();
      },
      [stream] {
        spdlog::error("SSE: closing the stream of {}: its reactor cannot be reached",
                      stream->name());
        stream->finished.store(true);
        stream->scheduled.store(false);
      });
}

SseHub::Pumped SseHub::pump(Stream& stream) {
  const auto peer = stream.peer.lock();
  if (!peer) return Pumped::kFinished;
  std::deque<JobStatus> batch;
  {
    MutexLock lock(stream.mutex);
    if (stream.overflowed) {
      spdlog::info("SSE: dropping the stream of {}: its client is not keeping up", stream.name());
      // Closing the socket (not just ending the response) frees what
      // Pistache still holds for it; the client reconnects.
      ::shutdown(peer->fd(), SHUT_RDWR);
      return Pumped::kFinished;
    }
    if (stream.every_job && client_behind(peer->fd())) return Pumped::kBlocked;
    batch.swap(stream.queued);
  }
  try {
    bool wrote = false;
    for (const auto& status : batch) {
      if (stream.every_job) {
        write_event(stream.response, status);
        wrote = true;
        continue;
      }
      const auto next = stream.feed.next(status);
      if (!next) continue;  // nothing the client has not seen
      write_event(stream.response, *next);
      wrote = true;
      if (stream.feed.ended()) {
        stream.response.ends();
        HardenedHandler::stream_ended(peer);
        return Pumped::kFinished;
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
    spdlog::debug("SSE stream of {} closed: {}", stream.name(), e.what());
    return Pumped::kFinished;
  }
  return Pumped::kMore;
}

void SseHub::run() {
  MutexLock lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, kPeerCheck,
                   [this]() DTQ_REQUIRES(mutex_) { return stopping_ || pending_; });
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
        MutexLock stream_lock(stream->mutex);
        queued = !stream->queued.empty();
      }
      if (stream->next_heartbeat == std::chrono::steady_clock::time_point{})
        stream->next_heartbeat = now + heartbeat_;
      if (now >= stream->next_heartbeat) stream->heartbeat_due.store(true);
      if (queued || stream->heartbeat_due.load()) {
        stream->next_heartbeat = now + heartbeat_;
        schedule(stream);
      }
    }
    // Unsubscribing waits for a running callback, so it happens unlocked.
    for (const auto& stream : finished) {
      stream->subscription.reset();
      slots_.release();
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
    slots_.release();
  }
}

void SseHub::stop() {
  {
    MutexLock lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

}  // namespace dtq::api
