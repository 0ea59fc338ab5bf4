// SqliteIdempotencyStore: the embedded IdempotencyStore on the
// `idempotency_keys` table, one row per key with its expiry (unix
// milliseconds, wall clock: the processes on one data folder share it).
// A claim runs in one write of the group-committing writer (BEGIN
// IMMEDIATE across processes), so claims of one key are serialised: it
// deletes the key's row if expired, inserts unless a row remains, and
// otherwise reads the row held. Each claim also trims up to
// kTrimPerClaim expired rows, so the table holds about a day's keys
// however long the database lives.
//
// Thread-safety: every member function is thread-safe.
#pragma once

#include <memory>

#include "database.hpp"
#include "dtq/core/ports/idempotency_store.hpp"

namespace dtq::embedded {

class SqliteIdempotencyStore final : public IdempotencyStore {
 public:
  // More than one claim adds, so the table shrinks back after a burst.
  static constexpr int kTrimPerClaim = 64;

  explicit SqliteIdempotencyStore(std::shared_ptr<Database> db) : db_(std::move(db)) {}

  StatusOr<IdempotencyClaim> claim(std::string_view key, const IdempotencyRecord& record,
                                   std::chrono::milliseconds ttl) override;
  Status release(std::string_view key, std::string_view job_id) override;

 private:
  const std::shared_ptr<Database> db_;
};

}  // namespace dtq::embedded
