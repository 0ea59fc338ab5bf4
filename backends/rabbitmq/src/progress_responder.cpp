#include "dtq/rabbitmq/progress_responder.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "amqp_session.hpp"
#include "progress_messages.hpp"

namespace dtq::rabbitmq {

class ProgressResponder::Impl {
 public:
  Impl(RabbitSettings settings, StatusStore& statuses)
      : statuses_(statuses),
        session_(
            std::move(settings), "progress responder",
            AmqpSession::Hooks{.on_open = [this](Channel& channel) { return on_open(channel); },
                               .on_delivery =
                                   [this](Channel& channel, Delivery&& delivery) {
                                     on_request(channel, std::move(delivery));
                                   },
                               .on_lost = [this](const Status&) { drop_queued(); }}) {}

  ~Impl() { stop(); }

  Status start() {
    for (size_t i = 0; i < session_.settings().handler_threads; ++i) {
      handlers_.emplace_back([this] { handle(); });
    }
    Status started = session_.start();
    if (!started.ok()) stop();
    return started;
  }

  void stop() {
    // Consuming stops first: the broker hands what this responder held to
    // the others at once.
    session_.stop();
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      work_.clear();
    }
    ready_.notify_all();
    for (auto& handler : handlers_) {
      if (handler.joinable()) handler.join();
    }
  }

  [[nodiscard]] bool healthy() const { return session_.healthy(); }
  [[nodiscard]] uint64_t answered() const { return answered_.load(std::memory_order_relaxed); }
  [[nodiscard]] const RabbitSettings& settings() const { return session_.settings(); }

 private:
  struct Work {
    uint64_t generation = 0;
    uint64_t delivery_tag = 0;
    std::string reply_to;
    std::string correlation_id;
    std::string body;
  };

  Status on_open(Channel& channel) {
    unacked_.clear();  // a new connection's tags start again from 1
    const RabbitSettings& settings = session_.settings();
    if (Status s = channel.declare_durable_queue(settings.request_queue); !s.ok()) return s;
    if (Status s = channel.qos(settings.prefetch); !s.ok()) return s;
    auto consumer = channel.consume(settings.request_queue, /*no_ack=*/false);
    if (!consumer.ok()) return consumer.status();
    return {};
  }

  // On the I/O thread: unanswerable requests are acknowledged and dropped
  // here; the others go to the handlers (at most `prefetch` at a time: the
  // broker sends no more until some are acknowledged).
  void on_request(Channel& channel, Delivery&& delivery) {
    if (delivery.message.reply_to.empty()) {
      spdlog::warn(
          "rabbitmq progress responder: a request without reply_to (correlation_id {}); dropped",
          delivery.message.correlation_id);
      unacked_.push_back(Unacked{.delivery_tag = delivery.delivery_tag, .answered = true});
      (void)ack_answered(channel);
      return;
    }
    unacked_.push_back(Unacked{.delivery_tag = delivery.delivery_tag});
    bool first = false;
    {
      std::lock_guard lock(mutex_);
      first = work_.empty();
      work_.push_back(Work{.generation = session_.generation(),
                           .delivery_tag = delivery.delivery_tag,
                           .reply_to = std::move(delivery.message.reply_to),
                           .correlation_id = std::move(delivery.message.correlation_id),
                           .body = std::move(delivery.message.body)});
    }
    // One handler per batch: the one woken takes everything queued by then
    // (a handler that finishes looks again before it sleeps).
    if (first) ready_.notify_one();
  }

  // Requests of a lost connection: the broker delivers them again.
  void drop_queued() {
    std::lock_guard lock(mutex_);
    work_.clear();
  }

  // Takes every request queued (the broker hands at most `prefetch`), so
  // that their statuses are read in one round trip and their replies sent
  // in one wake-up of the I/O thread: one at a time, the round trips and
  // the hand-offs to the I/O thread bounded the replies per second.
  void handle() {
    for (;;) {
      std::vector<Work> batch;
      {
        std::unique_lock lock(mutex_);
        ready_.wait(lock, [&] { return stopping_ || !work_.empty(); });
        if (stopping_) return;
        batch.swap(work_);
      }
      answer(std::move(batch));
    }
  }

  struct Answer {
    Work work;
    std::optional<Message> reply;  // none: unreadable, acknowledged and dropped
  };

