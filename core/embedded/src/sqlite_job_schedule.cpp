#include "sqlite_job_schedule.hpp"

#include <algorithm>
#include <limits>

#include "dtq/core/model_json.hpp"

namespace dtq::embedded {
namespace {

// The row the query stands on: message, run_at, claims in columns 0..2.
StatusOr<ScheduledJob> read_row(const Connection& connection, const Query& query) {
  auto message = parse_job_message(query.text(0));
  if (!message.ok()) {
    return internal_error(connection.file() + ": a scheduled job's message is unreadable: " +
                          message.status().message());
  }
  return ScheduledJob{.message = std::move(message).value(),
                      .run_at = from_unix_ms(query.integer(1)),
                      .claims = static_cast<uint32_t>(query.integer(2))};
}

}  // namespace

Status SqliteJobSchedule::schedule(const JobMessage& message, Clock::time_point run_at) {
  if (Status valid = check_job_message(message); !valid.ok()) return valid;
  const std::string document = to_json(message);
  const int64_t at = to_unix_ms(run_at);
  return db_->write([&](WriteTx& tx) -> Status {
    Query insert(tx.connection(),
                 "INSERT INTO job_schedule(job_id, message, run_at, due_at) VALUES(?, ?, ?, ?) "
                 "ON CONFLICT(job_id) DO NOTHING");
    if (Status s = insert.bind(message.job_id).bind(document).bind(at).bind(at).run(); !s.ok()) {
      return s;
    }
    if (insert.changes() > 0) return {};
    Query held(tx.connection(),
               "SELECT message, run_at, claims FROM job_schedule WHERE job_id = ?");
    if (Status s = held.bind(message.job_id).first_row("scheduled job vanished"); !s.ok()) return s;
    auto job = read_row(tx.connection(), held);
    if (job.ok() && job->message.trace_id == message.trace_id &&
        job->message.submitted_at == message.submitted_at) {
      return {};
    }
    return already_exists("job " + message.job_id + " is scheduled already");
  });
}

StatusOr<std::vector<ScheduledJob>> SqliteJobSchedule::claim_due(Clock::time_point now,
                                                                 std::chrono::milliseconds lease,
                                                                 size_t limit) {
  const int64_t at = to_unix_ms(now);
  const int64_t until = at + lease.count();
  std::vector<ScheduledJob> claimed;
  const Status written = db_->write(
      [&](WriteTx& tx) -> Status {
        claimed.clear();
        Connection& connection = tx.connection();
        {
          Query due(connection,
                    "SELECT message, run_at, claims + 1 FROM job_schedule WHERE due_at <= ? "
                    "ORDER BY due_at LIMIT ?");
          due.bind(at).bind(static_cast<int64_t>(limit));
          for (;;) {
            auto row = due.step();
            if (!row.ok()) return row.status();
            if (!*row) break;
            auto job = read_row(connection, due);
            if (!job.ok()) return job.status();
            claimed.push_back(std::move(job).value());
          }
        }
        for (const ScheduledJob& job : claimed) {
          Query lease_it(
              connection,
              "UPDATE job_schedule SET due_at = ?, claims = claims + 1 WHERE job_id = ?");
          if (Status s = lease_it.bind(until).bind(job.message.job_id).run(); !s.ok()) return s;
        }
        return {};
      },
      Database::Atomic::kYes);
  if (!written.ok()) return written;
  return claimed;
}

Status SqliteJobSchedule::complete(std::string_view job_id) {
  return db_->write([&](WriteTx& tx) -> Status {
    Query remove(tx.connection(), "DELETE FROM job_schedule WHERE job_id = ?");
    return remove.bind(job_id).run();
  });
}

StatusOr<bool> SqliteJobSchedule::cancel(std::string_view job_id) {
  bool removed = false;
  const Status written = db_->write([&](WriteTx& tx) -> Status {
    Query remove(tx.connection(), "DELETE FROM job_schedule WHERE job_id = ?");
    if (Status s = remove.bind(job_id).run(); !s.ok()) return s;
    removed = remove.changes() > 0;
    return {};
  });
  if (!written.ok()) return written;
  return removed;
}

StatusOr<ScheduledJob> SqliteJobSchedule::get(std::string_view job_id) {
  return db_->read([&](Connection& connection) -> StatusOr<ScheduledJob> {
    Query query(connection, "SELECT message, run_at, claims FROM job_schedule WHERE job_id = ?");
    if (Status s = query.bind(job_id).first_row("job " + std::string(job_id) + " is not scheduled");
        !s.ok()) {
      return s;
    }
    return read_row(connection, query);
  });
}

StatusOr<SchedulePage> SqliteJobSchedule::list(std::string_view job_type, std::string_view cursor,
                                               size_t limit) {
  ScheduleCursor after{.due_ms = std::numeric_limits<int64_t>::min()};
  if (!cursor.empty()) {
    auto parsed = ScheduleCursor::parse(cursor);
    if (!parsed) return invalid_argument("malformed cursor");
    after = std::move(parsed).value();
  }
  const size_t page_size = std::max<size_t>(limit, 1);
  return db_->read([&](Connection& connection) -> StatusOr<SchedulePage> {
    // One row more than the page: whether there is a next one.
    Query query(connection,
                "SELECT message, run_at, claims, due_at FROM job_schedule "
                "WHERE (due_at > ? OR (due_at = ? AND job_id > ?)) "
                "AND (? = '' OR json_extract(message, '$.job_type') = ?) "
                "ORDER BY due_at, job_id LIMIT ?");
    query.bind(after.due_ms)
        .bind(after.due_ms)
        .bind(after.job_id)
        .bind(job_type)
        .bind(job_type)
        .bind(static_cast<int64_t>(page_size + 1));
    SchedulePage page;
    int64_t last_due = 0;
    for (;;) {
      auto row = query.step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      if (page.jobs.size() == page_size) {
        page.next_cursor =
            ScheduleCursor{.due_ms = last_due, .job_id = page.jobs.back().message.job_id}.text();
        break;
      }
      auto job = read_row(connection, query);
      if (!job.ok()) return job.status();
      last_due = query.integer(3);
      page.jobs.push_back(std::move(job).value());
    }
    return page;
  });
}

}  // namespace dtq::embedded
