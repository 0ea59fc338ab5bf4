// The host's embedded adapters against their ports' conformance suites:
// EngineJobTypeRegistry over a running Engine (on the in-memory fakes of the
// queue and stores, since only its pools matter here), and
// LocalPayloadValidator over a PluginRegistry. The plugins are stubs
// (support/stub_plugin.hpp), so any job type and verdict can be hosted.
// What only the engine does (its pools, drain) is in engine_test.
#include <map>

#include "conformance/job_type_registry_conformance.hpp"
#include "conformance/payload_validator_conformance.hpp"
#include "dtq/host/engine.hpp"
#include "dtq/host/http_client.hpp"
#include "fakes/memory_job_queue.hpp"
#include "fakes/memory_result_store.hpp"
#include "fakes/memory_status_store.hpp"
#include "support/stub_plugin.hpp"

namespace dtq::testing {
namespace {

using namespace std::chrono_literals;

// An engine taking work from the start; a type is hosted as a plugin that
// appeared in the worker's folder (add_plugin) and stops as one removed.
class EngineRegistryHarness {
 public:
  std::shared_ptr<JobTypeRegistry> open() {
    auto created =
        host::Engine::create(plugins_, {.drain_grace = 1s},
                             {.queue = queue_, .statuses = statuses_, .results = results_}, http_);
    EXPECT_TRUE(created.ok()) << created.status().message();
    if (!created.ok()) return nullptr;
    engine_ = std::move(created).value();
    engine_->start();
    return std::make_shared<host::EngineJobTypeRegistry>(*engine_);
  }
  void host(const JobTypeInfo& type) {
    auto plugin = std::make_shared<StubPlugin>(
        StubPlugin::info_of(type),
        [](std::string_view) -> StatusOr<ValidationOutcome> { return ValidationOutcome{}; });
    const Status added = engine_->add_plugin(std::move(plugin));
    EXPECT_TRUE(added.ok()) << added.message();
  }
  void stop(const std::string& job_type) {
    const Status removed = engine_->remove_plugin(job_type);
    EXPECT_TRUE(removed.ok()) << removed.message();
  }

 private:
  host::PluginRegistry plugins_;  // none at start-up: every type is added later
  fakes::MemoryJobQueue queue_;
  fakes::MemoryStatusStore statuses_;
  fakes::MemoryResultStore results_;
  host::HttpClient http_;
  std::unique_ptr<host::Engine> engine_;  // declared last: drained first
};
INSTANTIATE_TYPED_TEST_SUITE_P(EngineJobTypeRegistry, JobTypeRegistryConformance,
                               EngineRegistryHarness);

// The plugins loaded in this process; a plugin that cannot answer is an
// isolated one whose runner crashed (IsolatedPlugin::check's Unavailable).
class LocalValidatorHarness {
 public:
  std::shared_ptr<PayloadValidator> open() {
    return std::make_shared<host::LocalPayloadValidator>(plugins_);
  }
  void own(const std::string& job_type, Owner owner) {
    plugins_.remove(job_type);
    const Status added = plugins_.add(std::make_shared<StubPlugin>(
        StubPlugin::info_of({.job_type = job_type, .name = job_type, .version = "1.0.0"}),
        std::move(owner)));
    EXPECT_TRUE(added.ok()) << added.message();
  }
  void disown(const std::string& job_type) { EXPECT_TRUE(plugins_.remove(job_type)); }
  void cut_off(const std::string& job_type) {
    own(job_type, [](std::string_view) -> StatusOr<ValidationOutcome> {
      return unavailable("the plugin's runner process crashed");
    });
  }

 private:
  host::PluginRegistry plugins_;
};
INSTANTIATE_TYPED_TEST_SUITE_P(LocalPayloadValidator, PayloadValidatorConformance,
                               LocalValidatorHarness);

}  // namespace
}  // namespace dtq::testing
