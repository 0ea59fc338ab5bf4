#include "sqlite_result_store.hpp"

#include "dtq/core/model_json.hpp"

namespace dtq::embedded {

StatusOr<bool> SqliteResultStore::put(const JobResult& result) {
  if (result.job_id.empty()) return invalid_argument("result without a job id");
  const std::string document = to_json(result);
  bool stored = false;
  const Status written = db_->write([&](WriteTx& tx) {
    Query query(tx.connection(),
                "INSERT INTO job_results(job_id, job_type, document, final_state, completed_at) "
                "VALUES(?, ?, ?, ?, ?) ON CONFLICT(job_id) DO NOTHING");
    query.bind(result.job_id).bind(result.job_type).bind(document).bind(to_string(result.final_state));
    const Status s = query.bind(result.completed_at).run();
    stored = s.ok() && query.changes() > 0;
    return s;
  });
  if (!written.ok()) return written;
  return stored;
}

StatusOr<JobResult> SqliteResultStore::get(std::string_view job_id) {
  return db_->read([&](Connection& connection) -> StatusOr<JobResult> {
    Query query(connection, "SELECT document FROM job_results WHERE job_id = ?");
    if (Status s = query.bind(job_id).first_row("no result for job " + std::string(job_id)); !s.ok()) return s;
    auto result = parse_job_result(query.text(0));
    if (!result.ok()) {
      return internal_error(connection.file() + ": stored result of job " + std::string(job_id) +
                            " is unreadable: " + result.status().message());
    }
    return result;
  });
}

}  // namespace dtq::embedded
