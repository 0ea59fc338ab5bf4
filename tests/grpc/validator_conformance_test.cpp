// api::GrpcPayloadValidator against the PayloadValidator conformance suite,
// in process: the owners are stub plugins (support/stub_plugin.hpp) in a real
// host::WorkerGrpcServer on a loopback port, found through the registry's
// resolver as `dtq api` finds its pools. A type whose plugin left is one the
// worker no longer hosts (a stale registry); an owner that cannot be asked
// is a plugin that cannot answer, which the worker reports as such. What
// only gRPC does (several candidates, unreachable or hung workers, deadlines,
// the cluster secret) is in worker_validation_test.
#include <map>
#include <mutex>

#include "conformance/payload_validator_conformance.hpp"
#include "dtq/api/grpc_payload_validator.hpp"
#include "dtq/host/plugin_registry.hpp"
#include "dtq/host/worker_grpc_server.hpp"
#include "support/stub_plugin.hpp"

namespace dtq::testing {
namespace {

using namespace std::chrono_literals;

const std::string kSecret = "cluster-secret-for-conformance";

class GrpcValidatorHarness {
 public:
  std::shared_ptr<PayloadValidator> open() {
    const Status started = worker_.start();
    EXPECT_TRUE(started.ok()) << started.message();
    return std::make_shared<api::GrpcPayloadValidator>(api::GrpcPayloadValidatorSettings{
        .resolve = [this](std::string_view job_type) { return pools_of(job_type); },
        .cluster_secret = kSecret,
        .deadline = 5s});
  }
  void own(const std::string& job_type, Owner owner) {
    plugins_.remove(job_type);
    const Status added = plugins_.add(std::make_shared<StubPlugin>(
        StubPlugin::info_of({.job_type = job_type, .name = job_type, .version = "1.0.0"}),
        std::move(owner)));
    EXPECT_TRUE(added.ok()) << added.message();
    std::lock_guard lock(mutex_);
    pools_[job_type] = {"127.0.0.1:" + std::to_string(worker_.port())};
  }
  // The registry still names the worker, which no longer hosts the type.
  void disown(const std::string& job_type) { EXPECT_TRUE(plugins_.remove(job_type)); }
  // The worker answers, but its plugin cannot (its runner crashed): the
  // worker says so rather than giving a verdict. (A worker that cannot be
  // reached at all is worker_validation_test's.)
  void cut_off(const std::string& job_type) {
    own(job_type, [](std::string_view) -> StatusOr<ValidationOutcome> {
      return unavailable("the plugin's runner process crashed");
    });
  }

 private:
  std::vector<std::string> pools_of(std::string_view job_type) {
    std::lock_guard lock(mutex_);
    const auto it = pools_.find(std::string(job_type));
    return it == pools_.end() ? std::vector<std::string>{} : it->second;
  }

  host::PluginRegistry plugins_;
  host::WorkerGrpcServer worker_{{.listen_address = "127.0.0.1:0", .cluster_secret = kSecret},
                                 plugins_};
  std::mutex mutex_;
  std::map<std::string, std::vector<std::string>> pools_;  // the registry's worker addresses
};

}  // namespace

INSTANTIATE_TYPED_TEST_SUITE_P(GrpcPayloadValidator, PayloadValidatorConformance,
                               GrpcValidatorHarness);

}  // namespace dtq::testing
