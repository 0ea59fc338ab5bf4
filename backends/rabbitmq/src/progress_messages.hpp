// The bodies of the progress request-reply (DESIGN §2), as JSON:
//   request  {"job_id","request_id","requested_at"}
//   reply    {"job_id","state","progress_percent","message","timestamp"}
//            + "trace_id", "error_code", "error_message" when set;
//            state "not_found" (unknown job) or "unavailable" (the worker
//            could not read its status store) besides the job states.
//
// Thread-safety: every function is safe to call from any thread.
#pragma once

#include <string>
#include <string_view>

#include "dtq/core/model.hpp"
#include "dtq/core/status.hpp"

namespace dtq::rabbitmq {

inline constexpr std::string_view kNotFoundState = "not_found";
inline constexpr std::string_view kUnavailableState = "unavailable";

struct ProgressRequest {
  std::string job_id;
  std::string request_id;
  std::string requested_at;  // RFC 3339 UTC
};

std::string to_json(const ProgressRequest& request);
// InvalidArgument naming what is wrong; job_id is required, the rest is
// optional (a foreign client may leave them out).
StatusOr<ProgressRequest> parse_progress_request(std::string_view json);

// The reply to a request for `job_id`: its status, or why there is none
// (NotFound → "not_found"; anything else → "unavailable").
std::string reply_json(std::string_view job_id, const StatusOr<JobStatus>& status);
// A reply as the port's answer: the status, NotFound, or Unavailable;
// Internal for a reply that cannot be read or names another job.
StatusOr<JobStatus> parse_progress_reply(std::string_view json, std::string_view job_id);

}  // namespace dtq::rabbitmq
