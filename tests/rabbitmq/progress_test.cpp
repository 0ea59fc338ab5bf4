// What only the progress request-reply does, on a real RabbitMQ:
// RabbitProgressQuery (the API side) and ProgressResponder (the worker
// side) with, through a raw rabbitmq-c client, any other client of the
// contract; timeouts, competing responders, heartbeats, and a broker restart
// in the middle. What every ProgressQuery does (known and unknown jobs, a
// source that fails, 1,000 concurrent callers) is the conformance suite's
// (progress_conformance_test.cpp).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "dtq/rabbitmq/progress_responder.hpp"
#include "dtq/rabbitmq/rabbit_progress_query.hpp"
#include "fakes/memory_status_store.hpp"
#include "rabbitmq_test_util.hpp"
#include "support/status_helpers.hpp"

namespace dtq::rabbitmq::testing {
namespace {

using ::testing::HasSubstr;
using SteadyClock = std::chrono::steady_clock;

// The keys of a JSON object, in order.
std::vector<std::string> keys_of(const std::string& json) {
  simdjson::dom::parser parser;
  simdjson::dom::object object;
  std::vector<std::string> keys;
  if (parser.parse(json).get(object) != simdjson::SUCCESS) return keys;
  for (const auto field : object) keys.emplace_back(field.key);
  return keys;
}

std::string string_field(const std::string& json, const char* key) {
  simdjson::dom::parser parser;
  std::string_view value;
  if (parser.parse(json)[key].get(value) != simdjson::SUCCESS) return "(absent)";
  return std::string(value);
}

class ProgressTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (cleanup_.empty()) return;
    RawAmqp raw(kSharedRabbit->port());
    for (const auto& queue : cleanup_) raw.delete_queue(queue);
  }

  RabbitSettings settings() {
    RabbitSettings s = test_settings();
    cleanup_.push_back(s.request_queue);
    return s;
  }

  static std::unique_ptr<RabbitProgressQuery> query(const RabbitSettings& s) {
    auto q = RabbitProgressQuery::connect(s);
    EXPECT_TRUE(q.ok()) << q.status().message();
    return q.ok() ? std::move(q).value() : nullptr;
  }
  static std::unique_ptr<ProgressResponder> responder(const RabbitSettings& s, StatusStore& store) {
    auto r = ProgressResponder::start(s, store);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? std::move(r).value() : nullptr;
  }

  std::vector<std::string> cleanup_;
};

// Unknown jobs are the conformance suite's; an id that is no job id is
// refused before anything is sent.
TEST_F(ProgressTest, AMalformedJobIdIsInvalidArgument) {
  auto api = query(settings());
  ASSERT_TRUE(api);
  EXPECT_EQ(api->progress("not-a-uuid").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ProgressTest, WithoutAResponderTheCallTimesOutAndTheRequestExpires) {
  RabbitSettings s = settings();
  s.reply_timeout = 700ms;
  auto api = query(s);
  ASSERT_TRUE(api);
  const auto started = SteadyClock::now();
  auto got = api->progress(new_uuid4());
  const auto took = SteadyClock::now() - started;
  EXPECT_EQ(got.status().code(), StatusCode::kDeadlineExceeded) << got.status().message();
  EXPECT_THAT(got.status().message(), HasSubstr("within 700 ms"));
  EXPECT_GE(took, 690ms);
  EXPECT_LT(took, 3s);
  EXPECT_EQ(api->in_flight(), 0u);
  // The request carried a TTL of reply_timeout: nobody finds it later.
  RawAmqp raw(kSharedRabbit->port());
  ASSERT_TRUE(raw.ok());
  EXPECT_TRUE(eventually([&] { return raw.message_count(s.request_queue) == 0; }, 5s));
}

TEST_F(ProgressTest, TheRequestOnTheWireIsTheContracts) {
  const RabbitSettings s = settings();
  auto api = query(s);
  ASSERT_TRUE(api);
  RawAmqp worker(kSharedRabbit->port());
  ASSERT_TRUE(worker.ok());
  ASSERT_TRUE(worker.consume(s.request_queue, /*no_ack=*/false));
  const std::string id = new_uuid4();
  StatusOr<JobStatus> answer = internal_error("not answered");
  std::thread caller([&] { answer = api->progress(id); });

  auto request = worker.next(5s);
  ASSERT_TRUE(request.has_value());
  EXPECT_EQ(keys_of(request->body),
            (std::vector<std::string>{"job_id", "request_id", "requested_at"}));
  EXPECT_EQ(string_field(request->body, "job_id"), id);
  EXPECT_EQ(request->correlation_id, string_field(request->body, "request_id"));
  EXPECT_TRUE(is_uuid(request->correlation_id)) << request->correlation_id;
  EXPECT_TRUE(parse_rfc3339(string_field(request->body, "requested_at")).has_value());
  EXPECT_THAT(request->reply_to, ::testing::StartsWith("amq.rabbitmq.reply-to"));
  EXPECT_EQ(request->content_type, "application/json");
  EXPECT_EQ(request->expiration, std::to_string(s.reply_timeout.count()));

  // A worker written in anything answers; the caller gets its status.
  const std::string reply = R"({"job_id":")" + id +
                            R"(","state":"running","progress_percent":50,"message":"parsing",)"
                            R"("timestamp":"2026-11-23T09:15:28.123Z"})";
  ASSERT_TRUE(worker.publish(request->reply_to, reply, request->correlation_id, ""));
  ASSERT_TRUE(worker.ack(request->delivery_tag));
  caller.join();
  ASSERT_TRUE(answer.ok()) << answer.status().message();
  EXPECT_EQ(answer->state, JobState::kRunning);
  EXPECT_EQ(answer->progress_percent, 50);
  EXPECT_EQ(answer->message, "parsing");
  EXPECT_EQ(answer->updated_at, "2026-11-23T09:15:28.123Z");
}

