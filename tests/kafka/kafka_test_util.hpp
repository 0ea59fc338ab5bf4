// Helpers of the Kafka tests: the broker of scripts/servers/kafka.sh (or the
// one DTQ_KAFKA_BOOTSTRAP names), settings with topic and group names of
// their own per test, messages, and taking with a deadline.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "dtq/core/ids.hpp"
#include "dtq/core/time.hpp"
#include "dtq/kafka/kafka_job_queue.hpp"

namespace dtq::kafka::testing {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

// "host:port" of the test broker. Without DTQ_KAFKA_BOOTSTRAP, runs
// `scripts/servers/kafka.sh start` (a no-op when it already runs) once per
// process; a failure fails the calling test.
std::string bootstrap();
// True when the broker is the scripts' own, which a test may restart.
bool broker_is_scripted();
// `scripts/servers/kafka.sh stop` / `start`; true on success.
bool stop_broker();
bool start_broker();

// Settings with fresh topic and group names (a random prefix) and short
// timeouts; `partitions` for the topics it creates.
KafkaSettings test_settings(int32_t partitions = 3);

inline JobMessage make_message(std::string job_type = "echo", std::string payload = "{}") {
  return JobMessage{.job_id = new_uuid4(),
                    .job_type = std::move(job_type),
                    .submitted_at = now_rfc3339(),
                    .trace_id = new_uuid4(),
                    .payload = std::move(payload)};
}

std::unique_ptr<KafkaJobQueue> open_queue(const KafkaSettings& settings);

// Takes until `count` deliveries arrived or `limit` passed.
std::vector<Delivery> take_n(JobQueue& queue, size_t count, std::chrono::milliseconds limit = 30s,
                             std::string_view job_type = "echo");

template <class Predicate>
bool eventually(Predicate predicate, std::chrono::milliseconds limit) {
  const auto until = SteadyClock::now() + limit;
  while (SteadyClock::now() < until) {
    if (predicate()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return predicate();
}

}  // namespace dtq::kafka::testing
