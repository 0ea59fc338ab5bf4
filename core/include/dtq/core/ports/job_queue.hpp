// JobQueue port: durable delivery of job messages to the workers of one job
// type, at least once. Implementations: embedded (SQLite, WAL) and Kafka.
//
// Contract:
//  - enqueue() returns ok only once the message is durable.
//  - take() leases messages; a leased message is not handed to another taker
//    until it is released, or until its holder dies (embedded: the process;
//    Kafka: the consumer-group member).
//  - ack() is called only after the job's outcome is durable; an acked
//    message is never delivered again. dead_letter() is an ack that also
//    keeps the message, with its error, for replay.
//  - Effects become durable in call order per caller: an ack is never
//    durable before an earlier write the same thread made to a store that
//    shares the queue's database.
//
// Thread-safety: every member function is thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dtq/core/model.hpp"
#include "dtq/core/status.hpp"

namespace dtq {

struct Delivery {
  JobMessage message;
  uint32_t delivery_count = 1;  // how many times it has been handed out, this one included
  uint64_t receipt = 0;         // the backend's handle for ack / release / dead_letter
};

// What ack / release / dead_letter answer for a delivery the queue does not
// hold (any more), in every implementation.
inline Status not_leased(const Delivery& delivery) {
  return failed_precondition("job " + delivery.message.job_id + " (receipt " +
                             std::to_string(delivery.receipt) +
                             ") is not leased: already acknowledged, released or dead-lettered");
}

struct DeadLetter {
  JobMessage message;
  JobError error;
  uint32_t attempts = 0;
  std::string failed_at;    // RFC 3339 UTC
  std::string replayed_as;  // job id of the replay, empty until replayed
};

class JobQueue {
 public:
  virtual ~JobQueue() = default;

  virtual Status enqueue(const JobMessage& message) = 0;
  // All or nothing; cheaper per message than enqueue() in a loop. A job id
  // twice in the batch is refused (AlreadyExists); the queue is not searched
  // for one already on it (Kafka cannot be): that is queued again, and
  // delivery is at least once anyway.
  virtual Status enqueue_batch(std::span<const JobMessage> messages) = 0;

  // Up to `max` messages of `job_type`, waiting up to `wait` for the first.
  // Empty when nothing arrived in time or the queue was closed.
  virtual StatusOr<std::vector<Delivery>> take(std::string_view job_type, size_t max,
                                               std::chrono::milliseconds wait) = 0;
  virtual Status ack(const Delivery& delivery) = 0;
  // Gives the message back for redelivery (a draining worker, a lost lease).
  virtual Status release(const Delivery& delivery) = 0;
  virtual Status dead_letter(const Delivery& delivery, const JobError& error,
                             uint32_t attempts) = 0;

  // Newest first; `job_type` empty means every type.
  virtual StatusOr<std::vector<DeadLetter>> dead_letters(std::string_view job_type,
                                                         size_t limit) = 0;
  // Enqueues a dead-lettered job again under a new job id (one result per job
  // id, ever, so a replay is a new job) and returns that id.
  virtual StatusOr<std::string> replay(std::string_view job_id) = 0;
  // Forgets a dead letter: neither listed nor replayable any more, whether
  // or not it was replayed. NotFound when there is none for `job_id`
  // (never one, or already deleted). Kafka cannot remove one record from a
  // topic: its adapter appends a deletion marker that hides the letter, and
  // the record itself goes with the topic's retention.
  virtual Status delete_dead_letter(std::string_view job_id) = 0;

  // Wakes every take() and makes later ones return empty at once.
  virtual void close() = 0;
};

}  // namespace dtq
