// FileApiKeyStore: the API keys of `dtq serve`, in one file in the data
// folder (api-keys.jsonl, one JSON record per line), owner-only (0600). Holds
// only hashes (see dtq/core/api_keys.hpp). `dtq keys` and a running
// `dtq serve` share the file: writers take an exclusive flock and replace
// the file whole (write a temporary, then rename), and a reader sees a
// change at its next call (it re-reads when the file's identity or mtime
// changed), so a key revoked from the CLI is refused at once.
//
// Thread-safety: every member function is thread-safe, across processes
// too. Ownership: owns nothing but the path and a cache.
#pragma once

#include <filesystem>
#include <mutex>
#include <string_view>
#include <vector>

#include "dtq/core/api_keys.hpp"

namespace dtq::embedded {

class FileApiKeyStore final : public ApiKeyStore {
 public:
  explicit FileApiKeyStore(std::filesystem::path file) : file_(std::move(file)) {}

  Status add(const ApiKeyRecord& record) override;
  StatusOr<std::vector<ApiKeyRecord>> list() override;
  StatusOr<ApiKeyRecord> find(std::string_view id) override;
  Status revoke(std::string_view id) override;

 private:
  // What the file holds now (cached while it does not change); none yet: empty.
  StatusOr<std::vector<ApiKeyRecord>> read();
  // Under the file's lock: reads, lets `change` edit, writes back.
  template <class Change>
  Status update(Change change);

  const std::filesystem::path file_;
  std::mutex mutex_;
  std::vector<ApiKeyRecord> cached_;  // guarded by mutex_
  struct Stamp {
    unsigned long device = 0, inode = 0;
    long long mtime_ns = -1, size = -1;
    bool operator==(const Stamp&) const = default;
  } stamp_;  // guarded by mutex_; what cached_ was read from
};

}  // namespace dtq::embedded
