#include "status_events.hpp"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <system_error>

#include "dtq/core/backoff.hpp"
#include "dtq/core/model_json.hpp"

namespace dtq::redis {
namespace {

constexpr std::string_view kChannelPrefix = "job:";
constexpr std::string_view kChannelSuffix = ":status";
// An idle pub/sub connection is pinged this often, so that a server that
// vanished without closing the socket is noticed.
constexpr auto kIdlePing = std::chrono::seconds(10);
// A session shorter than this counts as a failed connection for backoff.
constexpr auto kShortSession = std::chrono::seconds(1);
// Channels per SUBSCRIBE command when subscribing again after a reconnect.
constexpr size_t kChannelsPerCommand = 512;

std::string job_of_channel(std::string_view channel) {
  if (channel.size() <= kChannelPrefix.size() + kChannelSuffix.size() ||
      !channel.starts_with(kChannelPrefix) || !channel.ends_with(kChannelSuffix)) {
    return {};
  }
  channel.remove_prefix(kChannelPrefix.size());
  channel.remove_suffix(kChannelSuffix.size());
  return std::string(channel);
}

}  // namespace

std::string status_channel(std::string_view job_id) {
  std::string channel;
  channel.reserve(kChannelPrefix.size() + job_id.size() + kChannelSuffix.size());
  channel.append(kChannelPrefix).append(job_id).append(kChannelSuffix);
  return channel;
}

class StatusEvents::Subscription final : public StatusSubscription {
 public:
  Subscription(std::shared_ptr<StatusEvents> events, std::shared_ptr<Subscriber> subscriber)
      : events_(std::move(events)), subscriber_(std::move(subscriber)) {}
  ~Subscription() override {
    if (subscriber_) events_->remove(subscriber_);
  }
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

 private:
  std::shared_ptr<StatusEvents> events_;
  std::shared_ptr<Subscriber> subscriber_;  // null: never fires
};

StatusEvents::StatusEvents(RedisSettings settings, Fetch fetch)
    : settings_(std::move(settings)), fetch_(std::move(fetch)) {
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0)
    spdlog::error("redis status events: eventfd failed: {}",
                  std::generic_category().message(errno));
}

