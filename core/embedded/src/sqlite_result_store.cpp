#include "sqlite_result_store.hpp"

#include "dtq/core/model_json.hpp"

namespace dtq::embedded {

namespace {

// True when this insert stored the row, false when the job already had one.
StatusOr<bool> insert(WriteTx& tx, const JobResult& result, const std::string& document) {
  Query query(tx.connection(),
              "INSERT INTO job_results(job_id, job_type, document, final_state, completed_at) "
              "VALUES(?, ?, ?, ?, ?) ON CONFLICT(job_id) DO NOTHING");
  query.bind(result.job_id)
      .bind(result.job_type)
      .bind(document)
      .bind(to_string(result.final_state));
  if (Status s = query.bind(result.completed_at).run(); !s.ok()) return s;
  return query.changes() > 0;
}

}  // namespace

StatusOr<bool> SqliteResultStore::put(const JobResult& result) {
  auto stored = put_batch({&result, 1});
  if (!stored.ok()) return stored.status();
  return static_cast<bool>(stored->front());
}

StatusOr<std::vector<bool>> SqliteResultStore::put_batch(std::span<const JobResult> results) {
  std::vector<std::string> documents;
  documents.reserve(results.size());
  for (const auto& result : results) {
    if (result.job_id.empty()) return invalid_argument("result without a job id");
    documents.push_back(to_json(result));
  }
  std::vector<bool> stored(results.size(), false);
  // Atomic: a batch is stored whole or not at all, so a failure leaves every
  // job to be released and redelivered.
  const Status written = db_->write(
      [&](WriteTx& tx) -> Status {
        for (size_t i = 0; i < results.size(); ++i) {
          auto one = insert(tx, results[i], documents[i]);
          if (!one.ok()) return one.status();
          stored[i] = *one;
        }
        return {};
      },
      Database::Atomic::kYes);
  if (!written.ok()) return written;
  return stored;
}

StatusOr<JobResult> SqliteResultStore::get(std::string_view job_id) {
  return db_->read([&](Connection& connection) -> StatusOr<JobResult> {
    Query query(connection, "SELECT document FROM job_results WHERE job_id = ?");
    if (Status s = query.bind(job_id).first_row("no result for job " + std::string(job_id));
        !s.ok())
      return s;
    auto result = parse_job_result(query.text(0));
    if (!result.ok()) {
      return internal_error(connection.file() + ": stored result of job " + std::string(job_id) +
                            " is unreadable: " + result.status().message());
    }
    return result;
  });
}

}  // namespace dtq::embedded
