// API keys without a server: their shape, hashing, scopes, the operator
// key, and the data folder's key file (owner-only, hashes only, shared by
// two stores as by `dtq keys` and a running `dtq serve`).
#include "dtq/core/api_keys.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "dtq/core/ids.hpp"
#include "dtq/embedded/file_api_key_store.hpp"

namespace dtq {
namespace {

namespace fs = std::filesystem;

class ApiKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("dtq-keys-" + new_uuid4());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path file() const { return dir_ / "api-keys.jsonl"; }

  NewApiKey add(embedded::FileApiKeyStore& store, Scope scope, const std::string& name = "k") {
    auto made = new_api_key(name, scope);
    EXPECT_TRUE(made.ok());
    EXPECT_TRUE(store.add(made->record).ok());
    return *made;
  }

  fs::path dir_;
};

TEST(ApiKey, HasItsIdInsideAndOnlyItsHashIsKept) {
  const auto made = new_api_key("ci", Scope::kSubmit);
  ASSERT_TRUE(made.ok());
  EXPECT_EQ(api_key_id(made->key), made->record.id);
  EXPECT_EQ(made->record.id.size(), 16U);
  EXPECT_EQ(made->key.size(), 4U + 16U + 1U + 64U);
  EXPECT_EQ(made->record.hash, api_key_hash(made->key));
  EXPECT_EQ(made->record.hash.size(), 64U);
  EXPECT_EQ(to_json(made->record).find(made->key.substr(21)), std::string::npos);
  EXPECT_TRUE(api_key_matches(made->record, made->key));
  std::string other = made->key;
  other.back() = other.back() == '0' ? '1' : '0';
  EXPECT_FALSE(api_key_matches(made->record, other));
  EXPECT_NE(new_api_key("ci", Scope::kSubmit)->key, made->key);
}

TEST(ApiKey, SomethingNotShapedLikeAKeyHasNoId) {
  EXPECT_EQ(api_key_id(""), "");
  EXPECT_EQ(api_key_id("Bearer x"), "");
  EXPECT_EQ(api_key_id("dtq_0123456789abcdef_short"), "");
  EXPECT_EQ(api_key_id("dtq_0123456789ABCDEF_" + std::string(64, 'a')), "");
  EXPECT_EQ(api_key_id("dtq_0123456789abcdef_" + std::string(64, 'a')), "0123456789abcdef");
}

TEST(ApiKey, ScopesNest) {
  EXPECT_TRUE(grants(Scope::kAdmin, Scope::kSubmit));
  EXPECT_TRUE(grants(Scope::kSubmit, Scope::kRead));
  EXPECT_TRUE(grants(Scope::kRead, Scope::kRead));
  EXPECT_FALSE(grants(Scope::kRead, Scope::kSubmit));
  EXPECT_FALSE(grants(Scope::kSubmit, Scope::kAdmin));
  EXPECT_EQ(parse_scope("submit"), Scope::kSubmit);
  EXPECT_EQ(parse_scope("write"), std::nullopt);
}

TEST(ApiKey, ARecordRoundTripsThroughItsJson) {
  auto made = new_api_key("name with \"quotes\"", Scope::kAdmin);
  made->record.revoked = true;
  const auto parsed = parse_api_key_record(to_json(made->record));
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->id, made->record.id);
  EXPECT_EQ(parsed->name, made->record.name);
  EXPECT_EQ(parsed->scope, Scope::kAdmin);
  EXPECT_EQ(parsed->hash, made->record.hash);
  EXPECT_TRUE(parsed->revoked);
  EXPECT_FALSE(parse_api_key_record(R"({"id":"x"})").ok());
}

TEST_F(ApiKeysTest, AKeyIsKnownUntilRevokedAndOnlyByItsExactSecret) {
  embedded::FileApiKeyStore store(file());
  const auto reader = add(store, Scope::kRead, "dashboard");
  const auto writer = add(store, Scope::kSubmit, "ci");
  const ApiKeys keys(store, "");
  EXPECT_EQ(*keys.authenticate(reader.key), Scope::kRead);
  EXPECT_EQ(*keys.authenticate(writer.key), Scope::kSubmit);
  EXPECT_EQ(keys.authenticate(reader.key + "0").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(keys.authenticate("nonsense").status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(store.revoke(reader.record.id).ok());
  EXPECT_EQ(keys.authenticate(reader.key).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(*keys.authenticate(writer.key), Scope::kSubmit);
  EXPECT_EQ(store.revoke("0000000000000000").code(), StatusCode::kNotFound);
}

TEST_F(ApiKeysTest, TheOperatorKeyIsAdminAndStoredNowhere) {
  embedded::FileApiKeyStore store(file());
  const ApiKeys keys(store, "operator-secret");
  EXPECT_EQ(*keys.authenticate("operator-secret"), Scope::kAdmin);
  EXPECT_EQ(keys.authenticate("operator-secre").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store.list()->empty());
  EXPECT_EQ(ApiKeys(store, "").authenticate("").status().code(), StatusCode::kNotFound);
}

TEST_F(ApiKeysTest, TheFileIsOwnerOnlyHoldsNoKeyAndIsSharedBetweenStores) {
  embedded::FileApiKeyStore server(file());
  embedded::FileApiKeyStore cli(file());
  const auto made = add(cli, Scope::kAdmin, "first");
  struct stat info {};
  ASSERT_EQ(stat(file().c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600);
  std::stringstream text;
  text << std::ifstream(file()).rdbuf();
  EXPECT_EQ(text.str().find(made.key), std::string::npos);
  EXPECT_EQ(text.str().find(made.key.substr(21)), std::string::npos);  // nor the secret

  const ApiKeys keys(server, "");
  EXPECT_EQ(*keys.authenticate(made.key), Scope::kAdmin);
  // A revocation through the other store is seen at the next request.
  ASSERT_TRUE(cli.revoke(made.record.id).ok());
  EXPECT_EQ(keys.authenticate(made.key).status().code(), StatusCode::kNotFound);
  const auto listed = server.list();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1U);
  EXPECT_TRUE(listed->front().revoked);
  EXPECT_EQ(server.add(made.record).code(), StatusCode::kAlreadyExists);
}

TEST_F(ApiKeysTest, AFileThatIsNotKeysIsUnavailableNotEmpty) {
  std::ofstream(file()) << "not json\n";
  embedded::FileApiKeyStore store(file());
  EXPECT_EQ(store.list().status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(ApiKeys(store, "")
                .authenticate("dtq_0123456789abcdef_" + std::string(64, 'a'))
                .status()
                .code(),
            StatusCode::kUnavailable);
}

}  // namespace
}  // namespace dtq
