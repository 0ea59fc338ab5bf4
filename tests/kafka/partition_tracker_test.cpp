// PartitionTracker, no broker: the committed offset is the lowest unfinished
// one, the commit's metadata names what is finished above it, and the next
// owner skips exactly that and counts the rest as redeliveries.
#include <gtest/gtest.h>

#include "partition_tracker.hpp"

namespace dtq::kafka {
namespace {

using Seen = PartitionTracker::Seen;

TEST(PartitionTrackerTest, NothingToCommitBeforeAnythingIsConsumed) {
  PartitionTracker fresh(PartitionTracker::kNoOffset, "");
  EXPECT_FALSE(fresh.commit_offset().has_value());
  EXPECT_FALSE(fresh.needs_commit());
  PartitionTracker resumed(40, "");
  EXPECT_EQ(resumed.commit_offset(), 40);
  EXPECT_FALSE(resumed.needs_commit());
}

TEST(PartitionTrackerTest, CommitsTheLowestUnfinishedOffset) {
  PartitionTracker tracker(PartitionTracker::kNoOffset, "");
  for (int64_t offset = 10; offset < 15; ++offset) {
    EXPECT_EQ(tracker.consumed(offset), Seen::kNew);
    tracker.handed(offset);
  }
  EXPECT_EQ(tracker.commit_offset(), 10);
  tracker.done(11);
  tracker.done(13);
  EXPECT_EQ(tracker.commit_offset(), 10);
  EXPECT_EQ(tracker.commit_metadata(), "dtq1;h=15;d=1,3");
  tracker.done(10);
  EXPECT_EQ(tracker.commit_offset(), 12);
  EXPECT_EQ(tracker.commit_metadata(), "dtq1;h=15;d=1");
  tracker.done(12);
  tracker.done(14);
  EXPECT_EQ(tracker.commit_offset(), 15);
  EXPECT_EQ(tracker.commit_metadata(), "");
  EXPECT_TRUE(tracker.needs_commit());
  tracker.mark_committed(15, "");
  EXPECT_FALSE(tracker.needs_commit());
  tracker.commit_failed();
  EXPECT_TRUE(tracker.needs_commit());
}

TEST(PartitionTrackerTest, TheNextOwnerSkipsFinishedOffsetsAndFlagsRedeliveries) {
  PartitionTracker first(100, "");
  for (int64_t offset = 100; offset < 110; ++offset) {
    first.consumed(offset);
    if (offset < 108) first.handed(offset);  // 108, 109 only buffered
  }
  for (int64_t offset : {101, 102, 103, 105, 107}) first.done(offset);
  ASSERT_EQ(first.commit_offset(), 100);
  const std::string metadata = first.commit_metadata();
  EXPECT_EQ(metadata, "dtq1;h=108;d=1-3,5,7");

  PartitionTracker next(100, metadata);
  std::vector<int64_t> delivered, redelivered;
  for (int64_t offset = 100; offset < 112; ++offset) {
    const Seen seen = next.consumed(offset);
    if (seen == Seen::kNew) delivered.push_back(offset);
    if (seen == Seen::kRedelivery) redelivered.push_back(offset);
  }
  EXPECT_EQ(redelivered, (std::vector<int64_t>{100, 104, 106}));
  EXPECT_EQ(delivered, (std::vector<int64_t>{108, 109, 110, 111}));
  // Until 100 is done, what the first owner finished stays recorded.
  for (int64_t offset : {104, 106, 108, 109, 110, 111}) next.done(offset);
  EXPECT_EQ(next.commit_offset(), 100);
  EXPECT_EQ(next.commit_metadata(), "dtq1;h=108;d=1-11");
  next.done(100);
  EXPECT_EQ(next.commit_offset(), 112);
}

TEST(PartitionTrackerTest, FinishedOffsetsNotYetConsumedAgainAreKeptInTheMetadata) {
  PartitionTracker next(0, "dtq1;h=10;d=2-5,9");
  EXPECT_EQ(next.consumed(0), Seen::kRedelivery);
  // Not consumed beyond 0 yet; committing now must not forget 2-5 and 9.
  EXPECT_EQ(next.commit_offset(), 0);
  EXPECT_EQ(next.commit_metadata(), "dtq1;h=10;d=2-5,9");
  next.done(0);
  EXPECT_EQ(next.commit_offset(), 1);
  EXPECT_EQ(next.commit_metadata(), "dtq1;h=10;d=1-4,8");
}

TEST(PartitionTrackerTest, ARecordSeenTwiceIsHandedOutOnce) {
  PartitionTracker tracker(5, "");
  EXPECT_EQ(tracker.consumed(5), Seen::kNew);
  EXPECT_EQ(tracker.consumed(5), Seen::kAlreadyDone);
  tracker.done(5);
  EXPECT_EQ(tracker.consumed(5), Seen::kAlreadyDone);
  EXPECT_EQ(tracker.consumed(7), Seen::kNew);  // 6 was a gap (a compacted or control record)
  tracker.done(7);
  EXPECT_EQ(tracker.commit_offset(), 8);
}

TEST(PartitionTrackerTest, UnknownHistoryCountsEveryRecordAsAPossibleRedelivery) {
  PartitionTracker tracker(PartitionTracker::kNoOffset, "", /*history_known=*/false);
  EXPECT_EQ(tracker.consumed(3), Seen::kRedelivery);
  EXPECT_EQ(tracker.commit_offset(), 3);
}

TEST(PartitionTrackerTest, ForeignOrCorruptMetadataIsIgnored) {
  for (const char* metadata :
       {"", "someone else's", "dtq1;h=x", "dtq1;d=5-2", "dtq1;d=0-99999999"}) {
    PartitionTracker tracker(10, metadata);
    EXPECT_EQ(tracker.consumed(10), Seen::kNew) << metadata;
    EXPECT_EQ(tracker.consumed(11), Seen::kNew) << metadata;
  }
}

TEST(PartitionTrackerTest, MetadataIsCutToTheLimitAtARangeBoundary) {
  PartitionTracker tracker(0, "");
  for (int64_t offset = 0; offset < 2000; ++offset) {
    tracker.consumed(offset);
    tracker.handed(offset);
    if (offset % 2 == 1) tracker.done(offset);  // every other one finished: many ranges
  }
  const std::string metadata = tracker.commit_metadata(200);
  EXPECT_LE(metadata.size(), 200u);
  ASSERT_NE(metadata.back(), ',');
  // The next owner skips what was recorded and runs the rest again.
  PartitionTracker next(0, metadata);
  size_t skipped = 0;
  for (int64_t offset = 0; offset < 2000; ++offset) {
    if (next.consumed(offset) == Seen::kAlreadyDone) {
      ++skipped;
      EXPECT_EQ(offset % 2, 1) << "an unfinished offset was skipped";
    }
  }
  EXPECT_GT(skipped, 10u);
}

}  // namespace
}  // namespace dtq::kafka
