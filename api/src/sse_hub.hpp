// SseHub: every open event stream and the one thread that writes them. A
// job's stream (GET /v1/jobs/{id}/events) gets the job's status as a
// snapshot first, then each visible change, and ends after a terminal
// status. The stream of every job (GET /v1/events) has no snapshot and
// never ends by itself; it gets each visible change of every job that
// passes its filter. A comment line every heartbeat keeps proxies from
// closing an idle stream. A client that went away is noticed within a
// second (its peer is gone) and its subscription dropped.
//
// Backpressure: the stream of every job has no end, so a client that reads
// more slowly than jobs change would have the server buffer without bound.
// Its statuses wait in the hub while the kernel holds kMaxUnsent bytes
// unsent for it, and past kMaxQueued of them the client is dropped
// (EventSource reconnects and the UI re-reads the list). A job's stream is
// bounded by the job's life and is not throttled.
//
// Pistache 0.0.5 cannot write a stream from a thread other than the
// connection's reactor (pistache#1006: the reactor then dies on "could not
// find write data"), so the hub thread never writes: it decides which
// streams have something to send and has the reactor that owns each one
// run the write, through a one-millisecond timer armed on that reactor.
// Writes are asynchronous, so a slow client never blocks a reactor, and
// store callbacks only queue a status.
//
// Thread-safety: every member function is thread-safe. Ownership: borrows
// the StatusStore, which must outlive the hub; owns the streams.
#pragma once

#include <pistache/http.h>
#include <pistache/transport.h>

#include <atomic>
#include <chrono>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "dtq/core/ports/status_store.hpp"
#include "dtq/core/thread_annotations.hpp"
#include "write_guard.hpp"

namespace dtq::api {

class SseHub {
 public:
  SseHub(StatusStore& statuses, size_t max_streams, std::chrono::seconds heartbeat);
  ~SseHub();
  SseHub(const SseHub&) = delete;
  SseHub& operator=(const SseHub&) = delete;

  // What became of a request for a stream.
  enum class Opened {
    kOpened,      // the stream is the hub's
    kAtLimit,     // max_streams are open: nothing was sent, the caller answers
    kClientGone,  // the client left before the stream began: nothing to answer
  };
  // Answers `response` with an event stream of job `snapshot.job_id`,
  // starting with `snapshot`; `transport` is the reactor serving the
  // connection.
  Opened open(Pistache::Http::ResponseWriter& response, Pistache::Tcp::Transport* transport,
              JobStatus snapshot);
  // Which jobs a stream of every job carries; an empty field matches all.
  struct Filter {
    std::optional<JobState> state;
    std::string job_type;
  };
  // Answers `response` with an event stream of the changes of every job
  // that passes `filter`.
  Opened open_all(Pistache::Http::ResponseWriter& response, Pistache::Tcp::Transport* transport,
                  Filter filter);
  // Ends every stream and joins the thread. Idempotent.
  void stop();

  [[nodiscard]] size_t open_streams() const noexcept { return slots_.open(); }

 private:
  struct Stream;

  enum class Pumped { kMore, kBlocked, kFinished };

  // Claims a slot and starts the SSE response: the stream, or why not.
  Opened begin(Pistache::Http::ResponseWriter& response, Pistache::Tcp::Transport* transport,
               bool every_job, std::shared_ptr<Stream>& stream);

  // Queues `status` on `stream` and wakes the hub thread.
  void deliver(const std::weak_ptr<Stream>& stream, const JobStatus& status);
  // Registers a stream that is already subscribed.
  void add(std::shared_ptr<Stream> stream);
  void run();
  // Has the stream's reactor run pump() soon.
  void schedule(const std::shared_ptr<Stream>& stream);
  // On the stream's reactor: writes what is queued (and a heartbeat when
  // due). kFinished when the stream ended or its client is gone or dropped;
  // kBlocked when the client's socket is not taking more yet.
  static Pumped pump(Stream& stream);

  StatusStore& statuses_;
  const std::chrono::seconds heartbeat_;
  StreamSlots slots_;

  Mutex mutex_;
  CondVar wake_;
  std::list<std::shared_ptr<Stream>> streams_ DTQ_GUARDED_BY(mutex_);
  bool pending_ DTQ_GUARDED_BY(mutex_) = false;  // some stream has a queued status
  bool stopping_ DTQ_GUARDED_BY(mutex_) = false;
  std::thread thread_;
};

}  // namespace dtq::api
