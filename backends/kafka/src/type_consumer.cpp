#include "type_consumer.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "dtq/core/model_json.hpp"
#include "dtq/core/time.hpp"
#include "headers.hpp"

namespace dtq::kafka {
namespace {

using namespace std::chrono_literals;

// How long the poll thread waits for the pool to take from a full buffer
// before it pauses the partitions (as long as a poll, so commits stay due
// about every commit_interval).
constexpr auto kRoomWait = 50ms;

using SteadyClock = std::chrono::steady_clock;

void add_commit(rd_kafka_topic_partition_list_t* list, const std::string& topic, int32_t partition,
                int64_t offset, const std::string& metadata) {
  rd_kafka_topic_partition_t* entry =
      rd_kafka_topic_partition_list_add(list, topic.c_str(), partition);
  entry->offset = offset;
  if (!metadata.empty()) {
    // Freed (with free()) by rd_kafka_topic_partition_list_destroy.
    entry->metadata = std::malloc(metadata.size());
    if (entry->metadata == nullptr) return;
    std::memcpy(entry->metadata, metadata.data(), metadata.size());
    entry->metadata_size = metadata.size();
  }
}

std::string metadata_of(const rd_kafka_topic_partition_t& entry) {
  if (entry.metadata == nullptr) return {};
  return {static_cast<const char*>(entry.metadata), entry.metadata_size};
}

}  // namespace

TypeConsumer::TypeConsumer(const KafkaSettings& settings, std::string job_type,
                           JobPriority priority, std::string topic, std::string dlq_topic,
                           std::string group, Producer& producer, std::atomic<uint64_t>& receipts,
                           const std::atomic<bool>& closed, std::shared_ptr<Doorbell> doorbell)
    : settings_(settings),
      type_(std::move(job_type)),
      priority_(priority),
      topic_(std::move(topic)),
      dlq_topic_(std::move(dlq_topic)),
      group_(std::move(group)),
      producer_(producer),
      receipts_(receipts),
      closed_(closed),
      doorbell_(std::move(doorbell)) {}

StatusOr<std::shared_ptr<TypeConsumer>> TypeConsumer::start(
    const KafkaSettings& settings, std::string job_type, JobPriority priority, std::string topic,
    std::string dlq_topic, std::string group, Producer& producer, std::atomic<uint64_t>& receipts,
    const std::atomic<bool>& closed, std::shared_ptr<Doorbell> doorbell) {
  std::shared_ptr<TypeConsumer> consumer(new TypeConsumer(
      settings, std::move(job_type), priority, std::move(topic), std::move(dlq_topic),
      std::move(group), producer, receipts, closed, std::move(doorbell)));
  const auto session = settings.session_timeout.count();
  // A revocation blocks the poll thread while in-flight jobs finish: the
  // poll interval must outlast it.
  const auto max_poll = std::max<int64_t>(300'000, settings.revoke_drain.count() + 60'000);
  auto config = make_config(
      settings, {{"group.id", consumer->group_},
                 {"enable.auto.commit", "false"},
                 {"enable.auto.offset.store", "false"},
                 {"auto.offset.reset", "earliest"},
                 // Eager: see "Rebalancing" in kafka_job_queue.hpp.
                 {"partition.assignment.strategy", "range"},
                 {"session.timeout.ms", std::to_string(session)},
                 {"heartbeat.interval.ms", std::to_string(std::max<int64_t>(session / 4, 100))},
                 {"max.poll.interval.ms", std::to_string(max_poll)},
                 {"enable.partition.eof", "false"},
                 {"allow.auto.create.topics", "false"}});
  if (!config.ok()) return config.status();
  rd_kafka_conf_set_opaque(*config, consumer.get());
  rd_kafka_conf_set_rebalance_cb(*config, rebalance_cb);
  rd_kafka_conf_set_offset_commit_cb(*config, commit_cb);
  auto handle = make_client(ClientKind::kConsumer, *config);
  if (!handle.ok()) return handle.status();
  consumer->handle_ = std::move(handle).value();
  rd_kafka_poll_set_consumer(consumer->handle_.get());

  PartitionList topics(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(topics.get(), consumer->topic_.c_str(), RD_KAFKA_PARTITION_UA);
  if (const auto err = rd_kafka_subscribe(consumer->handle_.get(), topics.get());
      err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return kafka_error(err, "subscribing to " + consumer->topic_);
  }
  consumer->poller_ = std::thread([c = consumer.get()] { c->poll_loop(); });
  spdlog::info("kafka: consuming {} as a member of group {}", consumer->topic_, consumer->group_);
  return consumer;
}

TypeConsumer::~TypeConsumer() {
  shutdown();
}

void TypeConsumer::shutdown() {
  {
    MutexLock lock(mutex_);
    stop_ = true;
    room_cv_.notify_all();
  }
  if (poller_.joinable()) poller_.join();
}

void TypeConsumer::wake() {
  {
    MutexLock lock(mutex_);
    ready_cv_.notify_all();
  }
  doorbell_->ring();
}

// --- The poll thread -------------------------------------------------------

void TypeConsumer::poll_loop() {
  while (!stop_) {
    flow_control();
    MessagePtr message(rd_kafka_consumer_poll(handle_.get(), 50));
    if (message) on_message(message.get());
    commit_due(false);
  }
  commit_due(true);
  // Revokes every partition through rebalance_cb (drain, commit), then
  // leaves the group.
  if (const auto err = rd_kafka_consumer_close(handle_.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    spdlog::warn("kafka: closing the consumer of {}: {}", topic_, rd_kafka_err2str(err));
  }
}

void TypeConsumer::on_message(const rd_kafka_message_t* message) {
  if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return;
    // Connection trouble is retried by librdkafka and reported by error_cb.
    if (message->err == RD_KAFKA_RESP_ERR__TRANSPORT ||
        message->err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
      return;
    }
    spdlog::warn("kafka: consuming {}: {}", topic_, rd_kafka_message_errstr(message));
    return;
  }
  auto parsed = parse_job_message(payload_of(message));
  std::string unreadable;
  if (!parsed.ok()) {
    unreadable = parsed.status().message();
  } else if (parsed->job_type != type_) {
    unreadable = "a job of type \"" + parsed->job_type + "\" on the topic of " + type_;
  }
  MutexLock lock(mutex_);
  const auto it = partitions_.find(message->partition);
  if (it == partitions_.end() || it->second.revoking) return;  // not ours any more
  Partition& partition = it->second;
  const auto seen = partition.tracker.consumed(message->offset);
  if (seen == PartitionTracker::Seen::kAlreadyDone) return;
  if (!unreadable.empty()) {
    ++partition.leased;  // a revocation waits for the dead letter
    const uint64_t epoch = partition.epoch;
    lock.unlock();
    dead_letter_unreadable(message, epoch, unreadable);
    return;
  }
  ready_.push_back(Lease{.partition = message->partition,
                         .offset = message->offset,
                         .epoch = partition.epoch,
                         .deliveries = seen == PartitionTracker::Seen::kRedelivery ? 2U : 1U,
                         .message = std::move(parsed).value()});
  // The topic decides: a record on the high topic is high whatever it says.
  // Without class topics every class shares this one: the message says.
  if (!settings_.priority_topic_template.empty()) ready_.back().message.priority = priority_;
  lock.unlock();
  ready_cv_.notify_one();
  doorbell_->ring();
}

void TypeConsumer::dead_letter_unreadable(const rd_kafka_message_t* message, uint64_t epoch,
                                          const std::string& why) {
  const int32_t partition = message->partition;
  const int64_t offset = message->offset;
  spdlog::error("kafka: {} [{}] offset {} is not a valid {} job ({}); dead-lettering it", topic_,
                partition, offset, type_, why);
  Record record{.topic = dlq_topic_,
                .key = std::string(key_of(message)),
                .value = std::string(payload_of(message)),
                .headers = dead_letter_headers(JobError{"invalid_message", why}, 0, now_rfc3339(),
                                               topic_, partition, offset)};
  producer_.produce_async(record, [weak = weak_from_this(), partition, offset, epoch](Status s) {
    const auto self = weak.lock();
    if (!self) return;
    MutexLock lock(self->mutex_);
    const auto it = self->partitions_.find(partition);
    if (it == self->partitions_.end() || it->second.epoch != epoch) return;
    --it->second.leased;
    if (s.ok()) {
      it->second.tracker.done(offset);
    } else {
      // Left unfinished: the partition's next owner tries again.
      spdlog::error("kafka: unreadable record {} [{}] offset {} not dead-lettered: {}",
                    self->topic_, partition, offset, s.message());
    }
    self->drained_cv_.notify_all();
  });
}

void TypeConsumer::flow_control() {
  const size_t limit = std::max<size_t>(settings_.prefetch, 1);
  size_t buffered = 0;
  {
    MutexLock lock(mutex_);
    // The pool usually takes from a full buffer within moments. Waiting for
    // that keeps what librdkafka has fetched: pausing drops it, and resuming
    // fetches it again, one broker round trip per buffer's worth of jobs
    // (with pauses, a worker of 32 slots ran 171 no-op jobs/s off a backlog).
    if (!paused_ && ready_.size() >= limit) {
      room_cv_.wait_for(lock, kRoomWait, [&]() DTQ_REQUIRES(mutex_) {
        return stop_.load() || ready_.size() < limit;
      });
    }
    buffered = ready_.size();
  }
  // Still full: the pool took nothing for kRoomWait (every worker is busy
  // with longer jobs). Pausing lets the loop keep polling for the group
  // without consuming more.
  const bool pause = buffered >= limit && (!paused_ || assignment_changed_);
  const bool resume = paused_ && buffered <= limit / 2;
  if (!paused_) assignment_changed_ = false;
  if (!pause && !resume) return;
  rd_kafka_topic_partition_list_t* assignment = nullptr;
  if (rd_kafka_assignment(handle_.get(), &assignment) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
  PartitionList owned(assignment);
  if (pause) {
    // Fetched records of paused partitions are dropped; consumption resumes
    // after the last one returned.
    rd_kafka_pause_partitions(handle_.get(), owned.get());
    paused_ = true;
    fetching_paused_ = true;
    assignment_changed_ = false;
  } else {
    rd_kafka_resume_partitions(handle_.get(), owned.get());
    paused_ = false;
    fetching_paused_ = false;
  }
}

void TypeConsumer::commit_due(bool force) {
  const auto now = SteadyClock::now();
  if (!force && now - last_commit_ < settings_.commit_interval) return;
  last_commit_ = now;
  PartitionList offsets(rd_kafka_topic_partition_list_new(0));
  {
    MutexLock lock(mutex_);
    for (auto& [id, partition] : partitions_) {
      if (partition.revoking) continue;
      auto commit = partition.tracker.pending_commit();
      if (!commit) continue;
      add_commit(offsets.get(), topic_, id, commit->offset, commit->metadata);
      partition.tracker.mark_committed(commit->offset, std::move(commit->metadata));
    }
  }
  if (offsets->cnt == 0) return;
  if (const auto err = rd_kafka_commit(handle_.get(), offsets.get(), 1);
      err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    spdlog::warn("kafka: committing offsets of {}: {}", topic_, rd_kafka_err2str(err));
    MutexLock lock(mutex_);
    for (int i = 0; i < offsets->cnt; ++i) {
      if (auto it = partitions_.find(offsets->elems[i].partition); it != partitions_.end()) {
        it->second.tracker.commit_failed();
      }
    }
  }
}

void TypeConsumer::commit_cb(rd_kafka_t* /*handle*/, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t* offsets, void* opaque) {
  auto* self = static_cast<TypeConsumer*>(opaque);
  if (err == RD_KAFKA_RESP_ERR__NO_OFFSET || offsets == nullptr) return;
  MutexLock lock(self->mutex_);
  for (int i = 0; i < offsets->cnt; ++i) {
    const auto& entry = offsets->elems[i];
    const auto failure = err != RD_KAFKA_RESP_ERR_NO_ERROR ? err : entry.err;
    if (failure == RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    spdlog::warn("kafka: commit of {} [{}] at {} failed: {}; retrying", self->topic_,
                 entry.partition, entry.offset, rd_kafka_err2str(failure));
    if (auto it = self->partitions_.find(entry.partition); it != self->partitions_.end()) {
      it->second.tracker.commit_failed();
    }
  }
}

void TypeConsumer::rebalance_cb(rd_kafka_t* handle, rd_kafka_resp_err_t err,
                                rd_kafka_topic_partition_list_t* partitions, void* opaque) {
  auto* self = static_cast<TypeConsumer*>(opaque);
  const char* protocol = rd_kafka_rebalance_protocol(handle);
  const bool cooperative = protocol != nullptr && std::strcmp(protocol, "COOPERATIVE") == 0;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    self->on_assign(partitions, cooperative);
  } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
    self->on_revoke(partitions, cooperative);
  } else {
    spdlog::error("kafka: rebalance of group {} failed: {}", self->group_, rd_kafka_err2str(err));
    rd_kafka_assign(handle, nullptr);
  }
}

void TypeConsumer::on_assign(rd_kafka_topic_partition_list_t* partitions, bool cooperative) {
  // The committed offsets and their metadata (what is already finished).
  PartitionList committed(rd_kafka_topic_partition_list_copy(partitions));
  const auto fetched =
      rd_kafka_committed(handle_.get(), committed.get(), to_ms(settings_.request_timeout));
  if (fetched != RD_KAFKA_RESP_ERR_NO_ERROR) {
    spdlog::warn(
        "kafka: committed offsets of {} unreadable ({}); every record of the new "
        "partitions counts as a possible redelivery",
        topic_, rd_kafka_err2str(fetched));
  }
  std::string described;
  {
    MutexLock lock(mutex_);
    for (int i = 0; i < partitions->cnt; ++i) {
      const auto& entry = committed->elems[i];
      const bool known =
          fetched == RD_KAFKA_RESP_ERR_NO_ERROR && entry.err == RD_KAFKA_RESP_ERR_NO_ERROR;
      const int64_t offset =
          known && entry.offset >= 0 ? entry.offset : PartitionTracker::kNoOffset;
      partitions_.insert_or_assign(
          entry.partition,
          Partition{.epoch = next_epoch_++,
                    .tracker = PartitionTracker(offset, known ? metadata_of(entry) : "", known)});
      // Start exactly where the history we read says.
      partitions->elems[i].offset = offset >= 0 ? offset : RD_KAFKA_OFFSET_INVALID;
      described += (described.empty() ? "" : ", ") + std::to_string(entry.partition) + "@" +
                   (offset >= 0 ? std::to_string(offset) : "start");
    }
  }
  assignment_changed_ = true;
  spdlog::info("kafka: group {} assigned {} [{}]", group_, topic_, described);
  if (cooperative) {
    if (rd_kafka_error_t* error = rd_kafka_incremental_assign(handle_.get(), partitions)) {
      spdlog::error("kafka: assigning partitions of {}: {}", topic_, rd_kafka_error_string(error));
      rd_kafka_error_destroy(error);
    }
  } else {
    rd_kafka_assign(handle_.get(), partitions);
  }
}

void TypeConsumer::on_revoke(rd_kafka_topic_partition_list_t* partitions, bool cooperative) {
  const bool lost = rd_kafka_assignment_lost(handle_.get()) != 0;
  PartitionList offsets(rd_kafka_topic_partition_list_new(partitions->cnt));
  std::string described;
  {
    MutexLock lock(mutex_);
    std::vector<int32_t> revoked;
    for (int i = 0; i < partitions->cnt; ++i) {
      if (auto it = partitions_.find(partitions->elems[i].partition); it != partitions_.end()) {
        it->second.revoking = true;
        revoked.push_back(it->first);
      }
    }
    const auto is_revoked = [&](int32_t partition) {
      return std::find(revoked.begin(), revoked.end(), partition) != revoked.end();
    };
    // Nothing more of these partitions is handed out; what was buffered
    // stays uncommitted for the next owner.
    std::erase_if(ready_, [&](const Lease& item) { return is_revoked(item.partition); });
    if (!lost) {
      const auto until = SteadyClock::now() + settings_.revoke_drain;
      drained_cv_.wait_until(lock, until, [&]() DTQ_REQUIRES(mutex_) {
        return std::all_of(revoked.begin(), revoked.end(), [&](int32_t id) DTQ_REQUIRES(mutex_) {
          return partitions_.at(id).leased == 0;
        });
      });
    }
    for (const int32_t id : revoked) {
      Partition& partition = partitions_.at(id);
      if (partition.leased > 0) {
        spdlog::warn(
            "kafka: {} [{}] revoked with {} job(s) still running; the next owner runs "
            "them again",
            topic_, id, partition.leased);
      }
      if (auto commit = lost ? std::nullopt : partition.tracker.pending_commit()) {
        add_commit(offsets.get(), topic_, id, commit->offset, commit->metadata);
      }
      described += (described.empty() ? "" : ", ") + std::to_string(id);
      partitions_.erase(id);
    }
  }
  if (offsets->cnt > 0) {
    if (const auto err = rd_kafka_commit(handle_.get(), offsets.get(), 0);
        err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      spdlog::error("kafka: final commit of revoked partitions of {} failed: {}", topic_,
                    rd_kafka_err2str(err));
    }
  }
  spdlog::info("kafka: group {} {} {} [{}]", group_, lost ? "lost" : "released", topic_, described);
  if (cooperative) {
    if (rd_kafka_error_t* error = rd_kafka_incremental_unassign(handle_.get(), partitions)) {
      spdlog::error("kafka: unassigning partitions of {}: {}", topic_,
                    rd_kafka_error_string(error));
      rd_kafka_error_destroy(error);
    }
  } else {
    rd_kafka_assign(handle_.get(), nullptr);
  }
  assignment_changed_ = true;
}

// --- The workers' side -----------------------------------------------------

StatusOr<std::vector<Delivery>> TypeConsumer::take(size_t max, std::chrono::milliseconds wait) {
  std::vector<Delivery> taken;
  if (max == 0) return taken;
  MutexLock lock(mutex_);
  const auto until =
      SteadyClock::now() + std::min<std::chrono::milliseconds>(wait, std::chrono::hours(24));
  ready_cv_.wait_until(lock, until,
                       [&]() DTQ_REQUIRES(mutex_) { return closed_.load() || !ready_.empty(); });
  if (closed_) return taken;
  while (!ready_.empty() && taken.size() < max) {
    Lease item = std::move(ready_.front());
    ready_.pop_front();
    const auto it = partitions_.find(item.partition);
    if (it == partitions_.end() || it->second.epoch != item.epoch || it->second.revoking) continue;
    it->second.tracker.handed(item.offset);
    ++it->second.leased;
    const uint64_t receipt = receipts_.fetch_add(1);
    taken.push_back(Delivery{item.message, item.deliveries, receipt});
    leases_.emplace(receipt, std::move(item));
  }
  if (!taken.empty()) room_cv_.notify_one();
  return taken;
}

bool TypeConsumer::has_ready() {
  MutexLock lock(mutex_);
  return !ready_.empty();
}

StatusOr<TypeConsumer::Lease> TypeConsumer::end_lease(const Delivery& delivery) {
  const auto it = leases_.find(delivery.receipt);
  if (it == leases_.end() || it->second.message.job_id != delivery.message.job_id) {
    return not_leased(delivery);
  }
  Lease lease = std::move(it->second);
  leases_.erase(it);
  return lease;
}

StatusOr<int64_t> TypeConsumer::lag(std::chrono::milliseconds timeout) {
  std::vector<std::pair<int32_t, std::optional<int64_t>>> held;
  {
    MutexLock lock(mutex_);
    for (const auto& [number, partition] : partitions_)
      held.emplace_back(number, partition.tracker.commit_offset());
  }
  int64_t lag = 0;
  for (const auto& [number, first_unfinished] : held) {
    int64_t low = RD_KAFKA_OFFSET_INVALID;
    int64_t high = RD_KAFKA_OFFSET_INVALID;
    // While fetching, the watermarks the last fetch brought: no round trip
    // (a worker's /metrics asks for every partition of every class). Asked
    // of the broker when paused, or when the cache cannot answer: no fetch
    // yet, or the oldest offset needed and unknown.
    auto err = rd_kafka_get_watermark_offsets(handle_.get(), topic_.c_str(), number, &low, &high);
    const bool cached = !fetching_paused_ && err == RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0 &&
                        (first_unfinished.has_value() || high == 0 || low >= 0);
    if (!cached) {
      err = rd_kafka_query_watermark_offsets(handle_.get(), topic_.c_str(), number, &low, &high,
                                             to_ms(timeout));
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return kafka_error(err, "offsets of " + topic_ + " [" + std::to_string(number) + "]");
    }
    // Nothing committed or consumed yet: the group starts at the oldest record.
    lag += std::max<int64_t>(0, high - first_unfinished.value_or(std::max<int64_t>(low, 0)));
  }
  return lag;
}

StatusOr<TypeConsumer::Lease> TypeConsumer::lease(const Delivery& delivery) {
  MutexLock lock(mutex_);
  const auto it = leases_.find(delivery.receipt);
  if (it == leases_.end() || it->second.message.job_id != delivery.message.job_id) {
    return not_leased(delivery);
  }
  return it->second;
}

Status TypeConsumer::ack(const Delivery& delivery) {
  MutexLock lock(mutex_);
  auto lease = end_lease(delivery);
  if (!lease.ok()) return lease.status();
  const auto it = partitions_.find(lease->partition);
  if (it == partitions_.end() || it->second.epoch != lease->epoch) {
    return failed_precondition("job " + delivery.message.job_id + ": partition " +
                               std::to_string(lease->partition) + " of " + topic_ +
                               " was revoked before it finished; its next owner delivers it again");
  }
  it->second.tracker.done(lease->offset);
  --it->second.leased;
  drained_cv_.notify_all();
  return {};
}

Status TypeConsumer::release(const Delivery& delivery) {
  {
    MutexLock lock(mutex_);
    auto lease = end_lease(delivery);
    if (!lease.ok()) return lease.status();
    const auto it = partitions_.find(lease->partition);
    // Revoked meanwhile: the next owner delivers it, which is what release asks.
    if (it == partitions_.end() || it->second.epoch != lease->epoch) return {};
    --it->second.leased;
    drained_cv_.notify_all();
    if (it->second.revoking) return {};
    // First in line again; its offset never stopped being unfinished.
    ++lease->deliveries;
    ready_.push_front(std::move(lease).value());
  }
  ready_cv_.notify_one();
  doorbell_->ring();
  return {};
}

}  // namespace dtq::kafka