StatusEvents::~StatusEvents() {
  stop();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void StatusEvents::stop() {
  {
    MutexLock lock(mutex_);
    stopping_ = true;
  }
  confirmed_changed_.notify_all();
  wake();
  if (thread_.joinable()) thread_.join();
}

void StatusEvents::wake() const {
  if (wake_fd_ < 0) return;
  const uint64_t one = 1;
  // EAGAIN only when the counter is saturated: the thread is awake anyway.
  [[maybe_unused]] const auto written = ::write(wake_fd_, &one, sizeof one);
}

std::unique_ptr<StatusSubscription> StatusEvents::subscribe(
    std::string job_id, std::function<void(const JobStatus&)> on_change) {
  auto subscriber = std::make_shared<Subscriber>();
  subscriber->job_id = std::move(job_id);
  subscriber->on_change = std::move(on_change);
  const std::string channel = subscriber->job_id.empty() ? std::string(kEveryStatusPattern)
                                                         : status_channel(subscriber->job_id);
  {
    MutexLock lock(mutex_);
    if (stopping_ || wake_fd_ < 0) {
      spdlog::error("redis status events are stopped; a subscription to {} never fires", channel);
      return std::make_unique<Subscription>(shared_from_this(), nullptr);
    }
    if (subscriber->job_id.empty()) {
      every_.push_back(subscriber);
      ++every_job_;
    } else {
      by_job_.emplace(subscriber->job_id, subscriber);
      ++wanted_[channel];
    }
    if (!started_) {
      started_ = true;
      thread_ = std::thread([this] { run(); });
    }
  }
  wake();
  if (!wait_confirmed(channel)) {
    spdlog::warn(
        "redis at {} has not confirmed the subscription to {} yet; events until it does are missed",
        settings_.describe(), channel);
  }
  return std::make_unique<Subscription>(shared_from_this(), std::move(subscriber));
}

bool StatusEvents::wait_confirmed(const std::string& channel) {
  MutexLock lock(mutex_);
  // Bounded by one connection attempt and one round trip; not waited for
  // at all while the server is known to be down.
  return confirmed_changed_.wait_for(lock, settings_.connect_timeout + settings_.command_timeout,
                                     [&]() DTQ_REQUIRES(mutex_) {
                                       return stopping_ || down_ || confirmed_.contains(channel);
                                     }) &&
         confirmed_.contains(channel);
}

void StatusEvents::remove(const std::shared_ptr<Subscriber>& subscriber) {
  {
    MutexLock lock(mutex_);
    if (subscriber->job_id.empty()) {
      std::erase(every_, subscriber);
      --every_job_;
    } else {
      auto [first, last] = by_job_.equal_range(subscriber->job_id);
      for (auto it = first; it != last; ++it) {
        if (it->second == subscriber) {
          by_job_.erase(it);
          break;
        }
      }
      const auto wanted = wanted_.find(status_channel(subscriber->job_id));
      if (wanted != wanted_.end() && --wanted->second <= 0) wanted_.erase(wanted);
    }
  }
  wake();
  MutexLock calling(subscriber->calling);
  subscriber->active = false;
}

// Thread: when to PING an idle pub/sub connection, so that a server that
// vanished without closing the socket is noticed, and whether its PONG is
// late.
struct StatusEvents::KeepAlive {
  std::chrono::milliseconds answer_within;
  std::chrono::steady_clock::time_point last_read = std::chrono::steady_clock::now();
  bool awaiting_pong = false;
  std::chrono::steady_clock::time_point pong_due;

  int poll_timeout_ms() const {
    const auto next = awaiting_pong ? pong_due : last_read + kIdlePing;
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
                          next - std::chrono::steady_clock::now())
                          .count();
    return static_cast<int>(std::clamp<int64_t>(wait, 0, 60'000));
  }
};

bool StatusEvents::stopping() {
  MutexLock lock(mutex_);
  return stopping_;
}

void StatusEvents::set_down(bool down) {
  {
    MutexLock lock(mutex_);
    down_ = down;
  }
  if (down) confirmed_changed_.notify_all();
}

void StatusEvents::drain_wake_fd() const {
  uint64_t drained = 0;
  [[maybe_unused]] const auto got = ::read(wake_fd_, &drained, sizeof drained);
}

bool StatusEvents::sleep_before_reconnecting(uint32_t failures) {
  pollfd wake{.fd = wake_fd_, .events = POLLIN, .revents = 0};
  const auto deadline =
      std::chrono::steady_clock::now() +
      backoff_delay(settings_.reconnect_backoff_min, settings_.reconnect_backoff_max, failures);
  while (!stopping()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return true;
    // Woken early only to stop.
    if (::poll(&wake, 1, static_cast<int>(left.count())) > 0) drain_wake_fd();
  }
  return false;
}

void StatusEvents::run() {
  Connection connection(settings_);
  uint32_t failures = 0;
  bool served_before = false;
  bool reported_down = false;
  while (!stopping()) {
    if (failures > 0 && !sleep_before_reconnecting(failures)) return;
    if (Status connected = connection.connect(); !connected.ok()) {
      ++failures;
      if (!reported_down) {
        spdlog::warn("redis status events: {}; retrying with backoff up to {} ms",
                     connected.message(), settings_.reconnect_backoff_max.count());
        reported_down = true;
      }
      set_down(true);
      continue;
    }
    if (reported_down)
      spdlog::info("redis status events: connected to redis at {} again", settings_.describe());
    reported_down = false;
    set_down(false);
    const auto started = std::chrono::steady_clock::now();
    serve(connection, served_before);
    served_before = true;
    connection.close();
    {
      MutexLock lock(mutex_);
      sent_.clear();
      pending_.clear();
      confirmed_.clear();
    }
    failures = std::chrono::steady_clock::now() - started < kShortSession ? failures + 1 : 0;
  }
}

void StatusEvents::serve(Connection& connection, bool resync) {
  bool catch_up_due = resync;
  KeepAlive alive{.answer_within = settings_.command_timeout};
  const auto lost = [&](const Status& why) {
    if (!stopping()) spdlog::warn("redis status events: {}; reconnecting", why.message());
  };
  while (!stopping()) {
    if (Status s = sync_channels(connection); !s.ok()) return lost(s);
    if (catch_up_due && channels_settled()) {
      catch_up();
      catch_up_due = false;
    }
    if (Status s = wait_and_read(connection, alive); !s.ok()) return lost(s);
    if (Status s = keep_alive(connection, alive); !s.ok()) return lost(s);
  }
}

bool StatusEvents::channels_settled() {
  MutexLock lock(mutex_);
  return pending_.empty();
}

Status StatusEvents::wait_and_read(Connection& connection, KeepAlive& alive) {
  pollfd fds[2] = {{.fd = connection.fd(), .events = POLLIN, .revents = 0},
                   {.fd = wake_fd_, .events = POLLIN, .revents = 0}};
  if (::poll(fds, 2, alive.poll_timeout_ms()) < 0 && errno != EINTR)
    return internal_error(std::string("poll: ") + std::generic_category().message(errno));
  if ((fds[1].revents & POLLIN) != 0) drain_wake_fd();
  if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) == 0) return {};
  if (Status s = connection.read_available(); !s.ok()) return s;
  alive.last_read = std::chrono::steady_clock::now();
  while (true) {
    auto reply = connection.next_reply();
    if (!reply.ok()) return reply.status();
    if (!reply->has_value()) return {};
    const Reply& r = **reply;
    const bool pong =
        (r.type == Reply::Type::kStatus && r.text == "PONG") ||
        (r.type == Reply::Type::kArray && !r.elements.empty() && r.elements[0].text == "pong");
    if (pong) {
      alive.awaiting_pong = false;
    } else {
      handle(r);
    }
  }
}

