// GrpcPayloadValidator: the distributed PayloadValidator. The plugin owns
// its payload contract, and in distributed mode the plugin runs in the
// worker pools, not in the API; so the API asks a worker of the job type's
// pool, over gRPC (dtq.v1.WorkerService.ValidatePayload, served by
// host::WorkerGrpcServer), before it enqueues.
//
// Which workers: `resolve(job_type)` returns "host:port" candidates in the
// order to try them (the caller shuffles them to spread the load, if it
// wants). Each candidate gets one call bounded by `deadline`. A candidate
// that cannot answer (UNAVAILABLE, DEADLINE_EXCEEDED, any other failure)
// or that does not host the type (NOT_FOUND: a stale registry) is passed
// over for the next one. The first answer wins.
//
// Outcomes, explicitly:
//  - a worker answered: its ValidationOutcome (valid, with the normalized
//    payload; or the field errors);
//  - no candidate at all, or every candidate answered NOT_FOUND: the type
//    is unknown — check() gives NotFound, validate() nullopt;
//  - candidates exist but none answered: check() gives Unavailable (the
//    last failure named), which JobService passes on (REST 503, gRPC
//    UNAVAILABLE); validate() answers nullopt then too and logs a warning.
//
// Thread-safety: every member function is thread-safe; calls run
// concurrently on shared channels. Ownership: owns one gRPC channel per
// address it has used (at most `max_channels`, least recently used dropped
// first); the resolver is called on the calling thread. gRPC stays private:
// this header does not include it.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dtq/core/ports/payload_validator.hpp"
#include "dtq/core/status.hpp"

namespace dtq::api {

struct GrpcPayloadValidatorSettings {
  // "host:port" of the workers that run `job_type`, in the order to try.
  std::function<std::vector<std::string>(std::string_view job_type)> resolve;
  std::string cluster_secret;  // sent with every call: the workers refuse calls without it
  std::chrono::milliseconds deadline{2000};  // per call, per candidate
  size_t max_message_bytes = 4 << 20;        // largest answer accepted
  size_t max_channels = 256;                 // cached channels (one per address)
};

class GrpcPayloadValidator final : public PayloadValidator {
 public:
  explicit GrpcPayloadValidator(GrpcPayloadValidatorSettings settings);
  ~GrpcPayloadValidator() override;
  GrpcPayloadValidator(const GrpcPayloadValidator&) = delete;
  GrpcPayloadValidator& operator=(const GrpcPayloadValidator&) = delete;

  // The port: nullopt when the type is unknown or no worker could answer.
  std::optional<ValidationOutcome> validate(std::string_view job_type,
                                            std::string_view payload) override;

  // The whole answer: the outcome, NotFound (no worker hosts the type) or
  // Unavailable (none of the candidates answered).
  StatusOr<ValidationOutcome> check(std::string_view job_type, std::string_view payload) override;

  // One ValidatePayloads call for all of them, to the first candidate that
  // answers it. A payload it could not answer, and every payload when no
  // candidate answered the call (a worker too old to know it, say), is
  // asked alone as check() asks, so the outcomes are check()'s.
  std::vector<StatusOr<ValidationOutcome>> check_batch(
      std::string_view job_type, std::span<const std::string_view> payloads) override;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dtq::api