  void answer(std::vector<Work> batch) {
    std::vector<Answer> answers;
    answers.reserve(batch.size());
    std::vector<std::string> job_ids;
    for (Work& work : batch) {
      auto request = parse_progress_request(work.body);
      if (!request.ok()) {
        spdlog::warn(
            "rabbitmq progress responder: unreadable request (correlation_id {}): {}; dropped",
            work.correlation_id, request.status().message());
        answers.push_back(Answer{.work = std::move(work)});
        continue;
      }
      Message reply;
      reply.content_type = "application/json";
      // The contract's correlation id; a client that left it out still
      // gets its request_id back.
      reply.correlation_id =
          work.correlation_id.empty() ? request->request_id : work.correlation_id;
      job_ids.push_back(std::move(request->job_id));
      answers.push_back(Answer{.work = std::move(work), .reply = std::move(reply)});
    }
    const auto statuses = statuses_.get_batch(job_ids);
    size_t next_status = 0;
    for (Answer& answer : answers) {
      if (!answer.reply) continue;
      answer.reply->body = reply_json(job_ids[next_status], statuses[next_status]);
      ++next_status;
    }
    session_.post([this, answers = std::move(answers)](Channel* channel) {
      // Replies for requests of an older connection are dropped: their
      // delivery tags mean nothing now and the broker redelivers them.
      if (channel == nullptr) return;
      for (const Answer& answer : answers) {
        if (session_.generation() != answer.work.generation) continue;
        if (answer.reply) {
          if (Status sent = channel->publish(answer.work.reply_to, *answer.reply); !sent.ok()) {
            spdlog::warn("rabbitmq progress responder: {}", sent.message());
            return;  // not acknowledged: the connection is failing, they come back
          }
          answered_.fetch_add(1, std::memory_order_relaxed);
        }
        mark_answered(answer.work.delivery_tag);
      }
      if (Status acked = ack_answered(*channel); !acked.ok())
        spdlog::warn("rabbitmq progress responder: {}", acked.message());
    });
  }

  // On the I/O thread: a request of this connection is answered (or
  // dropped as unreadable).
  void mark_answered(uint64_t delivery_tag) {
    const auto it = std::lower_bound(
        unacked_.begin(), unacked_.end(), delivery_tag,
        [](const Unacked& pending, uint64_t tag) { return pending.delivery_tag < tag; });
    if (it != unacked_.end() && it->delivery_tag == delivery_tag) it->answered = true;
  }

  // On the I/O thread: one ack, with multiple set, of every answered
  // request before the first one still unanswered.
  Status ack_answered(Channel& channel) {
    uint64_t last = 0;
    while (!unacked_.empty() && unacked_.front().answered) {
      last = unacked_.front().delivery_tag;
      unacked_.pop_front();
    }
    if (last == 0) return {};
    return channel.ack(last, /*multiple=*/true);
  }

  // A request not yet acknowledged, as the I/O thread tracks it.
  struct Unacked {
    uint64_t delivery_tag = 0;
    bool answered = false;
  };

  StatusStore& statuses_;
  // This connection's requests not yet acknowledged, in the order the broker
  // delivered them (a channel's delivery tags only grow); only the I/O
  // thread touches it. Acknowledging them with one multiple ack per batch
  // costs the broker and the I/O thread one frame instead of one per
  // request, and since the ack stops at the first unanswered request (a
  // batch still being read on another handler), none is acknowledged before
  // it is answered.
  std::deque<Unacked> unacked_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::vector<Work> work_;
  bool stopping_ = false;
  std::vector<std::thread> handlers_;
  std::atomic<uint64_t> answered_{0};
  AmqpSession session_;
};

StatusOr<std::unique_ptr<ProgressResponder>> ProgressResponder::start(RabbitSettings settings,
                                                                      StatusStore& statuses) {
  if (Status valid = settings.validate(); !valid.ok()) return valid;
  auto impl = std::make_unique<Impl>(std::move(settings), statuses);
  if (Status started = impl->start(); !started.ok()) return started;
  return std::unique_ptr<ProgressResponder>(new ProgressResponder(std::move(impl)));
}

ProgressResponder::ProgressResponder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ProgressResponder::~ProgressResponder() = default;

bool ProgressResponder::healthy() const {
  return impl_->healthy();
}
uint64_t ProgressResponder::answered() const {
  return impl_->answered();
}
const RabbitSettings& ProgressResponder::settings() const {
  return impl_->settings();
}

}  // namespace dtq::rabbitmq
