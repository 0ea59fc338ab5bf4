// ProgressResponder: the worker side of the progress request-reply (DESIGN
// §2). It consumes settings.request_queue (progress.check.request.v1,
// durable, declared here too) as one of any number of competing consumers,
// with at most settings.prefetch requests delivered to it and unanswered,
// reads the jobs' statuses from a StatusStore, and publishes each reply to
// its request's reply_to (through the default exchange) with the request's
// correlation_id. The requests it holds are answered together: their
// statuses in one StatusStore::get_batch() (one Redis round trip), their
// replies in one hand-off to the connection's thread. A request is
// acknowledged only after its reply was published; one delivered to a
// responder that dies unanswered goes back to the queue for another.
//
// Reply body: {"job_id","state","progress_percent","message","timestamp"}
// (timestamp: the status's updated_at), plus "trace_id", "error_code",
// "error_message" when the status has them. For a job the store does not
// know, state is "not_found"; when the store cannot be read, "unavailable"
// and the message says why. A request that cannot be answered (unreadable
// JSON, no job_id, no reply_to) is acknowledged and dropped with a warning.
//
// Failures: the connection is re-opened in the background with backoff
// after the broker goes away (logged once per outage, and once when it is
// back); healthy() says whether it is up. Requests in hand when it dropped
// are redelivered by the broker; their late answers are discarded.
//
// Thread-safety: every member function is thread-safe. The connection is
// owned by one I/O thread; settings.handler_threads threads read the store.
//
// Ownership: borrows the StatusStore, which must outlive the responder;
// owns its connection and threads. Destroying it stops consuming first.
#pragma once

#include <cstdint>
#include <memory>

#include "dtq/core/ports/status_store.hpp"
#include "dtq/rabbitmq/rabbit_settings.hpp"

namespace dtq::rabbitmq {

class ProgressResponder {
 public:
  // Checks the settings, connects, declares the request queue and starts
  // consuming: InvalidArgument, Unavailable or FailedPrecondition when that
  // fails.
  static StatusOr<std::unique_ptr<ProgressResponder>> start(RabbitSettings settings,
                                                            StatusStore& statuses);
  ~ProgressResponder();
  ProgressResponder(const ProgressResponder&) = delete;
  ProgressResponder& operator=(const ProgressResponder&) = delete;

  // True while connected and consuming.
  bool healthy() const;
  // Replies published (and their requests acknowledged) so far.
  uint64_t answered() const;
  const RabbitSettings& settings() const;

 private:
  class Impl;
  explicit ProgressResponder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace dtq::rabbitmq
