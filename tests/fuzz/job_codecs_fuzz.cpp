// The job message (Kafka jobs.<type>.v1) and status (Redis job:<id>:status)
// codecs, and the result document: any bytes parse or are refused, never
// crash; what parses is written back and reads the same (a worker re-reads
// what another wrote).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "dtq/core/model_json.hpp"

namespace {

void require(bool holds) {
  if (!holds) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto message = dtq::parse_job_message(text); message.ok()) {
    (void)dtq::check_job_message(*message);
    auto again = dtq::parse_job_message(dtq::to_json(*message));
    require(again.ok());
    require(again->job_id == message->job_id && again->payload == message->payload &&
            again->job_type == message->job_type && again->trace_id == message->trace_id);
  }
  if (auto status = dtq::parse_job_status(text); status.ok()) {
    auto again = dtq::parse_job_status(dtq::to_json(*status));
    require(again.ok());
    require(again->state == status->state && again->progress_percent == status->progress_percent &&
            again->message == status->message && again->error_code == status->error_code);
  }
  if (auto result = dtq::parse_job_result(text); result.ok()) {
    auto again = dtq::parse_job_result(dtq::to_json(*result));
    require(again.ok());
    require(again->final_state == result->final_state && again->output == result->output);
  }
  return 0;
}
