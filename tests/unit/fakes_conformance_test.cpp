// The in-memory fakes of tests/fakes/ against their ports' conformance
// suites: a fake that passes them behaves like the adapters it stands in
// for, so a test written against a fake means the same on a real backend.
#include "conformance/idempotency_store_conformance.hpp"
#include "conformance/job_queue_conformance.hpp"
#include "conformance/job_schedule_conformance.hpp"
#include "conformance/job_type_registry_conformance.hpp"
#include "conformance/payload_validator_conformance.hpp"
#include "conformance/progress_query_conformance.hpp"
#include "conformance/result_store_conformance.hpp"
#include "conformance/status_store_conformance.hpp"
#include "fakes/memory_idempotency_store.hpp"
#include "fakes/memory_job_queue.hpp"
#include "fakes/memory_job_schedule.hpp"
#include "fakes/memory_job_type_registry.hpp"
#include "fakes/memory_payload_validator.hpp"
#include "fakes/memory_progress_query.hpp"
#include "fakes/memory_result_store.hpp"
#include "fakes/memory_status_store.hpp"

namespace dtq::testing {
namespace {

using namespace std::chrono_literals;

// One store in one process: the peer is the same store.
struct MemoryIdempotencyHarness {
  [[nodiscard]] std::shared_ptr<IdempotencyStore> open() const { return store; }
  [[nodiscard]] std::shared_ptr<IdempotencyStore> open_peer() const { return store; }
  std::shared_ptr<fakes::MemoryIdempotencyStore> store =
      std::make_shared<fakes::MemoryIdempotencyStore>();
};
INSTANTIATE_TYPED_TEST_SUITE_P(MemoryIdempotencyStore, IdempotencyStoreConformance,
                               MemoryIdempotencyHarness);

// One schedule in one process: the peer is the same schedule.
struct MemoryScheduleHarness {
  [[nodiscard]] std::shared_ptr<JobSchedule> open() const { return schedule; }
  [[nodiscard]] std::shared_ptr<JobSchedule> open_peer() const { return schedule; }
  [[nodiscard]] static std::shared_ptr<JobSchedule> reopen() { return nullptr; }
  static constexpr bool kDurable = false;
  std::shared_ptr<fakes::MemoryJobSchedule> schedule = std::make_shared<fakes::MemoryJobSchedule>();
};
INSTANTIATE_TYPED_TEST_SUITE_P(MemoryJobSchedule, JobScheduleConformance, MemoryScheduleHarness);

struct MemoryQueueHarness {
  static std::shared_ptr<JobQueue> open() { return std::make_shared<fakes::MemoryJobQueue>(); }
  static constexpr bool kDurable = false;
  static constexpr std::chrono::milliseconds kSettle{0};
  static constexpr size_t kMessagesPerProducer = 5'000;
};
INSTANTIATE_TYPED_TEST_SUITE_P(MemoryJobQueue, JobQueueConformance, MemoryQueueHarness);

// One store in one process: every other store "on the same data" is it.
struct MemoryStatusHarness {
  [[nodiscard]] std::shared_ptr<StatusStore> open() const { return store; }
  [[nodiscard]] std::shared_ptr<StatusStore> open_client() const { return store; }
  [[nodiscard]] std::shared_ptr<StatusStore> open_peer() const { return store; }
  static constexpr bool kDurable = false;
  std::shared_ptr<fakes::MemoryStatusStore> store = std::make_shared<fakes::MemoryStatusStore>();
};
INSTANTIATE_TYPED_TEST_SUITE_P(MemoryStatusStore, StatusStoreConformance, MemoryStatusHarness);

struct MemoryResultHarness {
  [[nodiscard]] std::shared_ptr<ResultStore> open() const { return store; }
  [[nodiscard]] std::shared_ptr<ResultStore> open_client() const { return store; }
  [[nodiscard]] std::shared_ptr<ResultStore> open_peer() const { return store; }
  static std::optional<int64_t> copies(const std::string& /*job_id*/) { return std::nullopt; }
  static constexpr bool kDurable = false;
  static constexpr bool kKeepsAttempts = true;
  std::shared_ptr<fakes::MemoryResultStore> store = std::make_shared<fakes::MemoryResultStore>();
};
INSTANTIATE_TYPED_TEST_SUITE_P(MemoryResultStore, ResultStoreConformance, MemoryResultHarness);

struct MemoryProgressHarness {
  [[nodiscard]] std::shared_ptr<ProgressQuery> open() const { return query; }
  void record(const JobStatus& status) { query->record(status); }
  void fail_source(Status failure) { query->fail_with(std::move(failure)); }
  static constexpr bool kCanFailSource = true;
  static void expect_settled(size_t /*answered*/) {}
  std::shared_ptr<fakes::MemoryProgressQuery> query =
      std::make_shared<fakes::MemoryProgressQuery>();
};
INSTANTIATE_TYPED_TEST_SUITE_P(MemoryProgressQuery, ProgressQueryConformance,
                               MemoryProgressHarness);

struct MemoryRegistryHarness {
  [[nodiscard]] std::shared_ptr<JobTypeRegistry> open() const { return registry; }
  void host(JobTypeInfo type) const {
    type.pools = 1;
    registry->host(std::move(type));
  }
  void stop(const std::string& job_type) const { registry->stop(job_type); }
  std::shared_ptr<fakes::MemoryJobTypeRegistry> registry =
      std::make_shared<fakes::MemoryJobTypeRegistry>();
};
INSTANTIATE_TYPED_TEST_SUITE_P(MemoryJobTypeRegistry, JobTypeRegistryConformance,
                               MemoryRegistryHarness);

struct MemoryValidatorHarness {
  [[nodiscard]] std::shared_ptr<PayloadValidator> open() const { return validator; }
  void own(std::string job_type, Owner owner) const {
    validator->own(std::move(job_type), std::move(owner));
  }
  void disown(const std::string& job_type) const { validator->disown(job_type); }
  void cut_off(std::string job_type) const {
    validator->own(std::move(job_type), [](std::string_view) -> StatusOr<ValidationOutcome> {
      return unavailable("the owner does not answer");
    });
  }
  std::shared_ptr<fakes::MemoryPayloadValidator> validator =
      std::make_shared<fakes::MemoryPayloadValidator>();
};
INSTANTIATE_TYPED_TEST_SUITE_P(MemoryPayloadValidator, PayloadValidatorConformance,
                               MemoryValidatorHarness);

}  // namespace
}  // namespace dtq::testing
