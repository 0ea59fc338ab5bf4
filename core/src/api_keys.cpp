#include "dtq/core/api_keys.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>

#include "dtq/core/time.hpp"

namespace dtq {
namespace {

constexpr std::string_view kPrefix = "dtq_";
constexpr size_t kIdBytes = 8;
constexpr size_t kSecretBytes = 32;

template <size_t N>
std::string hex(const std::array<unsigned char, N>& bytes, size_t count = N) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(count * 2);
  for (size_t i = 0; i < count; ++i) {
    out.push_back(kDigits[bytes[i] >> 4]);
    out.push_back(kDigits[bytes[i] & 0xf]);
  }
  return out;
}

bool is_hex(std::string_view text) {
  return std::ranges::all_of(
      text, [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

std::string_view to_string(Scope scope) noexcept {
  switch (scope) {
    case Scope::kRead:
      return "read";
    case Scope::kSubmit:
      return "submit";
    case Scope::kAdmin:
      return "admin";
  }
  return "read";
}

std::optional<Scope> parse_scope(std::string_view text) noexcept {
  if (text == "read") return Scope::kRead;
  if (text == "submit") return Scope::kSubmit;
  if (text == "admin") return Scope::kAdmin;
  return std::nullopt;
}

StatusOr<NewApiKey> new_api_key(std::string name, Scope scope) {
  std::array<unsigned char, kIdBytes + kSecretBytes> random{};
  if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
    return unavailable("no randomness for a new API key");
  }
  std::array<unsigned char, kIdBytes> id_bytes{};
  std::array<unsigned char, kSecretBytes> secret_bytes{};
  std::copy_n(random.begin(), kIdBytes, id_bytes.begin());
  std::copy_n(random.begin() + kIdBytes, kSecretBytes, secret_bytes.begin());
  NewApiKey made;
  made.record.id = hex(id_bytes);
  made.key = std::string(kPrefix) + made.record.id + "_" + hex(secret_bytes);
  made.record.name = std::move(name);
  made.record.scope = scope;
  made.record.created_at = now_rfc3339();
  made.record.hash = api_key_hash(made.key);
  return made;
}

std::string api_key_id(std::string_view key) {
  if (!key.starts_with(kPrefix)) return {};
  key.remove_prefix(kPrefix.size());
  const size_t cut = key.find('_');
  if (cut != kIdBytes * 2 || key.size() != cut + 1 + kSecretBytes * 2) return {};
  const std::string_view id = key.substr(0, cut);
  if (!is_hex(id) || !is_hex(key.substr(cut + 1))) return {};
  return std::string(id);
}

std::string api_key_hash(std::string_view key) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  EVP_Digest(key.data(), key.size(), digest.data(), &length, EVP_sha256(), nullptr);
  return hex(digest, length);
}

bool api_key_matches(const ApiKeyRecord& record, std::string_view key) {
  return secrets_equal(record.hash, api_key_hash(key));
}

bool secrets_equal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string to_json(const ApiKeyRecord& record) {
  const nlohmann::ordered_json object = {{"id", record.id},
                                         {"name", record.name},
                                         {"scope", to_string(record.scope)},
                                         {"created_at", record.created_at},
                                         {"sha256", record.hash},
                                         {"revoked", record.revoked}};
  return object.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

StatusOr<ApiKeyRecord> parse_api_key_record(std::string_view json) {
  const auto object = nlohmann::json::parse(json, nullptr, false);
  if (object.is_discarded() || !object.is_object()) return invalid_argument("not a JSON object");
  ApiKeyRecord record;
  try {
    record.id = object.at("id").get<std::string>();
    record.name = object.at("name").get<std::string>();
    const auto scope = parse_scope(object.at("scope").get<std::string>());
    if (!scope) return invalid_argument("unknown scope in key " + record.id);
    record.scope = *scope;
    record.created_at = object.at("created_at").get<std::string>();
    record.hash = object.at("sha256").get<std::string>();
    record.revoked = object.at("revoked").get<bool>();
  } catch (const nlohmann::json::exception& e) {
    return invalid_argument(std::string("an API key record: ") + e.what());
  }
  return record;
}

StatusOr<Scope> ApiKeys::authenticate(std::string_view key) const {
  if (!operator_key_.empty() && secrets_equal(operator_key_, key)) return Scope::kAdmin;
  const std::string id = api_key_id(key);
  if (id.empty()) return not_found("not an API key");
  auto record = store_.find(id);
  if (!record.ok()) {
    if (record.status().code() == StatusCode::kNotFound) return not_found("unknown API key");
    return record.status();
  }
  if (record->revoked || !api_key_matches(*record, key)) return not_found("unknown API key");
  return record->scope;
}

}  // namespace dtq
