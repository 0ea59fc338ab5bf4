#include "runner_protocol.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace dtq::host::runner {
namespace {

constexpr size_t kHeaderSize = sizeof(uint32_t) + sizeof(uint8_t);

// Reads exactly `size` bytes; false at end of stream or on an error.
bool read_exactly(int fd, char* out, size_t size, bool& clean_end) {
  size_t done = 0;
  clean_end = false;
  while (done < size) {
    const ssize_t got = ::read(fd, out + done, size - done);
    if (got > 0) {
      done += static_cast<size_t>(got);
      continue;
    }
    if (got < 0 && errno == EINTR) continue;
    clean_end = got == 0 && done == 0;
    return false;
  }
  return true;
}

}  // namespace

FrameWriter::FrameWriter(FrameType type) : bytes_(kHeaderSize, '\0') {
  bytes_[sizeof(uint32_t)] = static_cast<char>(type);
}

FrameWriter& FrameWriter::u32(uint32_t value) {
  bytes_.append(reinterpret_cast<const char*>(&value), sizeof value);
  return *this;
}

FrameWriter& FrameWriter::i64(int64_t value) {
  bytes_.append(reinterpret_cast<const char*>(&value), sizeof value);
  return *this;
}

FrameWriter& FrameWriter::str(std::string_view value) {
  u32(static_cast<uint32_t>(value.size()));
  bytes_.append(value);
  return *this;
}

std::string FrameWriter::finish() && {
  const auto length = static_cast<uint32_t>(bytes_.size() - sizeof(uint32_t));
  std::memcpy(bytes_.data(), &length, sizeof length);
  return std::move(bytes_);
}

bool FrameReader::take(void* out, size_t size) {
  if (!ok_ || rest_.size() < size) return ok_ = false;
  std::memcpy(out, rest_.data(), size);
  rest_.remove_prefix(size);
  return true;
}

bool FrameReader::u32(uint32_t& value) {
  return take(&value, sizeof value);
}
bool FrameReader::i64(int64_t& value) {
  return take(&value, sizeof value);
}

bool FrameReader::str(std::string& value) {
  uint32_t size = 0;
  if (!u32(size) || rest_.size() < size) return ok_ = false;
  value.assign(rest_.substr(0, size));
  rest_.remove_prefix(size);
  return true;
}

Status send_frame(int fd, std::string_view frame) {
  while (!frame.empty()) {
    // MSG_NOSIGNAL: a dead peer is an error to report, not a SIGPIPE.
    const ssize_t sent = ::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL);
    if (sent > 0) {
      frame.remove_prefix(static_cast<size_t>(sent));
      continue;
    }
    if (sent < 0 && errno == EINTR) continue;
    return unavailable(std::string("the peer is gone: ") + std::strerror(errno));
  }
  return {};
}

StatusOr<Frame> receive_frame(int fd, size_t max_body,
                              std::optional<std::chrono::milliseconds> timeout) {
  if (timeout) {
    pollfd ready{.fd = fd, .events = POLLIN, .revents = 0};
    int polled = 0;
    do {
      polled = ::poll(&ready, 1, static_cast<int>(std::max<int64_t>(timeout->count(), 0)));
    } while (polled < 0 && errno == EINTR);
    if (polled == 0) return Status(StatusCode::kDeadlineExceeded, "no frame within the time limit");
  }
  char header[kHeaderSize];
  bool clean_end = false;
  if (!read_exactly(fd, header, sizeof header, clean_end)) {
    return clean_end ? not_found("end of stream")
                     : unavailable("the channel broke inside a frame header");
  }
  uint32_t length = 0;
  std::memcpy(&length, header, sizeof length);
  if (length < 1 || length - 1 > max_body) {
    return invalid_argument("a frame of " + std::to_string(length) +
                            " bytes exceeds the limit of " + std::to_string(max_body));
  }
  Frame frame;
  frame.type = static_cast<FrameType>(header[sizeof(uint32_t)]);
  frame.body.resize(length - 1);
  if (!read_exactly(fd, frame.body.data(), frame.body.size(), clean_end)) {
    return unavailable("the channel broke inside a frame");
  }
  return frame;
}

}  // namespace dtq::host::runner
