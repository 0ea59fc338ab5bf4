#include "dtq/rabbitmq/rabbit_progress_query.hpp"

#include <spdlog/spdlog.h>

#include <future>
#include <mutex>
#include <unordered_map>
#include <utility>

#include "amqp_session.hpp"
#include "dtq/core/ids.hpp"
#include "dtq/core/time.hpp"
#include "progress_messages.hpp"

namespace dtq::rabbitmq {
namespace {

// RabbitMQ's direct reply-to pseudo-queue: replies come straight back to
// the consumer on this channel, with no reply queue to declare or delete.
constexpr std::string_view kDirectReplyTo = "amq.rabbitmq.reply-to";

}  // namespace

class RabbitProgressQuery::Impl {
 public:
  explicit Impl(RabbitSettings settings)
      : session_(std::move(settings), "progress query",
                 AmqpSession::Hooks{
                     .on_open = [this](Channel& channel) { return on_open(channel); },
                     .on_delivery = [this](Channel&,
                                           Delivery&& delivery) { on_reply(std::move(delivery)); },
                     .on_lost =
                         [this](const Status& why) {
                           fail_all(unavailable(
                               "the connection to RabbitMQ at " + session_.settings().describe() +
                               " was lost before the reply came: " + why.message()));
                         }}) {}

  ~Impl() {
    session_.stop();
    fail_all(Status(StatusCode::kCancelled, "the progress query is shutting down"));
  }

  Status start() { return session_.start(); }

  StatusOr<JobStatus> progress(std::string_view job_id) {
    if (!is_uuid(job_id))
      return invalid_argument("job id \"" + std::string(job_id) + "\" is not a UUID");
    const RabbitSettings& settings = session_.settings();
    if (!session_.healthy()) {
      return unavailable("not connected to RabbitMQ at " + settings.describe() + " (reconnecting)");
    }
    const std::string request_id = new_uuid4();
    auto pending = std::make_shared<Pending>();
    pending->job_id = std::string(job_id);
    auto answer = pending->promise.get_future();
    {
      std::lock_guard lock(mutex_);
      pending_.emplace(request_id, pending);
    }
    Message message;
    message.body = to_json(ProgressRequest{
        .job_id = std::string(job_id), .request_id = request_id, .requested_at = now_rfc3339()});
    message.content_type = "application/json";
    message.correlation_id = request_id;
    message.reply_to = std::string(kDirectReplyTo);
    message.expiration = std::to_string(settings.reply_timeout.count());
    session_.post([this, request_id, message = std::move(message)](Channel* channel) {
      const Status sent =
          channel != nullptr
              ? channel->publish(session_.settings().request_queue, message)
              : unavailable("not connected to RabbitMQ at " + session_.settings().describe());
      if (!sent.ok()) complete(request_id, sent);
    });

    if (answer.wait_for(settings.reply_timeout) == std::future_status::ready) return answer.get();
    {
      std::lock_guard lock(mutex_);
      if (pending_.erase(request_id) == 0) {
        // Answered between the timeout and now.
        return answer.get();
      }
    }
    return Status(StatusCode::kDeadlineExceeded,
                  "no progress reply for job " + std::string(job_id) + " within " +
                      std::to_string(settings.reply_timeout.count()) + " ms (request " +
                      request_id + " on " + settings.request_queue + "): is a worker answering?");
  }

  bool healthy() const { return session_.healthy(); }
  size_t in_flight() const {
    std::lock_guard lock(mutex_);
    return pending_.size();
  }
  const RabbitSettings& settings() const { return session_.settings(); }

 private:
  struct Pending {
    std::string job_id;
    std::promise<StatusOr<JobStatus>> promise;
  };

  Status on_open(Channel& channel) {
    if (Status s = channel.declare_durable_queue(session_.settings().request_queue); !s.ok())
      return s;
    auto consumer = channel.consume(std::string(kDirectReplyTo), /*no_ack=*/true);
    if (!consumer.ok()) return consumer.status();
    return {};
  }

  // Hands a reply to the caller waiting for its correlation id.
  void on_reply(Delivery&& delivery) {
    const std::string& id = delivery.message.correlation_id;
    std::shared_ptr<Pending> pending;
    {
      std::lock_guard lock(mutex_);
      const auto it = pending_.find(id);
      if (it == pending_.end()) {
        spdlog::debug("rabbitmq progress query: a reply for request {} nobody waits for (late?)",
                      id.empty() ? "(no correlation_id)" : id);
        return;
      }
      pending = std::move(it->second);
      pending_.erase(it);
    }
    auto answer = parse_progress_reply(delivery.message.body, pending->job_id);
    if (!answer.ok() && answer.status().code() == StatusCode::kInternal) {
      spdlog::warn("rabbitmq progress query: job_id={} request {}: {}", pending->job_id, id,
                   answer.status().message());
    }
    pending->promise.set_value(std::move(answer));
  }

  void complete(const std::string& request_id, const Status& status) {
    std::shared_ptr<Pending> pending;
    {
      std::lock_guard lock(mutex_);
      const auto it = pending_.find(request_id);
      if (it == pending_.end()) return;
      pending = std::move(it->second);
      pending_.erase(it);
    }
    pending->promise.set_value(status);
  }

  void fail_all(const Status& status) {
    std::unordered_map<std::string, std::shared_ptr<Pending>> failed;
    {
      std::lock_guard lock(mutex_);
      failed.swap(pending_);
    }
    for (auto& [id, pending] : failed) pending->promise.set_value(status);
  }

  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<Pending>> pending_;
  AmqpSession session_;  // last: its thread stops before the map goes
};

StatusOr<std::unique_ptr<RabbitProgressQuery>> RabbitProgressQuery::connect(
    RabbitSettings settings) {
  if (Status valid = settings.validate(); !valid.ok()) return valid;
  auto impl = std::make_unique<Impl>(std::move(settings));
  if (Status started = impl->start(); !started.ok()) return started;
  return std::unique_ptr<RabbitProgressQuery>(new RabbitProgressQuery(std::move(impl)));
}

RabbitProgressQuery::RabbitProgressQuery(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RabbitProgressQuery::~RabbitProgressQuery() = default;

StatusOr<JobStatus> RabbitProgressQuery::progress(std::string_view job_id) {
  return impl_->progress(job_id);
}
bool RabbitProgressQuery::healthy() const {
  return impl_->healthy();
}
size_t RabbitProgressQuery::in_flight() const {
  return impl_->in_flight();
}
const RabbitSettings& RabbitProgressQuery::settings() const {
  return impl_->settings();
}

}  // namespace dtq::rabbitmq
