#include "sqlite_paused_job_types.hpp"

#include "dtq/core/time.hpp"

namespace dtq::embedded {

StatusOr<std::vector<std::string>> SqlitePausedJobTypes::list() {
  return db_->read([](Connection& connection) -> StatusOr<std::vector<std::string>> {
    Query query(connection, "SELECT job_type FROM paused_job_types ORDER BY job_type");
    std::vector<std::string> types;
    while (true) {
      auto row = query.step();
      if (!row.ok()) return row.status();
      if (!*row) return types;
      types.emplace_back(query.text(0));
    }
  });
}

Status SqlitePausedJobTypes::set(std::string_view job_type, bool paused) {
  return db_->write([&](WriteTx& tx) -> Status {
    if (!paused) {
      Query resume(tx.connection(), "DELETE FROM paused_job_types WHERE job_type = ?");
      return resume.bind(job_type).run();
    }
    const std::string paused_at = now_rfc3339();  // bound without a copy
    Query pause(tx.connection(),
                "INSERT INTO paused_job_types(job_type, paused_at) VALUES(?, ?) "
                "ON CONFLICT(job_type) DO NOTHING");
    return pause.bind(job_type).bind(paused_at).run();
  });
}

}  // namespace dtq::embedded