TEST_F(ProgressTest, TheReplyOnTheWireIsTheContracts) {
  const RabbitSettings s = settings();
  fakes::MemoryStatusStore store;
  const std::string id = new_uuid4();
  const JobStatus status = running_status(id, 20, "geocoding");
  update_ok(store, status);
  auto worker = responder(s, store);
  ASSERT_TRUE(worker);
  RawAmqp client(kSharedRabbit->port());
  ASSERT_TRUE(client.ok());
  const auto reply_queue = client.declare("", false, /*exclusive=*/true, /*auto_delete=*/true);
  ASSERT_TRUE(reply_queue.has_value());
  ASSERT_TRUE(client.consume(*reply_queue, /*no_ack=*/true));

  const std::string request_id = new_uuid4();
  ASSERT_TRUE(client.publish(s.request_queue,
                             R"({"job_id":")" + id + R"(","request_id":")" + request_id +
                                 R"(","requested_at":")" + now_rfc3339() + R"("})",
                             request_id, *reply_queue));
  auto reply = client.next(5s);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->correlation_id, request_id);
  EXPECT_EQ(reply->content_type, "application/json");
  EXPECT_EQ(keys_of(reply->body), (std::vector<std::string>{"job_id", "state", "progress_percent",
                                                            "message", "timestamp", "trace_id"}));
  EXPECT_EQ(string_field(reply->body, "job_id"), id);
  EXPECT_EQ(string_field(reply->body, "state"), "running");
  EXPECT_EQ(string_field(reply->body, "message"), "geocoding");
  EXPECT_EQ(string_field(reply->body, "timestamp"), status.updated_at);
  EXPECT_THAT(reply->body, HasSubstr(R"("progress_percent":20)"));

  // Unknown job: the same shape, state "not_found".
  const std::string unknown_request = new_uuid4();
  ASSERT_TRUE(client.publish(s.request_queue, R"({"job_id":")" + new_uuid4() + R"("})",
                             unknown_request, *reply_queue));
  reply = client.next(5s);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->correlation_id, unknown_request);
  EXPECT_EQ(string_field(reply->body, "state"), "not_found");
  EXPECT_EQ(keys_of(reply->body), (std::vector<std::string>{"job_id", "state", "progress_percent",
                                                            "message", "timestamp"}));

  // Requests nobody can answer are acknowledged and dropped, not redelivered
  // for ever; the responder carries on.
  ASSERT_TRUE(client.publish(s.request_queue, "not json", new_uuid4(), *reply_queue));
  ASSERT_TRUE(client.publish(s.request_queue, R"({"job_id":")" + id + R"("})", new_uuid4(), ""));
  const std::string after = new_uuid4();
  ASSERT_TRUE(
      client.publish(s.request_queue, R"({"job_id":")" + id + R"("})", after, *reply_queue));
  reply = client.next(5s);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->correlation_id, after);
  RawAmqp look(kSharedRabbit->port());
  EXPECT_TRUE(eventually([&] { return look.message_count(s.request_queue) == 0; }, 5s));
  EXPECT_TRUE(worker->healthy());
}

