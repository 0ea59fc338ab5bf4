// The frames a supervisor and its plugin runner exchange: written into one
// batch or each into its own string, read back whole and in order over a
// real socket, and a broken stream reported, never misread.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "runner_protocol.hpp"

namespace dtq::host::runner {
namespace {

class FrameChannel : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds_), 0); }
  void TearDown() override {
    for (const int fd : fds_) {
      if (fd >= 0) ::close(fd);
    }
  }
  void close_writer() {
    ::close(fds_[0]);
    fds_[0] = -1;
  }
  int writer() const { return fds_[0]; }
  int reader() const { return fds_[1]; }

 private:
  int fds_[2] = {-1, -1};
};

TEST_F(FrameChannel, FramesOfOneBatchArriveWholeAndInOrder) {
  std::string batch;
  FrameWriter(FrameType::kRun, batch).i64(7).str("job-7").u32(3);
  // A frame is whole after every call: nothing is left to finish.
  FrameWriter progress(FrameType::kProgress, batch);
  progress.i64(8).u32(50).str(std::string(300, 'p'));
  FrameWriter own(FrameType::kCancel);
  own.i64(9);
  batch += std::move(own).finish();
  ASSERT_TRUE(send_frame(writer(), batch).ok());
  close_writer();

  FrameStream stream(reader(), 1024);
  auto run = stream.next_view();
  ASSERT_TRUE(run.ok()) << run.status().message();
  EXPECT_EQ(run->type, FrameType::kRun);
  FrameReader fields(run->body);
  int64_t id = 0;
  std::string_view job;
  uint32_t attempt = 0;
  EXPECT_TRUE(fields.i64(id) && fields.view(job) && fields.u32(attempt));
  EXPECT_EQ(id, 7);
  EXPECT_EQ(job, "job-7");
  EXPECT_EQ(attempt, 3u);
  EXPECT_TRUE(stream.has_frame());

  auto second = stream.next();  // a copy, which outlives later reads
  ASSERT_TRUE(second.ok());
  auto third = stream.next();
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->type, FrameType::kCancel);
  FrameReader message(second->body);
  uint32_t percent = 0;
  std::string text;
  EXPECT_TRUE(message.i64(id) && message.u32(percent) && message.str(text));
  EXPECT_EQ(second->type, FrameType::kProgress);
  EXPECT_EQ(percent, 50u);
  EXPECT_EQ(text, std::string(300, 'p'));

  EXPECT_EQ(stream.next().status().code(), StatusCode::kNotFound);  // a clean end
}

TEST_F(FrameChannel, AFrameOverTheLimitIsRefusedNotRead) {
  FrameWriter log(FrameType::kLog);
  log.str(std::string(2000, 'x'));
  ASSERT_TRUE(send_frame(writer(), std::move(log).finish()).ok());
  FrameStream stream(reader(), 1024);
  const auto frame = stream.next();
  EXPECT_EQ(frame.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(frame.status().message().find("exceeds the limit of 1024"), std::string::npos);
}

TEST_F(FrameChannel, AFrameCutShortIsABrokenChannel) {
  FrameWriter done(FrameType::kDone);
  done.i64(1).str("result");
  const std::string whole = std::move(done).finish();
  ASSERT_TRUE(send_frame(writer(), std::string_view(whole).substr(0, whole.size() - 2)).ok());
  close_writer();
  FrameStream stream(reader(), 1024);
  EXPECT_EQ(stream.next().status().code(), StatusCode::kUnavailable);
}

TEST_F(FrameChannel, WaitingForAFrameEndsAtItsTimeLimit) {
  FrameStream stream(reader(), 1024);
  EXPECT_EQ(stream.next(std::chrono::milliseconds(20)).status().code(),
            StatusCode::kDeadlineExceeded);
}

TEST(FrameReaderTest, AFieldPastTheBodysEndFailsThatReadAndEveryLaterOne) {
  FrameWriter log(FrameType::kLog);
  log.u32(5);
  const std::string frame = std::move(log).finish();
  FrameReader reader(std::string_view(frame).substr(5));  // the body, past the header
  uint32_t level = 0;
  std::string_view message;
  EXPECT_TRUE(reader.u32(level));
  EXPECT_FALSE(reader.view(message));
  EXPECT_FALSE(reader.ok());
  EXPECT_FALSE(reader.u32(level));
}

TEST(FrameReaderTest, AStringLongerThanWhatIsLeftIsRefused) {
  std::string body;
  {
    FrameWriter writer(FrameType::kLog, body);
    writer.str("hello");
  }
  body.resize(body.size() - 1);  // the string's last byte lost
  FrameReader reader(std::string_view(body).substr(5));
  std::string text;
  EXPECT_FALSE(reader.str(text));
  EXPECT_TRUE(text.empty());
}

TEST(FrameBufferTest, ASmallBufferKeepsItsCapacityAndALargeOneIsLetGo) {
  std::string frames(1000, 'x');
  const size_t small = frames.capacity();
  empty_keeping_capacity(frames);
  EXPECT_TRUE(frames.empty());
  EXPECT_EQ(frames.capacity(), small);

  frames.assign(size_t{1} << 20, 'x');  // a 1 MiB result went through it
  empty_keeping_capacity(frames);
  EXPECT_TRUE(frames.empty());
  EXPECT_LE(frames.capacity(), size_t{64} * 1024);
}

TEST(FrameBufferTest, AThreadsBufferComesBackEmptyWithItsCapacity) {
  std::string& first = reusable_frame_buffer();
  FrameWriter(FrameType::kProgress, first).i64(1).u32(50).str("halfway");
  const size_t capacity = first.capacity();
  std::string& second = reusable_frame_buffer();
  EXPECT_EQ(&first, &second);
  EXPECT_TRUE(second.empty());
  EXPECT_EQ(second.capacity(), capacity);
}

}  // namespace
}  // namespace dtq::host::runner
