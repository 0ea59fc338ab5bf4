// API keys: who may call the API, and for what. A key is a high-entropy
// random secret shown once, when it is made; what is stored is its id,
// name, scope and the SHA-256 of the whole key, so a stolen store gives no
// key away, and a presented key is checked in constant time against the
// stored hash. A key looks like "dtq_<id>_<secret>": the id (16 hex
// digits) finds the record without a scan; the secret is 32 random bytes
// from the kernel, in hex.
//
// Scopes nest: `read` (list, look up, follow jobs), `submit` (also submit
// and cancel), `admin` (everything). ApiKeyStore is the port where keys
// live: a 0600 file in the data folder for `dtq serve`
// (embedded::FileApiKeyStore), Redis for every `dtq api` replica
// (redis::RedisApiKeyStore). ApiKeys is what the API asks: the store, plus
// optionally one operator key given by the environment (DTQ_API_TOKEN),
// which is never stored.
//
// Thread-safety: ApiKeyStore implementations and ApiKeys are thread-safe;
// the free functions are pure (new_api_key reads the kernel's randomness).
// Ownership: ApiKeys borrows its store, which must outlive it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dtq/core/status.hpp"

namespace dtq {

enum class Scope { kRead = 1, kSubmit = 2, kAdmin = 3 };

std::string_view to_string(Scope scope) noexcept;
std::optional<Scope> parse_scope(std::string_view text) noexcept;
// Whether a key of scope `held` may do what needs `needed`.
inline bool grants(Scope held, Scope needed) noexcept {
  return static_cast<int>(held) >= static_cast<int>(needed);
}

struct ApiKeyRecord {
  std::string id;    // 16 hex digits, part of the key
  std::string name;  // what the operator called it
  Scope scope = Scope::kRead;
  std::string created_at;  // RFC 3339 UTC
  std::string hash;        // SHA-256 of the whole key, hex
  bool revoked = false;
};

// A key just made: the record to store and the key itself, which is shown
// once and kept nowhere.
struct NewApiKey {
  ApiKeyRecord record;
  std::string key;
};

// Makes a key (not stored yet). Unavailable when the kernel gives no randomness.
StatusOr<NewApiKey> new_api_key(std::string name, Scope scope);
// The id in a presented key; empty when it is not shaped like a key.
std::string api_key_id(std::string_view key);
// SHA-256 of `key`, hex.
std::string api_key_hash(std::string_view key);
// Whether `key` is the one `record` was made for (constant time in the hash).
bool api_key_matches(const ApiKeyRecord& record, std::string_view key);

// Whether two secrets are equal, in time that depends only on their
// lengths: how much of a guess was right never shows.
bool secrets_equal(std::string_view a, std::string_view b);

// A record as the stores keep it: one JSON object
// {"id","name","scope","created_at","sha256","revoked"}.
std::string to_json(const ApiKeyRecord& record);
StatusOr<ApiKeyRecord> parse_api_key_record(std::string_view json);

class ApiKeyStore {
 public:
  virtual ~ApiKeyStore() = default;
  // AlreadyExists when the id is taken.
  virtual Status add(const ApiKeyRecord& record) = 0;
  // Every key, revoked ones too, oldest first.
  virtual StatusOr<std::vector<ApiKeyRecord>> list() = 0;
  // NotFound for an unknown id.
  virtual StatusOr<ApiKeyRecord> find(std::string_view id) = 0;
  // Marks the key revoked (kept, so `list` shows it); NotFound for an unknown id.
  virtual Status revoke(std::string_view id) = 0;
};

class ApiKeys {
 public:
  // `operator_key`: a key given by the environment, with admin scope; empty: none.
  ApiKeys(ApiKeyStore& store, std::string operator_key)
      : store_(store), operator_key_(std::move(operator_key)) {}

  // The scope of `key`. NotFound for a key that is unknown, wrong or
  // revoked (the API answers 401); Unavailable when the store cannot be read.
  [[nodiscard]] StatusOr<Scope> authenticate(std::string_view key) const;

 private:
  ApiKeyStore& store_;
  const std::string operator_key_;
};

}  // namespace dtq