// A responder takes every request it holds at once and reads their
// statuses together: queued before it starts, these reach it in one go, and
// each reply still answers its own request, around the unreadable ones.
TEST_F(ProgressTest, RequestsTakenTogetherAreEachAnsweredForTheirOwnJob) {
  const RabbitSettings s = settings();
  fakes::MemoryStatusStore store;
  const std::string running = new_uuid4();
  const std::string done = new_uuid4();
  update_ok(store, running_status(running, 30, "working"));
  update_ok(store,
            JobStatus{.job_id = done, .state = JobState::kCompleted, .progress_percent = 100});
  RawAmqp client(kSharedRabbit->port());
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE(client.declare(s.request_queue, /*durable=*/true, false, false).has_value());
  const auto reply_queue = client.declare("", false, /*exclusive=*/true, /*auto_delete=*/true);
  ASSERT_TRUE(reply_queue.has_value());
  ASSERT_TRUE(client.consume(*reply_queue, /*no_ack=*/true));
  // correlation id -> the job and the state its reply must carry
  std::map<std::string, std::pair<std::string, std::string>> expected;
  const auto ask = [&](const std::string& job_id, const char* state) {
    const std::string correlation = new_uuid4();
    expected[correlation] = {job_id, state};
    ASSERT_TRUE(client.publish(s.request_queue, R"({"job_id":")" + job_id + R"("})", correlation,
                               *reply_queue));
  };
  ask(running, "running");
  ASSERT_TRUE(client.publish(s.request_queue, "not json", new_uuid4(), *reply_queue));
  ask(new_uuid4(), "not_found");
  ask(done, "completed");
  ASSERT_TRUE(client.publish(s.request_queue, R"({"job_id":")" + done + R"("})", new_uuid4(), ""));
  ask(running, "running");

  auto worker = responder(s, store);
  ASSERT_TRUE(worker);
  for (size_t i = 0; i < 4; ++i) {
    auto reply = client.next(5s);
    ASSERT_TRUE(reply.has_value()) << "reply " << i;
    const auto asked = expected.find(reply->correlation_id);
    ASSERT_NE(asked, expected.end()) << reply->body;
    EXPECT_EQ(string_field(reply->body, "job_id"), asked->second.first);
    EXPECT_EQ(string_field(reply->body, "state"), asked->second.second);
    expected.erase(asked);
  }
  RawAmqp look(kSharedRabbit->port());
  EXPECT_TRUE(eventually([&] { return look.message_count(s.request_queue) == 0; }, 5s));
}

TEST_F(ProgressTest, TheRequestQueueIsDurable) {
  const RabbitSettings s = settings();
  auto api = query(s);
  ASSERT_TRUE(api);
  RawAmqp raw(kSharedRabbit->port());
  ASSERT_TRUE(raw.ok());
  EXPECT_FALSE(raw.declare(s.request_queue, /*durable=*/false, false, false).has_value());
  EXPECT_EQ(raw.channel_close_code(), 406);  // PRECONDITION_FAILED: it exists, durable
  RawAmqp again(kSharedRabbit->port());
  EXPECT_TRUE(again.declare(s.request_queue, /*durable=*/true, false, false).has_value());

  // A queue of that name declared otherwise by someone else stops start-up.
  const RabbitSettings other = settings();
  ASSERT_TRUE(again.declare(other.request_queue, /*durable=*/false, false, false).has_value());
  auto refused = RabbitProgressQuery::connect(other);
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition) << refused.status().message();
  EXPECT_THAT(refused.status().message(), HasSubstr("406 PRECONDITION_FAILED"));
}

TEST_F(ProgressTest, TwoRespondersShareTheLoad) {
  RabbitSettings s = settings();
  s.prefetch = 4;
  fakes::MemoryStatusStore store;
  store.set_read_latency(2ms);  // a store round trip, so that one responder cannot take it all
  constexpr int kRequests = 300;
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) {
    ids.push_back(new_uuid4());
    update_ok(store, running_status(ids.back(), i, "job"));
  }
  auto first = responder(s, store);
  auto second = responder(s, store);
  auto api = query(s);
  ASSERT_TRUE(first && second && api);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 10; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < kRequests; i += 10) {
        auto got = api->progress(ids[i % ids.size()]);
        if (got.ok() && got->job_id == ids[i % ids.size()]) ++ok;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(ok.load(), kRequests);
  EXPECT_TRUE(eventually([&] { return first->answered() + second->answered() == kRequests; }, 5s));
  EXPECT_GT(first->answered(), kRequests / 10) << first->answered() << " / " << second->answered();
  EXPECT_GT(second->answered(), kRequests / 10) << first->answered() << " / " << second->answered();

  // One stops: the other answers everything.
  first.reset();
  auto got = api->progress(ids[0]);
  EXPECT_TRUE(got.ok()) << got.status().message();
}

