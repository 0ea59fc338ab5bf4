// The embedded backends (SQLite) against the ports' conformance suites: the
// job queue, the status store, the result store and the idempotency keys,
// and StatusProgressQuery over the status store, as `dtq serve` wires them.
// Each test gets a data folder of its own. What only the embedded backends
// do (roles, the owner lock, crash recovery, write-behind) is in
// queue_test, status_test and result_test.
#include <filesystem>

#include "conformance/idempotency_store_conformance.hpp"
#include "conformance/job_queue_conformance.hpp"
#include "conformance/progress_query_conformance.hpp"
#include "conformance/result_store_conformance.hpp"
#include "conformance/status_store_conformance.hpp"
#include "dtq/core/status_progress_query.hpp"
#include "dtq/embedded/embedded_backends.hpp"

namespace dtq::testing {
namespace {

using namespace std::chrono_literals;
using embedded::EmbeddedBackends;
using embedded::Role;

// A data folder of one test; opens the backends on it as the owner (a
// worker) or as a client (the CLI, another process).
class DataDir {
 public:
  DataDir() = default;
  ~DataDir() { std::filesystem::remove_all(dir_); }
  DataDir(const DataDir&) = delete;
  DataDir& operator=(const DataDir&) = delete;

  [[nodiscard]] EmbeddedBackends open(Role role) const {
    auto backends =
        embedded::open_embedded({.data_dir = dir_, .role = role, .poll_interval = 20ms});
    EXPECT_TRUE(backends.ok()) << backends.status().message();
    return backends.ok() ? std::move(backends).value() : EmbeddedBackends{};
  }

 private:
  std::filesystem::path dir_ =
      std::filesystem::temp_directory_path() / ("dtq-conformance-" + new_uuid4());
};

struct EmbeddedQueueHarness {
  [[nodiscard]] std::shared_ptr<JobQueue> open() const { return data.open(Role::kOwner).queue; }
  static constexpr bool kDurable = true;
  static constexpr std::chrono::milliseconds kSettle{0};
  static constexpr size_t kMessagesPerProducer = 5'000;
  DataDir data;
};
INSTANTIATE_TYPED_TEST_SUITE_P(SqliteJobQueue, JobQueueConformance, EmbeddedQueueHarness);

// One owner at a time: its peers are itself (the store every thread of the
// worker shares); a client is another process.
template <auto kPort>
struct EmbeddedStoreHarness {
  using Port = std::remove_reference_t<decltype(*(EmbeddedBackends{}.*kPort))>;
  std::shared_ptr<Port> open() {
    auto store = data.open(Role::kOwner).*kPort;
    owner = store;
    return store;
  }
  [[nodiscard]] std::shared_ptr<Port> open_client() const {
    return data.open(Role::kClient).*kPort;
  }
  std::shared_ptr<Port> open_peer() { return owner.lock(); }
  static std::optional<int64_t> copies(const std::string& /*job_id*/) { return std::nullopt; }
  static constexpr bool kDurable = true;
  static constexpr bool kKeepsAttempts = true;
  DataDir data;
  std::weak_ptr<Port> owner;
};
INSTANTIATE_TYPED_TEST_SUITE_P(SqliteStatusStore, StatusStoreConformance,
                               EmbeddedStoreHarness<&EmbeddedBackends::statuses>);
INSTANTIATE_TYPED_TEST_SUITE_P(SqliteResultStore, ResultStoreConformance,
                               EmbeddedStoreHarness<&EmbeddedBackends::results>);

// The owner (`dtq serve`) claims; its peer is a client process on the same
// folder, which claims through its own connection and transactions.
struct EmbeddedIdempotencyHarness {
  std::shared_ptr<IdempotencyStore> open() {
    if (!owner) owner = data.open(Role::kOwner).idempotency;
    return owner;
  }
  [[nodiscard]] std::shared_ptr<IdempotencyStore> open_peer() const {
    return data.open(Role::kClient).idempotency;
  }
  DataDir data;
  std::shared_ptr<IdempotencyStore> owner;
};
INSTANTIATE_TYPED_TEST_SUITE_P(SqliteIdempotencyStore, IdempotencyStoreConformance,
                               EmbeddedIdempotencyHarness);

struct StatusProgressHarness {
  std::shared_ptr<ProgressQuery> open() {
    backends = data.open(Role::kOwner);
    return backends.statuses ? std::make_shared<StatusProgressQuery>(*backends.statuses) : nullptr;
  }
  void record(const JobStatus& status) { EXPECT_TRUE(backends.statuses->update(status).ok()); }
  static void fail_source(const Status& /*failure*/) {}
  // A healthy SQLite file cannot be made to fail a read from a test.
  static constexpr bool kCanFailSource = false;
  static void expect_settled(size_t /*answered*/) {}
  DataDir data;
  EmbeddedBackends backends;
};
INSTANTIATE_TYPED_TEST_SUITE_P(StatusProgressQuery, ProgressQueryConformance,
                               StatusProgressHarness);

}  // namespace
}  // namespace dtq::testing