Status StatusEvents::keep_alive(Connection& connection, KeepAlive& alive) {
  const auto now = std::chrono::steady_clock::now();
  if (alive.awaiting_pong && now > alive.pong_due) {
    return {StatusCode::kDeadlineExceeded, "no answer to PING from redis at " +
                                               settings_.describe() + " within " +
                                               std::to_string(alive.answer_within.count()) + " ms"};
  }
  if (alive.awaiting_pong || now - alive.last_read < kIdlePing) return {};
  const std::string_view ping[] = {"PING"};
  if (Status s = connection.append(ping); !s.ok()) return s;
  if (Status s = connection.flush(); !s.ok()) return s;
  alive.awaiting_pong = true;
  alive.pong_due = now + alive.answer_within;
  return {};
}

Status StatusEvents::sync_channels(Connection& connection) {
  std::vector<std::string> subscribe;
  std::vector<std::string> unsubscribe;
  bool psubscribe = false;
  bool punsubscribe = false;
  const std::string pattern(kEveryStatusPattern);
  {
    MutexLock lock(mutex_);
    for (const auto& [channel, count] : wanted_) {
      if (sent_.insert(channel).second) {
        subscribe.push_back(channel);
        ++pending_[channel];
      }
    }
    for (auto it = sent_.begin(); it != sent_.end();) {
      if (*it != pattern && !wanted_.contains(*it)) {
        unsubscribe.push_back(*it);
        confirmed_.erase(*it);
        it = sent_.erase(it);
      } else {
        ++it;
      }
    }
    if (every_job_ > 0 && sent_.insert(pattern).second) {
      psubscribe = true;
      ++pending_[pattern];
    } else if (every_job_ == 0 && sent_.erase(pattern) != 0) {
      punsubscribe = true;
      confirmed_.erase(pattern);
    }
  }
  for (const auto& channel : unsubscribe) last_delivered_.erase(job_of_channel(channel));
  if (subscribe.empty() && unsubscribe.empty() && !psubscribe && !punsubscribe) return {};

  const auto send = [&](std::string_view command,
                        const std::vector<std::string>& channels) -> Status {
    for (size_t first = 0; first < channels.size(); first += kChannelsPerCommand) {
      std::vector<std::string_view> args{command};
      const size_t last = std::min(channels.size(), first + kChannelsPerCommand);
      for (size_t i = first; i < last; ++i) args.emplace_back(channels[i]);
      if (Status s = connection.append(args); !s.ok()) return s;
    }
    return {};
  };
  if (Status s = send("SUBSCRIBE", subscribe); !s.ok()) return s;
  if (Status s = send("UNSUBSCRIBE", unsubscribe); !s.ok()) return s;
  if (psubscribe) {
    if (Status s = send("PSUBSCRIBE", {pattern}); !s.ok()) return s;
  }
  if (punsubscribe) {
    if (Status s = send("PUNSUBSCRIBE", {pattern}); !s.ok()) return s;
  }
  return connection.flush();
}

