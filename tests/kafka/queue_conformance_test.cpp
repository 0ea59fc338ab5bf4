// The Kafka JobQueue against the JobQueue conformance suite, on the test
// broker; each test has topics and a consumer group of its own (one
// partition, so that "first in line" means the same as elsewhere), and
// "opening again" is a new member of the group. What only Kafka does (the
// record format, commits under out-of-order acks, rebalancing, a broker
// restart) is in kafka_queue_test.
#include "conformance/job_queue_conformance.hpp"
#include "kafka_test_util.hpp"

namespace dtq::kafka::testing {
namespace {

struct KafkaQueueHarness {
  std::shared_ptr<JobQueue> open() { return std::shared_ptr<JobQueue>(open_queue(settings)); }
  static constexpr bool kDurable = true;
  // A new member is assigned its partition within about a second.
  static constexpr std::chrono::milliseconds kSettle{1500};
  static constexpr size_t kMessagesPerProducer = 250;
  KafkaSettings settings = test_settings(/*partitions=*/1);
};

}  // namespace
}  // namespace dtq::kafka::testing

namespace dtq::testing {
INSTANTIATE_TYPED_TEST_SUITE_P(KafkaJobQueue, JobQueueConformance,
                               kafka::testing::KafkaQueueHarness);
}  // namespace dtq::testing
