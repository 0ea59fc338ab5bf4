// The frames a supervisor and its plugin runner exchange over their socket
// (isolated_plugin.cpp is one end, plugin_runner.cpp the other). Private to
// the host: both ends are built from this one source, into the same
// release, so the layout needs no version of its own.
//
// A frame is a little header — a u32 length (of what follows it) and a u8
// type — then the fields of that type in order: u32 and i64 integers in the
// machine's byte order, strings as a u32 length and the bytes.
//
// Thread-safety: FrameWriter and FrameReader are plain values; a
// FrameStream is used by one reader at a time. send_frame() may run beside
// that reader on the same socket; two writers need a lock of the caller's.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dtq/core/status.hpp"

namespace dtq::host::runner {

enum class FrameType : uint8_t {
  // runner → supervisor
  kHello = 1,  // the runner loaded its plugin: its metadata
  kRefused,    // it could not: the loader's reason
  kProgress,   // id, percent, message
  kLog,        // id, level, message
  kHttp,       // id, request fields: the host makes the call
  kDone,       // id, outcome
  kValidated,  // id, outcome of a validate()
  // supervisor → runner
  kRun,        // id, the job
  kCancel,     // id
  kHttpReply,  // id, response fields
  kValidate,   // id, payload
};

// What a run ended with, as the plugin left it.
enum class RunEnd : uint32_t { kNothing = 0, kResult = 1, kFailed = 2 };

// Writes one frame: into a string of its own, or at the end of a batch of
// frames bound for one write, so that a frame in a batch costs no string
// (and no allocation) of its own. The frame is whole after every call.
class FrameWriter {
 public:
  explicit FrameWriter(FrameType type) : FrameWriter(type, own_) {}
  FrameWriter(FrameType type, std::string& batch);
  FrameWriter(const FrameWriter&) = delete;
  FrameWriter& operator=(const FrameWriter&) = delete;
  FrameWriter& u32(uint32_t value);
  FrameWriter& i64(int64_t value);
  FrameWriter& str(std::string_view value);
  // The whole frame, header included, when it has a string of its own.
  std::string finish() &&;

 private:
  // Brings the header's length up to date.
  void seal();

  std::string own_;
  std::string& bytes_;
  const size_t start_;  // where this frame begins in bytes_
};

class FrameReader {
 public:
  explicit FrameReader(std::string_view body) : rest_(body) {}
  // Each returns false, and every later call too, once the body runs out.
  bool u32(uint32_t& value);
  bool i64(int64_t& value);
  bool str(std::string& value);
  // A string field as a view into the body, which must outlive it.
  bool view(std::string_view& value);
  [[nodiscard]] bool ok() const noexcept { return ok_; }

 private:
  bool take(void* out, size_t size);
  std::string_view rest_;
  bool ok_ = true;
};

struct Frame {
  FrameType type{};
  std::string body;
};

// A frame as it lies in a FrameStream's buffer: valid until that stream is
// read again.
struct FrameView {
  FrameType type{};
  std::string_view body;
};

// Empties a buffer of frames, keeping its capacity for the next ones unless
// it grew past 64 KiB (a large payload or result), which is let go.
void empty_keeping_capacity(std::string& frames);

// An empty buffer for frames this thread is about to send, kept between
// calls (as empty_keeping_capacity() keeps it), so that building frames
// costs no allocation once it has grown. One user at a time per thread:
// what uses it must be done before it is asked again.
std::string& reusable_frame_buffer();

// Writes all of `frame` (or of several frames, concatenated); an error when
// the peer is gone.
Status send_frame(int fd, std::string_view frame);

// The reading end of a channel. Reads ahead as much as has arrived, so that
// frames sent together cost one system call.
class FrameStream {
 public:
  FrameStream(int fd, size_t max_body) : fd_(fd), max_body_(max_body) {}

  // The next frame. NotFound at a clean end of stream, Unavailable on a
  // torn frame or an error, InvalidArgument for a frame over the limit.
  // With a timeout, DeadlineExceeded when no frame arrived within it.
  StatusOr<Frame> next(std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  // next() without the copy: the frame stays in the buffer, which the next
  // read reuses.
  StatusOr<FrameView> next_view(std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  // Whether a whole frame is buffered already: next() returns it without a
  // system call.
  [[nodiscard]] bool has_frame() const noexcept;

 private:
  // Reads once more into the buffer; false at the end of the stream, an
  // error, or (with a timeout) when nothing arrived in time.
  Status fill(std::optional<std::chrono::milliseconds> timeout);

  const int fd_;
  const size_t max_body_;
  std::vector<char> buffer_;
  size_t start_ = 0;  // the unread bytes are [start_, end_)
  size_t end_ = 0;
};

}  // namespace dtq::host::runner
