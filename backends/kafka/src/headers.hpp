// The record headers dtq writes: the job message's (fixed by the contract)
// and the dead-letter topic's. Internal to dtq::kafka.
//
// Thread-safety: plain functions and constants.
#pragma once

#include <cstdint>
#include <string>

#include "dtq/core/model.hpp"
#include "rdkafka_util.hpp"

namespace dtq::kafka {

// Job message headers (the contract).
inline constexpr const char* kContentType = "content-type";
inline constexpr const char* kSchemaVersionHeader = "schema-version";

// Dead-letter topic records.
// dtq-record: dead-letter | replay-marker | delete-marker
inline constexpr const char* kRecordKind = "dtq-record";
inline constexpr const char* kDeadLetterKind = "dead-letter";
inline constexpr const char* kReplayMarkerKind = "replay-marker";
inline constexpr const char* kDeleteMarkerKind = "delete-marker";
inline constexpr const char* kDeletedAt = "dtq-deleted-at";
inline constexpr const char* kErrorCode = "dtq-error-code";
inline constexpr const char* kErrorMessage = "dtq-error-message";
inline constexpr const char* kAttempts = "dtq-attempts";
inline constexpr const char* kFailedAt = "dtq-failed-at";
inline constexpr const char* kSourceTopic = "dtq-source-topic";
inline constexpr const char* kSourcePartition = "dtq-source-partition";
inline constexpr const char* kSourceOffset = "dtq-source-offset";
inline constexpr const char* kReplayedAs = "dtq-replayed-as";
inline constexpr const char* kReplayedAt = "dtq-replayed-at";

inline HeaderList job_headers() {
  return {{kContentType, "application/json"}, {kSchemaVersionHeader, std::string(kSchemaVersion)}};
}

inline HeaderList dead_letter_headers(const JobError& error, uint32_t attempts,
                                      const std::string& failed_at, const std::string& topic,
                                      int32_t partition, int64_t offset) {
  HeaderList headers = job_headers();
  headers.insert(headers.end(), {{kRecordKind, kDeadLetterKind},
                                 {kErrorCode, error.code},
                                 {kErrorMessage, error.message},
                                 {kAttempts, std::to_string(attempts)},
                                 {kFailedAt, failed_at},
                                 {kSourceTopic, topic},
                                 {kSourcePartition, std::to_string(partition)},
                                 {kSourceOffset, std::to_string(offset)}});
  return headers;
}

inline HeaderList replay_marker_headers(const std::string& replayed_as,
                                        const std::string& replayed_at) {
  return {{kContentType, "application/json"},
          {kRecordKind, kReplayMarkerKind},
          {kReplayedAs, replayed_as},
          {kReplayedAt, replayed_at}};
}

inline HeaderList delete_marker_headers(const std::string& deleted_at) {
  return {{kContentType, "application/json"},
          {kRecordKind, kDeleteMarkerKind},
          {kDeletedAt, deleted_at}};
}

}  // namespace dtq::kafka
