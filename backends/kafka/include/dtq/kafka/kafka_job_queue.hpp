// KafkaJobQueue: the distributed JobQueue on Apache Kafka (librdkafka).
//
// What it is. Jobs of type T are records on the topic `jobs.T.v1` (the
// topic template, `jobs.%s.v1` by default), key = job_id, value = the job
// message JSON, headers `content-type: application/json` and
// `schema-version: 1.0`. enqueue() produces with an idempotent producer
// (acks=all) and returns once the broker acknowledged every record. Each job
// type's workers in a process form one member of the consumer group
// `<group_id_prefix>T`; take() hands out records that member consumed, and
// the jobs of a partition run concurrently.
//
// Priorities. A normal job goes to `jobs.T.v1` (the contract's topic), a
// high one to `jobs.T.high.v1` and a low one to `jobs.T.low.v1` (the
// priority topic template, `jobs.%s.%p.v1`: %p is the class). Each class
// has its own consumer group (`<prefix>T`, `<prefix>T.high`,
// `<prefix>T.low`) and, in a worker, its own consumer and buffer; take()
// chooses among the three buffers by PriorityTurns (dtq/core/priority.hpp:
// 6 high, 3 normal, 1 low of every 10 takes while all have work, a class
// without work getting no turns), the same rule as the embedded queue, so
// a high job behind a backlog of normal ones is taken next and a low one
// is never starved. The record's topic decides its class.
//
// Offsets. Per partition the member tracks the consumed offsets that are not
// finished (handed out or waiting in its buffer). It commits, every
// commit_interval, the lowest unfinished offset, so the committed offset
// never passes an unfinished job. The commit's metadata records which
// offsets above it are already finished ("dtq1;h=...;d=..."): the next owner
// of the partition skips those, so after a restart exactly the unfinished
// jobs come back. Records below the highest offset ever handed out that come
// back (a crash before the ack was committed) carry delivery_count 2, so the
// engine checks the result store before running them again.
//
// Rebalancing (eager: the `range` assignor). When the group changes, each
// member's revoked partitions stop handing out messages at once (buffered
// ones are dropped and stay uncommitted), their in-flight jobs get up to
// revoke_drain to be acked, then the offsets are committed and the
// partitions let go. An ack arriving later fails with FailedPrecondition;
// the new owner redelivers that job with delivery_count 2. A partition lost
// without a revocation (session timeout) is not committed. The callbacks
// also follow the cooperative protocol (`extra`:
// partition.assignment.strategy=cooperative-sticky), but with librdkafka
// 2.0.2 and a Kafka 4 broker a commit falling into the follow-up rebalance
// failed with ILLEGAL_GENERATION and cost the member its whole assignment
// (still at least once, with more redeliveries), so eager is the default.
//
// release() puts the message back at the head of this member's line (a seek
// of that one record): its offset stays uncommitted, so if the partition
// moves or the process stops first, the next owner delivers it. Nothing is
// produced, so a released job never exists twice in the log.
//
// Dead letters. dead_letter() produces the job message JSON to
// `jobs.T.dlq.v1` (same key, same two contract headers), with headers `dtq-record: dead-letter`,
// `dtq-error-code`, `dtq-error-message`, `dtq-attempts`, `dtq-failed-at` and
// where it came from (`dtq-source-topic`, `-partition`, `-offset`), waits
// for the broker, then finishes the original like ack(). replay(id) produces
// a new job (new job_id, same type, trace id and payload) to the job topic,
// then a marker record to the same dead-letter topic under the old job_id's
// key (`dtq-record: replay-marker`, `dtq-replayed-as: <new id>`); the
// listing folds markers into `replayed_as`, and a second replay of the same
// job is refused. delete_dead_letter(id) cannot take a record out of a
// topic: it appends a marker under the job id's key (`dtq-record:
// delete-marker`) that hides the letter from the listing and from replay;
// the records themselves go with the topic's retention. A consumed record
// that is not a valid job message of its topic's type is dead-lettered at
// once with error code `invalid_message`.
//
// Topics are created on first use (admin API) with `partitions` partitions;
// an existing job topic is used as it is. A dead-letter topic is created
// with retention.ms = dlq_retention, and one that exists with another
// retention.ms is altered to it (its other configs kept). A broker that
// refuses the value (Event Hubs caps retention by tier) gets the topic with
// its default retention, and a warning says so.
//
// Limits of the Kafka mapping: enqueue_batch() is not atomic (Kafka offers
// that only with transactions): on an error some of the batch may be on the
// topic, and the error says how many were not confirmed. Duplicate job ids
// on the topic are not detected (one result per job id is the result
// store's job). replay() searches the job's key partition of every
// dead-letter topic; two processes replaying the same job at the same
// moment may both succeed.
//
// Thread-safety: every member function is thread-safe. take() for a job type
// starts that type's consumer (its own poll thread) on first use.
// Ownership: owns its librdkafka clients and threads. The destructor leaves
// every group gracefully: revoked partitions drain (up to revoke_drain),
// are committed, and then the clients close; unsent records get up to
// delivery_timeout to reach the broker.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dtq/core/ports/job_queue.hpp"