void StatusEvents::handle(const Reply& reply) {
  if (reply.is_error()) {
    spdlog::warn("redis status events: redis at {} answered {}", settings_.describe(), reply.text);
    return;
  }
  if (reply.type != Reply::Type::kArray || reply.elements.empty()) return;
  const std::string& kind = reply.elements[0].text;
  const auto& e = reply.elements;
  if ((kind == "subscribe" || kind == "psubscribe") && e.size() >= 2) {
    {
      MutexLock lock(mutex_);
      const auto it = pending_.find(e[1].text);
      if (it != pending_.end() && --it->second <= 0) {
        pending_.erase(it);
        if (sent_.contains(e[1].text)) confirmed_.insert(e[1].text);
      }
    }
    confirmed_changed_.notify_all();
    return;
  }
  const bool every_job = kind == "pmessage";
  if ((kind != "message" || e.size() != 3) && (!every_job || e.size() != 4)) return;
  const std::string& channel = every_job ? e[2].text : e[1].text;
  const std::string& payload = every_job ? e[3].text : e[2].text;
  const std::string job_id = job_of_channel(channel);
  auto status = parse_job_status(payload);
  if (job_id.empty() || !status.ok()) {
    spdlog::warn("redis status events: ignoring an unreadable event on {}: {}", channel,
                 status.ok() ? "not a job status channel" : status.status().message());
    return;
  }
  deliver(job_id, *status, every_job);
}

void StatusEvents::deliver(const std::string& job_id, const JobStatus& status, bool every_job) {
  std::vector<std::shared_ptr<Subscriber>> targets;
  {
    MutexLock lock(mutex_);
    if (every_job) {
      targets = every_;
    } else {
      auto [first, last] = by_job_.equal_range(job_id);
      for (auto it = first; it != last; ++it) targets.push_back(it->second);
    }
  }
  if (!every_job) last_delivered_[job_id] = status;
  for (const auto& target : targets) {
    MutexLock calling(target->calling);
    if (!target->active) continue;
    try {
      target->on_change(status);
    } catch (const std::exception& e) {
      spdlog::error("job_id={} status subscriber threw: {}", status.job_id, e.what());
    } catch (...) {
      spdlog::error("job_id={} status subscriber threw", status.job_id);
    }
  }
}

void StatusEvents::catch_up() {
  std::vector<std::string> jobs;
  {
    MutexLock lock(mutex_);
    for (const auto& [channel, count] : wanted_) jobs.push_back(job_of_channel(channel));
  }
  for (const auto& job_id : jobs) {
    auto current = fetch_(job_id);
    if (!current.ok()) {
      if (current.status().code() != StatusCode::kNotFound) {
        spdlog::warn("job_id={} status not re-read after a reconnection: {}", job_id,
                     current.status().message());
      }
      continue;
    }
    const auto last = last_delivered_.find(job_id);
    if (last == last_delivered_.end() || last->second != *current) deliver(job_id, *current, false);
  }
}

}  // namespace dtq::redis
