// Helpers of the Kafka tests: the broker of scripts/servers/kafka.sh (or the
// one DTQ_KAFKA_BOOTSTRAP names) and settings with topic and group names of
// their own per test (messages, waiting and taking with a deadline are
// tests/support's).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "dtq/kafka/kafka_job_queue.hpp"
#include "support/eventually.hpp"
#include "support/model_factories.hpp"
#include "support/queue_helpers.hpp"

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

std::unique_ptr<KafkaJobQueue> open_queue(const KafkaSettings& settings);

using dtq::testing::eventually;
using dtq::testing::expect_same;
using dtq::testing::make_message;
using dtq::testing::take_within;
using dtq::testing::throughout;

}  // namespace dtq::kafka::testing
