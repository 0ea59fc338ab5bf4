#include "dtq/embedded/embedded_backends.hpp"

#include "database.hpp"
#include "sqlite_idempotency_store.hpp"
#include "sqlite_job_history.hpp"
#include "sqlite_job_queue.hpp"
#include "sqlite_job_schedule.hpp"
#include "sqlite_paused_job_types.hpp"
#include "sqlite_result_store.hpp"
#include "sqlite_status_store.hpp"

namespace dtq::embedded {

StatusOr<EmbeddedBackends> open_embedded(const EmbeddedSettings& settings) {
  auto db = Database::open(settings);
  if (!db.ok()) return db.status();
  auto history = Database::open_history(settings, **db);
  if (!history.ok()) return history.status();
  auto queue = SqliteJobQueue::open(*db);
  if (!queue.ok()) return queue.status();
  auto statuses = SqliteStatusStore::open(*db, *history);
  if (!statuses.ok()) return statuses.status();
  return EmbeddedBackends{.queue = std::move(queue).value(),
                          .statuses = std::move(statuses).value(),
                          .results = std::make_shared<SqliteResultStore>(*db),
                          .idempotency = std::make_shared<SqliteIdempotencyStore>(*db),
                          .history = std::make_shared<SqliteJobHistory>(*history),
                          .schedule = std::make_shared<SqliteJobSchedule>(*db),
                          .paused = std::make_shared<SqlitePausedJobTypes>(*db)};
}

}  // namespace dtq::embedded