TEST_F(ProgressTest, AReplyToACallerThatLeftIsDroppedQuietly) {
  RabbitSettings s = settings();
  fakes::MemoryStatusStore store;
  const std::string id = new_uuid4();
  update_ok(store, running_status(id, 10, "slow"));
  store.set_read_latency(1500ms);  // answers after the caller gave up and left
  auto worker = responder(s, store);
  ASSERT_TRUE(worker);
  {
    RabbitSettings impatient = s;
    impatient.reply_timeout = 200ms;
    auto api = query(impatient);
    ASSERT_TRUE(api);
    EXPECT_EQ(api->progress(id).status().code(), StatusCode::kDeadlineExceeded);
  }  // the caller's connection (and its direct reply-to) is gone
  EXPECT_TRUE(throughout([&] { return worker->healthy(); }, 2500ms));
  EXPECT_EQ(worker->answered(), 1u);  // published into the void, and acknowledged
  store.set_read_latency(0ms);
  auto api = query(s);
  ASSERT_TRUE(api);
  EXPECT_TRUE(api->progress(id).ok());
}

TEST_F(ProgressTest, AnIdleConnectionStaysUpOnHeartbeats) {
  RabbitSettings s = settings();
  s.heartbeat = std::chrono::seconds(1);  // the broker closes after ~2 s without one
  fakes::MemoryStatusStore store;
  const std::string id = new_uuid4();
  update_ok(store, running_status(id, 50, "idle"));
  auto worker = responder(s, store);
  auto api = query(s);
  ASSERT_TRUE(worker && api);
  EXPECT_TRUE(throughout([&] { return api->healthy() && worker->healthy(); }, 4s));
  EXPECT_TRUE(api->progress(id).ok());
}

TEST_F(ProgressTest, AnUnreachableBrokerStopsStartUpWithAClearMessage) {
  RabbitSettings s = test_settings(dtq::testing::pick_ports());
  fakes::MemoryStatusStore store;
  auto api = RabbitProgressQuery::connect(s);
  ASSERT_FALSE(api.ok());
  EXPECT_EQ(api.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(api.status().message(),
              HasSubstr("cannot connect to RabbitMQ at 127.0.0.1:" + std::to_string(s.port)));
  auto worker = ProgressResponder::start(s, store);
  ASSERT_FALSE(worker.ok());
  EXPECT_EQ(worker.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(worker.status().message(), HasSubstr("progress responder: cannot start"));

  RabbitSettings wrong = settings();
  wrong.password = "not-the-password";
  auto refused = RabbitProgressQuery::connect(wrong);
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition) << refused.status().message();
  EXPECT_THAT(refused.status().message(), ::testing::Not(HasSubstr("not-the-password")));

  RabbitSettings bad = settings();
  bad.request_queue = "amq.mine";
  EXPECT_EQ(RabbitProgressQuery::connect(bad).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ProgressTest, BothSidesRecoverFromABrokerRestart) {
  uint16_t port = 0;
  auto broker = make_rabbitmq(port);
  ASSERT_TRUE(broker->start());
  RabbitSettings s = test_settings(port);
  s.reply_timeout = 2s;
  fakes::MemoryStatusStore store;
  const std::string id = new_uuid4();
  update_ok(store, running_status(id, 20, "before"));
  auto worker = responder(s, store);
  auto api = query(s);
  ASSERT_TRUE(worker && api);
  ASSERT_TRUE(api->progress(id).ok());
  // A call in flight when the broker goes away fails then, not at its
  // timeout: its requests go to a queue nobody answers.
  RabbitSettings unanswered = s;
  unanswered.request_queue += ".unanswered";
  unanswered.reply_timeout = 20s;
  auto waiting = query(unanswered);
  ASSERT_TRUE(waiting);
  StatusOr<JobStatus> in_flight = internal_error("not returned");
  SteadyClock::duration in_flight_took{};
  std::thread caller([&] {
    const auto started = SteadyClock::now();
    in_flight = waiting->progress(id);
    in_flight_took = SteadyClock::now() - started;
  });
  ASSERT_TRUE(eventually([&] { return waiting->in_flight() == 1; }, 5s));

  ASSERT_TRUE(broker->stop());
  caller.join();
  EXPECT_EQ(in_flight.status().code(), StatusCode::kUnavailable) << in_flight.status().message();
  EXPECT_THAT(in_flight.status().message(), HasSubstr("lost before the reply came"));
  EXPECT_LT(in_flight_took, 15s);
  EXPECT_TRUE(eventually([&] { return !api->healthy() && !worker->healthy(); }, 10s));
  const auto started = SteadyClock::now();
  auto down = api->progress(id);
  EXPECT_EQ(down.status().code(), StatusCode::kUnavailable) << down.status().message();
  EXPECT_LT(SteadyClock::now() - started, 500ms);  // at once, not after the timeout

  ASSERT_TRUE(broker->start());
  EXPECT_TRUE(eventually([&] { return api->healthy() && worker->healthy(); }, 30s));
  update_ok(store, running_status(id, 80, "after"));
  auto got = api->progress(id);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->progress_percent, 80);
  EXPECT_EQ(got->message, "after");
}

}  // namespace
}  // namespace dtq::rabbitmq::testing
