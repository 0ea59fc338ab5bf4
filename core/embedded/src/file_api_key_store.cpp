#include "dtq/embedded/file_api_key_store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <system_error>

namespace dtq::embedded {
namespace {

// What errno says, without strerror's shared buffer.
std::string describe_errno() {
  return std::system_category().message(errno);
}

// An exclusive flock on a lock file beside the keys, held while alive.
class FileLock {
 public:
  explicit FileLock(const std::filesystem::path& path)
      : fd_(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600)) {
    if (fd_ >= 0 && ::flock(fd_, LOCK_EX) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  [[nodiscard]] bool held() const { return fd_ >= 0; }

 private:
  int fd_;
};

}  // namespace

StatusOr<std::vector<ApiKeyRecord>> FileApiKeyStore::read() {
  struct stat info {};
  if (::stat(file_.c_str(), &info) != 0) {
    if (errno == ENOENT) return std::vector<ApiKeyRecord>{};
    return unavailable("cannot read " + file_.string() + ": " + describe_errno());
  }
  const Stamp now{static_cast<unsigned long>(info.st_dev), static_cast<unsigned long>(info.st_ino),
                  static_cast<long long>(info.st_mtim.tv_sec) * 1000000000LL + info.st_mtim.tv_nsec,
                  static_cast<long long>(info.st_size)};
  if (now == stamp_) return cached_;
  std::ifstream in(file_);
  if (!in) return unavailable("cannot read " + file_.string());
  std::vector<ApiKeyRecord> records;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    auto record = parse_api_key_record(line);
    if (!record.ok()) return unavailable(file_.string() + ": " + record.status().message());
    records.push_back(std::move(record).value());
  }
  cached_ = records;
  stamp_ = now;
  return records;
}

template <class Change>
Status FileApiKeyStore::update(Change change) {
  std::lock_guard lock(mutex_);
  const FileLock file_lock(file_.string() + ".lock");
  if (!file_lock.held()) return unavailable("cannot lock " + file_.string() + ".lock");
  auto records = read();
  if (!records.ok()) return records.status();
  if (Status changed = change(*records); !changed.ok()) return changed;
  std::string text;
  for (const auto& record : *records) text += to_json(record) + "\n";
  const std::string temporary = file_.string() + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return unavailable("cannot write " + temporary + ": " + describe_errno());
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                       ::fsync(fd) == 0;
  ::close(fd);
  if (!written || ::rename(temporary.c_str(), file_.c_str()) != 0) {
    return unavailable("cannot write " + file_.string() + ": " + describe_errno());
  }
  return {};
}

Status FileApiKeyStore::add(const ApiKeyRecord& record) {
  return update([&](std::vector<ApiKeyRecord>& records) -> Status {
    for (const auto& existing : records)
      if (existing.id == record.id) return already_exists("key id " + record.id + " is taken");
    records.push_back(record);
    return {};
  });
}

StatusOr<std::vector<ApiKeyRecord>> FileApiKeyStore::list() {
  std::lock_guard lock(mutex_);
  return read();
}

StatusOr<ApiKeyRecord> FileApiKeyStore::find(std::string_view id) {
  std::lock_guard lock(mutex_);
  auto records = read();
  if (!records.ok()) return records.status();
  for (const auto& record : *records)
    if (record.id == id) return record;
  return not_found("no API key " + std::string(id));
}

Status FileApiKeyStore::revoke(std::string_view id) {
  return update([&](std::vector<ApiKeyRecord>& records) -> Status {
    for (auto& record : records) {
      if (record.id != id) continue;
      record.revoked = true;
      return {};
    }
    return not_found("no API key " + std::string(id));
  });
}

}  // namespace dtq::embedded
