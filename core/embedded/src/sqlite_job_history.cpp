#include "sqlite_job_history.hpp"

#include <limits>

namespace dtq::embedded {

Status SqliteJobHistory::append(std::span<const JobEvent> events) {
  if (events.empty()) return {};
  // Queued behind the jobs' own writes, never ending the writer's linger
  // early: a synchronous write here would split the group commit the
  // engine's throughput rests on.
  db_->write_async(
      [batch = std::vector<JobEvent>(events.begin(), events.end())](WriteTx& tx) -> Status {
        for (const auto& event : batch) {
          Query insert(
              tx.connection(),
              "INSERT INTO job_events(job_id, job_type, at, kind, attempt, worker, error_code,"
              " related_job_id, detail) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)");
          insert.bind(event.job_id).bind(event.job_type).bind(event.at).bind(to_string(event.kind));
          insert.bind(static_cast<int64_t>(event.attempt))
              .bind(event.worker)
              .bind(event.error_code);
          if (Status s = insert.bind(event.related_job_id).bind(event.detail).run(); !s.ok())
            return s;
        }
        return {};
      },
      "job history");
  return {};
}

StatusOr<std::vector<JobEvent>> SqliteJobHistory::list(std::string_view job_id, size_t limit) {
  // What this process appended so far is committed before it is read.
  if (Status flushed = db_->flush(); !flushed.ok()) return flushed;
  const auto rows = static_cast<int64_t>(
      std::min<size_t>(limit, static_cast<size_t>(std::numeric_limits<int64_t>::max())));
  auto events = db_->read([&](Connection& connection) -> StatusOr<std::vector<JobEvent>> {
    Query query(connection,
                "SELECT job_id, job_type, at, kind, attempt, worker, error_code, related_job_id,"
                " detail FROM job_events WHERE job_id = ? ORDER BY rowid LIMIT ?");
    query.bind(job_id).bind(rows);
    std::vector<JobEvent> found;
    while (true) {
      auto row = query.step();
      if (!row.ok()) return row.status();
      if (!*row) return found;
      // A kind this build does not know (written by a newer dtq) is skipped.
      auto kind = parse_job_event_kind(query.text(3));
      if (!kind) continue;
      found.push_back(JobEvent{.job_id = std::string(query.text(0)),
                               .job_type = std::string(query.text(1)),
                               .at = std::string(query.text(2)),
                               .kind = *kind,
                               .attempt = static_cast<uint32_t>(query.integer(4)),
                               .worker = std::string(query.text(5)),
                               .error_code = std::string(query.text(6)),
                               .related_job_id = std::string(query.text(7)),
                               .detail = std::string(query.text(8))});
    }
  });
  if (events.ok()) sort_job_events(*events);
  return events;
}

}  // namespace dtq::embedded
