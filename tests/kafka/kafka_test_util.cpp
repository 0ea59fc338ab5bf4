#include "kafka_test_util.hpp"

#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "dtq/core/ids.hpp"

namespace dtq::kafka::testing {
namespace {

const std::string kScript = std::string(DTQ_SOURCE_DIR) + "/scripts/servers/kafka.sh";

std::string run_and_read(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buffer[256];
  while (fgets(buffer, sizeof buffer, pipe) != nullptr) out += buffer;
  pclose(pipe);
  return out;
}

}  // namespace

bool broker_is_scripted() {
  const char* given = std::getenv("DTQ_KAFKA_BOOTSTRAP");
  return given == nullptr || *given == '\0';
}

bool start_broker() {
  return std::system((kScript + " start >&2").c_str()) == 0;
}
bool stop_broker() {
  return std::system((kScript + " stop >&2").c_str()) == 0;
}

std::string bootstrap() {
  static std::once_flag once;
  static std::string address;
  std::call_once(once, [] {
    if (!broker_is_scripted()) {
      address = std::getenv("DTQ_KAFKA_BOOTSTRAP");
      return;
    }
    if (!start_broker()) return;
    // DTQ_KAFKA_BOOTSTRAP=127.0.0.1:49092
    const std::string env = run_and_read(kScript + " env");
    const auto at = env.find('=');
    if (at == std::string::npos) return;
    address = env.substr(at + 1);
    while (!address.empty() && (address.back() == '\n' || address.back() == ' '))
      address.pop_back();
  });
  if (address.empty()) ADD_FAILURE() << "no Kafka broker: " << kScript << " start failed";
  return address;
}

KafkaSettings test_settings(int32_t partitions) {
  const std::string prefix = "t" + new_uuid4().substr(0, 8) + ".";
  KafkaSettings settings;
  settings.bootstrap_servers = bootstrap();
  settings.topic_template = prefix + "jobs.%s.v1";
  settings.priority_topic_template = prefix + "jobs.%s.%p.v1";
  settings.dlq_topic_template = prefix + "jobs.%s.dlq.v1";
  settings.group_id_prefix = prefix + "workers.";
  settings.client_id = "dtq-test";
  settings.partitions = partitions;
  settings.delivery_timeout = 20s;
  settings.request_timeout = 10s;
  settings.session_timeout = 6s;  // the broker's minimum
  settings.revoke_drain = 1s;
  settings.commit_interval = 50ms;
  return settings;
}

std::unique_ptr<KafkaJobQueue> open_queue(const KafkaSettings& settings) {
  auto queue = KafkaJobQueue::create(settings);
  EXPECT_TRUE(queue.ok()) << queue.status().message();
  return queue.ok() ? std::move(queue).value() : nullptr;
}

}  // namespace dtq::kafka::testing
