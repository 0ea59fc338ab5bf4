#include "dtq/core/job_history_recorder.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <utility>

#include "dtq/core/status_notices.hpp"
#include "dtq/core/time.hpp"

namespace dtq {
namespace {

struct KindName {
  JobEventKind kind;
  std::string_view name;
};

constexpr std::array<KindName, 14> kKinds = {{
    {JobEventKind::kSubmitted, "submitted"},
    {JobEventKind::kReplayOf, "replay_of"},
    {JobEventKind::kRetryOf, "retry_of"},
    {JobEventKind::kScheduled, "scheduled"},
    {JobEventKind::kCancelRequested, "cancel_requested"},
    {JobEventKind::kStarted, "started"},
    {JobEventKind::kRetry, "retry"},
    {JobEventKind::kReleased, "released"},
    {JobEventKind::kCompleted, "completed"},
    {JobEventKind::kFailed, "failed"},
    {JobEventKind::kCancelled, "cancelled"},
    {JobEventKind::kDeadLettered, "dead_lettered"},
    {JobEventKind::kReplayed, "replayed"},
    {JobEventKind::kRetried, "retried"},
}};

}  // namespace

std::string_view to_string(JobEventKind kind) noexcept {
  for (const auto& entry : kKinds)
    if (entry.kind == kind) return entry.name;
  return "unknown";
}

std::optional<JobEventKind> parse_job_event_kind(std::string_view text) noexcept {
  for (const auto& entry : kKinds)
    if (entry.name == text) return entry.kind;
  return std::nullopt;
}

int kind_rank(JobEventKind kind) noexcept {
  switch (kind) {
    case JobEventKind::kSubmitted:
    case JobEventKind::kReplayOf:
    case JobEventKind::kRetryOf:
    case JobEventKind::kScheduled:
      return 0;
    default:
      return 1;
  }
}

void sort_job_events(std::vector<JobEvent>& events) {
  std::stable_sort(events.begin(), events.end(), [](const JobEvent& a, const JobEvent& b) {
    if (a.at != b.at) return a.at < b.at;
    return kind_rank(a.kind) < kind_rank(b.kind);
  });
}

std::string history_worker_identity(std::string_view role) {
  std::array<char, 256> host{};
  if (::gethostname(host.data(), host.size() - 1) != 0) host[0] = '\0';
  std::string identity = std::string(host.data()) + "/" + std::to_string(::getpid());
  if (!role.empty()) identity += " (" + std::string(role) + ")";
  return identity;
}

// --- HistoryWriter -----------------------------------------------------------

HistoryWriter::HistoryWriter(JobHistory& history, HistoryWriterSettings settings)
    : history_(history), settings_(settings) {
  thread_ = std::thread([this] { run(); });
}

HistoryWriter::~HistoryWriter() {
  {
    MutexLock lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void HistoryWriter::record(JobEvent event) {
  if (event.at.empty()) event.at = now_rfc3339();
  bool wake = false;
  {
    MutexLock lock(mutex_);
    if (pending_.size() >= settings_.max_pending) {
      if (dropped_.fetch_add(1) % 10'000 == 0)
        spdlog::warn("job history: the store is not keeping up; events dropped: {}",
                     dropped_.load());
      return;
    }
    pending_.push_back(std::move(event));
    ++recorded_;
    wake = pending_.size() >= settings_.max_batch;
  }
  if (wake) changed_.notify_all();
}

Status HistoryWriter::append(std::span<const JobEvent> events) {
  for (const auto& event : events) record(event);
  return {};
}

Status HistoryWriter::flush() {
  MutexLock lock(mutex_);
  const uint64_t target = recorded_;
  flush_wanted_ = true;
  changed_.notify_all();
  changed_.wait(lock, [&]() DTQ_REQUIRES(mutex_) { return written_ >= target || stopping_; });
  return last_error_;
}

StatusOr<std::vector<JobEvent>> HistoryWriter::list(std::string_view job_id, size_t limit) {
  (void)flush();  // a failed append is logged; the stored events are still worth answering
  return history_.list(job_id, limit);
}

void HistoryWriter::run() {
  MutexLock lock(mutex_);
  for (;;) {
    // Linger for company unless a full batch or a flush is waiting.
    changed_.wait_for(lock, settings_.linger, [this]() DTQ_REQUIRES(mutex_) {
      return stopping_ || flush_wanted_ || pending_.size() >= settings_.max_batch;
    });
    flush_wanted_ = false;
    if (pending_.empty()) {
      changed_.notify_all();  // a flush with nothing left to store
      if (stopping_) return;
      continue;
    }
    std::vector<JobEvent> batch;
    batch.swap(pending_);
    lock.unlock();
    Status stored;
    for (size_t first = 0; first < batch.size(); first += settings_.max_batch) {
      const size_t count = std::min(settings_.max_batch, batch.size() - first);
      Status one = history_.append(std::span<const JobEvent>(batch).subspan(first, count));
      if (!one.ok()) {
        spdlog::error("job history: {} events not stored: {}", count, one.message());
        stored = one;
      }
    }
    lock.lock();
    written_ += batch.size();
    last_error_ = stored;
    changed_.notify_all();
  }
}

// --- RecordingStatusStore ----------------------------------------------------

StatusOr<JobStatus> RecordingStatusStore::update(const JobStatus& update) {
  auto stored = inner_.update(update);
  if (stored.ok()) record_update(update, *stored);
  return stored;
}

StatusOr<JobStatus> RecordingStatusStore::update_durable(const JobStatus& update) {
  auto stored = inner_.update_durable(update);
  if (stored.ok()) record_durable(update, *stored);
  return stored;
}

std::vector<StatusOr<JobStatus>> RecordingStatusStore::update_batch(
    std::span<const JobStatus> updates) {
  auto stored = inner_.update_batch(updates);
  record_each(updates, stored, &RecordingStatusStore::record_update);
  return stored;
}

std::vector<StatusOr<JobStatus>> RecordingStatusStore::update_durable_batch(
    std::span<const JobStatus> updates) {
  auto stored = inner_.update_durable_batch(updates);
  record_each(updates, stored, &RecordingStatusStore::record_durable);
  return stored;
}

void RecordingStatusStore::record_each(std::span<const JobStatus> updates,
                                       const std::vector<StatusOr<JobStatus>>& stored,
                                       Record record) {
  for (size_t i = 0; i < stored.size() && i < updates.size(); ++i) {
    if (stored[i].ok()) (this->*record)(updates[i], *stored[i]);
  }
}

void RecordingStatusStore::record_durable(const JobStatus& update, const JobStatus& stored) {
  if (update.state == JobState::kRunning && update.attempt > 0 &&
      stored.state == JobState::kRunning && stored.attempt == update.attempt) {
    writer_.record(JobEvent{.job_id = update.job_id,
                            .job_type = stored.job_type,
                            .at = update.updated_at,
                            .kind = JobEventKind::kStarted,
                            .attempt = update.attempt,
                            .worker = worker_,
                            .detail = update.message});
  } else {
    record_update(update, stored);
  }
}

Status RecordingStatusStore::request_cancel(std::string_view job_id) {
  Status requested = inner_.request_cancel(job_id);
  if (!requested.ok()) return requested;
  auto current = inner_.get(job_id);
  writer_.record(JobEvent{.job_id = std::string(job_id),
                          .job_type = current.ok() ? current->job_type : std::string(),
                          .kind = JobEventKind::kCancelRequested,
                          .attempt = current.ok() ? current->attempt : 0,
                          .detail = "cancel requested"});
  return requested;
}

void RecordingStatusStore::record_update(const JobStatus& update, const JobStatus& stored) {
  JobEvent event{.job_id = update.job_id,
                 .job_type = stored.job_type,
                 .at = update.updated_at,
                 .attempt = stored.attempt,
                 .detail = update.message};
  const std::string_view message = update.message;
  if (is_terminal(update.state)) {
    // Only the update that made the job terminal: a repeat leaves the
    // stored status (and its updated_at) as the first one wrote it.
    if (stored.state != update.state || stored.updated_at != update.updated_at ||
        stored.message != update.message)
      return;
    event.kind = update.state == JobState::kCompleted ? JobEventKind::kCompleted
                 : update.state == JobState::kFailed  ? JobEventKind::kFailed
                                                      : JobEventKind::kCancelled;
    event.error_code = update.error_code;
    if (!update.error_message.empty()) event.detail = update.error_message;
    if (stored.attempt > 0 && update.attempt > 0) event.worker = worker_;
  } else if (update.state == JobState::kQueued) {
    if (stored.state != JobState::kQueued || stored.attempt != 0) return;
    event.kind = JobEventKind::kSubmitted;
    if (auto original = notices::replayed_from(message)) {
      event.kind = JobEventKind::kReplayOf;
      event.related_job_id = std::move(*original);
    } else if (auto retried = notices::retried_from(message)) {
      event.kind = JobEventKind::kRetryOf;
      event.related_job_id = std::move(*retried);
      writer_.record(JobEvent{.job_id = event.related_job_id,
                              .job_type = stored.job_type,
                              .at = update.updated_at,
                              .kind = JobEventKind::kRetried,
                              .related_job_id = update.job_id,
                              .detail = "retried as " + update.job_id});
    }
  } else if (update.state == JobState::kRunning) {
    if (notices::is_release(message)) {
      event.kind = JobEventKind::kReleased;
      event.worker = worker_;
    } else if (auto code = notices::retry_code(message)) {
      event.kind = JobEventKind::kRetry;
      event.attempt = update.attempt;
      event.error_code = *code;
      event.worker = worker_;
    } else {
      return;  // progress and other notices
    }
  } else if (to_string(update.state) == "scheduled") {
    event.kind = JobEventKind::kScheduled;
  } else {
    return;
  }
  writer_.record(std::move(event));
}

// --- RecordingJobQueue -------------------------------------------------------

Status RecordingJobQueue::dead_letter(const Delivery& delivery, const JobError& error,
                                      uint32_t attempts) {
  Status moved = inner_.dead_letter(delivery, error, attempts);
  if (moved.ok()) {
    writer_.record(JobEvent{.job_id = delivery.message.job_id,
                            .job_type = delivery.message.job_type,
                            .kind = JobEventKind::kDeadLettered,
                            .attempt = attempts,
                            .worker = worker_,
                            .error_code = error.code,
                            .detail = error.message});
  }
  return moved;
}

StatusOr<std::string> RecordingJobQueue::replay(std::string_view job_id) {
  auto replayed = inner_.replay(job_id);
  if (replayed.ok()) {
    writer_.record(JobEvent{.job_id = std::string(job_id),
                            .kind = JobEventKind::kReplayed,
                            .related_job_id = *replayed,
                            .detail = "replayed as " + *replayed});
  }
  return replayed;
}

// --- owning versions -----------------------------------------------------------

namespace {

// A decorator with what it borrows, so one shared_ptr keeps all of it.
template <class Port, class Decorator>
struct Owning {
  Owning(std::shared_ptr<Port> inner_port, std::shared_ptr<HistoryWriter> history_writer,
         std::string worker)
      : inner(std::move(inner_port)),
        writer(std::move(history_writer)),
        decorator(*inner, *writer, std::move(worker)) {}
  std::shared_ptr<Port> inner;
  std::shared_ptr<HistoryWriter> writer;
  Decorator decorator;
};

}  // namespace

std::shared_ptr<HistoryWriter> make_history_writer(std::shared_ptr<JobHistory> store,
                                                   HistoryWriterSettings settings) {
  struct Holder {
    Holder(std::shared_ptr<JobHistory> history, HistoryWriterSettings with)
        : store(std::move(history)), writer(*store, with) {}
    std::shared_ptr<JobHistory> store;
    HistoryWriter writer;
  };
  auto holder = std::make_shared<Holder>(std::move(store), settings);
  return std::shared_ptr<HistoryWriter>(holder, &holder->writer);
}

std::shared_ptr<StatusStore> record_history(std::shared_ptr<StatusStore> inner,
                                            std::shared_ptr<HistoryWriter> writer,
                                            std::string worker) {
  auto owning = std::make_shared<Owning<StatusStore, RecordingStatusStore>>(
      std::move(inner), std::move(writer), std::move(worker));
  return std::shared_ptr<StatusStore>(owning, &owning->decorator);
}

std::shared_ptr<JobQueue> record_history(std::shared_ptr<JobQueue> inner,
                                         std::shared_ptr<HistoryWriter> writer,
                                         std::string worker) {
  auto owning = std::make_shared<Owning<JobQueue, RecordingJobQueue>>(
      std::move(inner), std::move(writer), std::move(worker));
  return std::shared_ptr<JobQueue>(owning, &owning->decorator);
}

}  // namespace dtq
