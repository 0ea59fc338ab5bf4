// JSON encoding of the job model, exactly as the wire contract spells it.
// Parsing validates: a message missing a required field, with a malformed id
// or a payload that is not an object is refused with the field named.
//
// Thread-safety: every function is safe to call from any thread.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "dtq/core/model.hpp"
#include "dtq/core/status.hpp"

namespace dtq {

std::string to_json(const JobMessage& message);
StatusOr<JobMessage> parse_job_message(std::string_view json);
// What parse_job_message() demands of the fields beyond their presence:
// UUIDs, a valid job type, an RFC 3339 submitted_at. A queue checks a
// message with it before accepting it, so that no consumer meets one it
// cannot read back.
Status check_job_message(const JobMessage& message);
// check_job_message() of each, and AlreadyExists for a job id twice in the
// batch: what every queue's enqueue_batch() refuses before it writes.
Status check_job_batch(std::span<const JobMessage> messages);

// {"job_id","state","progress_percent","updated_at","message",...}; optional
// fields are omitted when empty.
std::string to_json(const JobStatus& status);
StatusOr<JobStatus> parse_job_status(std::string_view json);

std::string to_json(const JobResult& result);
StatusOr<JobResult> parse_job_result(std::string_view json);

}  // namespace dtq
