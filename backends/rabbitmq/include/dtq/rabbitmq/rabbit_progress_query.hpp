// RabbitProgressQuery: the distributed ProgressQuery (core/include/dtq/core/
// ports/progress_query.hpp): "how far is job X?" asked of whichever worker
// takes the request, over RabbitMQ, through rabbitmq-c.
//
// The exchange (DESIGN §2; docs/distributed.md has the details):
//  - progress() publishes {"job_id","request_id","requested_at"} to the
//    durable queue settings.request_queue (progress.check.request.v1, which
//    it declares) through the default exchange, with correlation_id =
//    request_id (a fresh UUID), reply_to = amq.rabbitmq.reply-to (RabbitMQ's
//    direct reply-to: no reply queue to declare or clean up), content_type
//    application/json, and a message TTL of settings.reply_timeout.
//  - A worker (ProgressResponder) answers {"job_id","state",
//    "progress_percent","message","timestamp"} with the same correlation_id;
//    the reply is matched to its caller by that id alone.
//  - A reply whose state is "not_found" is NotFound; "unavailable" (the
//    worker could not read its status store) is Unavailable; no reply within
//    settings.reply_timeout is DeadlineExceeded.
//
// Failures: every call returns a Status, nothing throws. While the broker
// cannot be reached, progress() fails at once with Unavailable; requests in
// flight when the connection drops fail with Unavailable. The connection is
// re-opened in the background with backoff (logged once per outage, and
// once when it is back); healthy() says whether it is up.
//
// Thread-safety: every member function is thread-safe. Any number of
// threads may wait in progress() at once: they share one connection, owned
// by one I/O thread (a rabbitmq-c connection is not thread-safe), which
// publishes their requests and hands each reply to its caller through a map
// request_id → promise.
//
// Ownership: owns its connection and its I/O thread; destroying it fails
// the calls in flight with Cancelled, so no call may start during or after
// destruction.
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>

#include "dtq/core/ports/progress_query.hpp"
#include "dtq/rabbitmq/rabbit_settings.hpp"

namespace dtq::rabbitmq {

class RabbitProgressQuery final : public ProgressQuery {
 public:
  // Checks the settings, connects, declares the request queue and starts
  // listening for replies: InvalidArgument, Unavailable (naming the broker)
  // or FailedPrecondition (credentials, vhost, a queue declared otherwise)
  // when that fails, so that a misconfigured process stops at start-up.
  static StatusOr<std::unique_ptr<RabbitProgressQuery>> connect(RabbitSettings settings);
  ~RabbitProgressQuery() override;
  RabbitProgressQuery(const RabbitProgressQuery&) = delete;
  RabbitProgressQuery& operator=(const RabbitProgressQuery&) = delete;

  // InvalidArgument for a job id that is not a UUID (no round trip).
  StatusOr<JobStatus> progress(std::string_view job_id) override;

  // True while connected to the broker.
  bool healthy() const;
  // Requests waiting for their reply.
  size_t in_flight() const;
  const RabbitSettings& settings() const;

 private:
  class Impl;
  explicit RabbitProgressQuery(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace dtq::rabbitmq