namespace dtq::kafka {

// Connection security; empty fields are left to librdkafka's defaults.
struct KafkaSecurity {
  std::string protocol;        // plaintext | ssl | sasl_plaintext | sasl_ssl
  std::string sasl_mechanism;  // PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512
  std::string sasl_username;
  std::string sasl_password;
  std::string ssl_ca_location;           // PEM file or directory
  std::string ssl_certificate_location;  // client certificate (mutual TLS)
  std::string ssl_key_location;
  std::string ssl_key_password;
};

struct KafkaSettings {
  std::string bootstrap_servers;              // "host:port[,host:port...]"; required
  std::string topic_template = "jobs.%s.v1";  // %s = job type, exactly once
  // The high and low classes' topics: %s = job type, %p = high|low, each
  // exactly once. Normal jobs stay on topic_template. Empty: no topics of
  // their own; every class shares topic_template's, in arrival order (for a
  // broker that caps topics, like Event Hubs Standard's 10 per namespace).
  std::string priority_topic_template = "jobs.%s.%p.v1";
  std::string dlq_topic_template = "jobs.%s.dlq.v1";  // %s = job type, exactly once
  std::string client_id = "dtq";
  std::string group_id_prefix = "dtq.workers.";  // consumer group = prefix + job type

  int32_t partitions = 6;           // of the topics this adapter creates
  int16_t replication_factor = -1;  // of the topics this adapter creates; -1 = broker default
  // retention.ms of the dead-letter topics (RetentionPolicy::dead_letters):
  // set when this adapter creates one, and on one that exists with another
  // value; zero leaves them to the broker's default.
  std::chrono::milliseconds dlq_retention{std::chrono::hours(24 * 30)};

  // How long a produced record may take to be acknowledged before
  // enqueue/dead_letter/replay fail (librdkafka's delivery.timeout.ms).
  std::chrono::milliseconds delivery_timeout{30'000};
  // Admin requests, metadata, committed offsets, reading dead letters.
  std::chrono::milliseconds request_timeout{10'000};
  // Consumer group session: how soon a dead member's partitions move.
  std::chrono::milliseconds session_timeout{10'000};
  // How long a revoked partition waits for its in-flight jobs to finish.
  std::chrono::milliseconds revoke_drain{30'000};
  // How often finished offsets are committed.
  std::chrono::milliseconds commit_interval{100};
  // Messages a member keeps ready per job type beyond those handed out;
  // consumption pauses while the buffer is full.
  size_t prefetch = 64;

  KafkaSecurity security;
  // librdkafka properties applied last, for anything not covered above.
  std::vector<std::pair<std::string, std::string>> extra;
};

class KafkaJobQueue final : public JobQueue {
 public:
  // Checks the settings and creates the producer; needs no broker yet
  // (connections are made in the background and retried).
  static StatusOr<std::unique_ptr<KafkaJobQueue>> create(KafkaSettings settings);
  ~KafkaJobQueue() override;
  KafkaJobQueue(const KafkaJobQueue&) = delete;
  KafkaJobQueue& operator=(const KafkaJobQueue&) = delete;

  Status enqueue(const JobMessage& message) override;
  Status enqueue_batch(std::span<const JobMessage> messages) override;
  StatusOr<std::vector<Delivery>> take(std::string_view job_type, size_t max,
                                       std::chrono::milliseconds wait) override;
  Status ack(const Delivery& delivery) override;
  Status release(const Delivery& delivery) override;
  Status dead_letter(const Delivery& delivery, const JobError& error, uint32_t attempts) override;
  StatusOr<std::vector<DeadLetter>> dead_letters(std::string_view job_type, size_t limit) override;
  StatusOr<std::string> replay(std::string_view job_id) override;
  Status delete_dead_letter(std::string_view job_id) override;
  // Wakes every take() and makes later ones return empty. Acks, releases and
  // dead letters of jobs already handed out keep working until destruction.
  void close() override;

  // Creates the job and dead-letter topics of `job_type` if missing. Done
  // lazily by enqueue and take; call it to fail fast at start-up.
  Status ensure_topics(std::string_view job_type);
  // One metadata round trip to the cluster, for start-up and readiness
  // checks: Unavailable or DeadlineExceeded (naming the bootstrap servers)
  // when no broker answered within `timeout`.
  Status ping(std::chrono::milliseconds timeout);
  // The consumer lag of `job_type` as this process sees it: the records of
  // the partitions it holds that are not finished yet (0 when it holds
  // none, or does not consume the type). Summed over a type's workers, the
  // type's lag. Each broker query waits at most `timeout`.
  StatusOr<int64_t> consumer_lag(std::string_view job_type, std::chrono::milliseconds timeout);
  std::string topic(std::string_view job_type, JobPriority priority = JobPriority::kNormal) const;
  std::string dlq_topic(std::string_view job_type) const;
  std::string group_id(std::string_view job_type,
                       JobPriority priority = JobPriority::kNormal) const;

  struct Impl;

 private:
  explicit KafkaJobQueue(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace dtq::kafka
