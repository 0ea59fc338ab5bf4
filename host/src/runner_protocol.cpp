#include "runner_protocol.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace dtq::host::runner {
namespace {

constexpr size_t kHeaderSize = sizeof(uint32_t) + sizeof(uint8_t);

}  // namespace

FrameWriter::FrameWriter(FrameType type, std::string& batch) : bytes_(batch), start_(batch.size()) {
  bytes_.append(kHeaderSize, '\0');
  bytes_[start_ + sizeof(uint32_t)] = static_cast<char>(type);
  seal();
}

void FrameWriter::seal() {
  const auto length = static_cast<uint32_t>(bytes_.size() - start_ - sizeof(uint32_t));
  std::memcpy(bytes_.data() + start_, &length, sizeof length);
}

FrameWriter& FrameWriter::u32(uint32_t value) {
  bytes_.append(reinterpret_cast<const char*>(&value), sizeof value);
  seal();
  return *this;
}

FrameWriter& FrameWriter::i64(int64_t value) {
  bytes_.append(reinterpret_cast<const char*>(&value), sizeof value);
  seal();
  return *this;
}

FrameWriter& FrameWriter::str(std::string_view value) {
  const auto size = static_cast<uint32_t>(value.size());
  bytes_.append(reinterpret_cast<const char*>(&size), sizeof size);
  bytes_.append(value);
  seal();
  return *this;
}

std::string FrameWriter::finish() && {
  return std::move(own_);
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
  std::string_view field;
  if (!view(field)) return false;
  value.assign(field);
  return true;
}

bool FrameReader::view(std::string_view& value) {
  uint32_t size = 0;
  if (!u32(size) || rest_.size() < size) return ok_ = false;
  value = rest_.substr(0, size);
  rest_.remove_prefix(size);
  return true;
}

void empty_keeping_capacity(std::string& frames) {
  constexpr size_t kKeptCapacity = size_t{64} * 1024;
  if (frames.capacity() > kKeptCapacity) {
    std::string().swap(frames);
  } else {
    frames.clear();
  }
}

std::string& reusable_frame_buffer() {
  thread_local std::string frames;
  empty_keeping_capacity(frames);
  return frames;
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
    return unavailable(std::string("the peer is gone: ") +
                       std::error_code(errno, std::generic_category()).message());
  }
  return {};
}

Status FrameStream::fill(std::optional<std::chrono::milliseconds> timeout) {
  // Unread bytes move to the front; the buffer only ever grows (to the
  // largest frame plus the read-ahead), and is never cleared byte by byte.
  constexpr size_t kReadAhead = size_t{64} * 1024;
  if (start_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + start_, end_ - start_);
    end_ -= start_;
    start_ = 0;
  }
  if (buffer_.size() < end_ + kReadAhead) buffer_.resize(end_ + kReadAhead);
  const size_t had = end_;
  ssize_t got = 0;
  // With a time limit, a read that does not wait comes first: under load
  // the bytes are there already, and the poll before it would be a second
  // system call for nothing.
  int flags = timeout ? MSG_DONTWAIT : 0;
  while (true) {
    got = ::recv(fd_, buffer_.data() + end_, buffer_.size() - end_, flags);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 && flags != 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd ready{.fd = fd_, .events = POLLIN, .revents = 0};
      int polled = 0;
      do {
        polled = ::poll(&ready, 1, static_cast<int>(std::max<int64_t>(timeout->count(), 0)));
      } while (polled < 0 && errno == EINTR);
      if (polled == 0) return {StatusCode::kDeadlineExceeded, "no frame within the time limit"};
      flags = 0;
      continue;
    }
    break;
  }
  if (got > 0) end_ += static_cast<size_t>(got);
  if (got > 0) return {};
  if (got == 0 && had == 0) return not_found("end of stream");
  return unavailable(got == 0 ? "the channel closed inside a frame" : "the channel broke");
}

bool FrameStream::has_frame() const noexcept {
  const size_t available = end_ - start_;
  if (available < kHeaderSize) return false;
  uint32_t length = 0;
  std::memcpy(&length, buffer_.data() + start_, sizeof length);
  // A frame over the limit counts: next() reports it at once.
  return length < 1 || length - 1 > max_body_ || available >= sizeof(uint32_t) + length;
}

StatusOr<Frame> FrameStream::next(std::optional<std::chrono::milliseconds> timeout) {
  auto view = next_view(timeout);
  if (!view.ok()) return view.status();
  return Frame{.type = view->type, .body = std::string(view->body)};
}

StatusOr<FrameView> FrameStream::next_view(std::optional<std::chrono::milliseconds> timeout) {
  // A frame is waited for once; the rest of a frame that started arriving
  // is read without a limit (the sender writes frames whole).
  std::optional<std::chrono::milliseconds> wait = timeout;
  while (true) {
    const size_t available = end_ - start_;
    if (available >= kHeaderSize) {
      uint32_t length = 0;
      std::memcpy(&length, buffer_.data() + start_, sizeof length);
      if (length < 1 || length - 1 > max_body_) {
        return invalid_argument("a frame of " + std::to_string(length) +
                                " bytes exceeds the limit of " + std::to_string(max_body_));
      }
      if (available >= sizeof(uint32_t) + length) {
        const FrameView frame{
            .type = static_cast<FrameType>(buffer_[start_ + sizeof(uint32_t)]),
            .body = std::string_view(buffer_.data() + start_ + kHeaderSize, length - 1)};
        start_ += sizeof(uint32_t) + length;
        return frame;
      }
    }
    if (Status filled = fill(available == 0 ? wait : std::nullopt); !filled.ok()) return filled;
    wait.reset();
  }
}

}  // namespace dtq::host::runner
