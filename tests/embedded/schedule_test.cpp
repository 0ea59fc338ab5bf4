// The embedded JobSchedule (SQLite, table job_schedule) against the
// JobSchedule conformance suite, as `dtq serve` wires it: the owner's
// schedule, a client process's on the same folder as its peer, and a
// restart that opens the folder again.
#include <filesystem>

#include "conformance/job_schedule_conformance.hpp"
#include "dtq/embedded/embedded_backends.hpp"

namespace dtq::testing {
namespace {

using namespace std::chrono_literals;

struct EmbeddedScheduleHarness {
  EmbeddedScheduleHarness() = default;
  ~EmbeddedScheduleHarness() { std::filesystem::remove_all(dir); }
  EmbeddedScheduleHarness(const EmbeddedScheduleHarness&) = delete;
  EmbeddedScheduleHarness& operator=(const EmbeddedScheduleHarness&) = delete;

  [[nodiscard]] std::shared_ptr<JobSchedule> opened(embedded::Role role) const {
    auto backends = embedded::open_embedded({.data_dir = dir, .role = role, .poll_interval = 20ms});
    EXPECT_TRUE(backends.ok()) << backends.status().message();
    return backends.ok() ? backends->schedule : nullptr;
  }
  // The owner's (`dtq serve`); the harness keeps no reference, so that
  // dropping it releases the owner lock for reopen().
  std::shared_ptr<JobSchedule> open() {
    if (auto held = owner.lock()) return held;
    auto schedule = opened(embedded::Role::kOwner);
    owner = schedule;
    return schedule;
  }
  [[nodiscard]] std::shared_ptr<JobSchedule> open_peer() const {
    return opened(embedded::Role::kClient);
  }
  std::shared_ptr<JobSchedule> reopen() { return open(); }
  static constexpr bool kDurable = true;

  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("dtq-schedule-" + new_uuid4());
  std::weak_ptr<JobSchedule> owner;
};
INSTANTIATE_TYPED_TEST_SUITE_P(SqliteJobSchedule, JobScheduleConformance, EmbeddedScheduleHarness);

}  // namespace
}  // namespace dtq::testing
