#include "sqlite_idempotency_store.hpp"

#include "dtq/core/time.hpp"

namespace dtq::embedded {
namespace {

constexpr size_t kMaxKeyBytes = 1024;

}  // namespace

StatusOr<IdempotencyClaim> SqliteIdempotencyStore::claim(std::string_view key,
                                                         const IdempotencyRecord& record,
                                                         std::chrono::milliseconds ttl) {
  if (key.empty() || key.size() > kMaxKeyBytes) {
    return invalid_argument("an idempotency key has 1 to 1024 bytes here");
  }
  const int64_t now = to_unix_ms(Clock::now());
  const int64_t expires_at = now + ttl.count();
  IdempotencyClaim answer;
  const Status written = db_->write(
      [&](WriteTx& tx) -> Status {
        Connection& connection = tx.connection();
        {
          Query trim(connection,
                     "DELETE FROM idempotency_keys WHERE rowid IN (SELECT rowid FROM "
                     "idempotency_keys WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)");
          if (Status s = trim.bind(now).bind(int64_t{kTrimPerClaim}).run(); !s.ok()) return s;
        }
        {
          Query expired(connection,
                        "DELETE FROM idempotency_keys WHERE key = ? AND expires_at <= ?");
          if (Status s = expired.bind(key).bind(now).run(); !s.ok()) return s;
        }
        {
          Query insert(connection,
                       "INSERT INTO idempotency_keys(key, fingerprint, job_id, expires_at) "
                       "VALUES(?, ?, ?, ?) ON CONFLICT(key) DO NOTHING");
          insert.bind(key).bind(record.fingerprint).bind(record.job_id);
          if (Status s = insert.bind(expires_at).run(); !s.ok()) return s;
          if (insert.changes() > 0) {
            answer = {.claimed = true, .holder = record};
            return {};
          }
        }
        Query held(connection, "SELECT fingerprint, job_id FROM idempotency_keys WHERE key = ?");
        if (Status s = held.bind(key).first_row("idempotency key vanished"); !s.ok()) return s;
        answer.holder = {.fingerprint = std::string(held.text(0)),
                         .job_id = std::string(held.text(1))};
        answer.claimed = answer.holder == record;
        return {};
      },
      Database::Atomic::kYes);
  if (!written.ok()) return written;
  return answer;
}

Status SqliteIdempotencyStore::release(std::string_view key, std::string_view job_id) {
  return db_->write([&](WriteTx& tx) -> Status {
    Query query(tx.connection(), "DELETE FROM idempotency_keys WHERE key = ? AND job_id = ?");
    return query.bind(key).bind(job_id).run();
  });
}

}  // namespace dtq::embedded
