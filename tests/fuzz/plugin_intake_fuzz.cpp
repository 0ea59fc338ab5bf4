// What a plugin hands back across the C ABI: the host API calls of a run
// (progress, logs, set_result, fail) in any order with any bytes, through
// the real dtq_host_api table onto a JobContext. Whatever the plugin did,
// the outcome is one the host can store: its result and its status, as the
// stores write them, read back (a result that is not a JSON object, or a
// code that is not UTF-8, must have been caught at the boundary).
#include <fuzzer/FuzzedDataProvider.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <string>

#include "dtq/core/ids.hpp"
#include "dtq/core/model_json.hpp"
#include "dtq/core/time.hpp"
#include "dtq/host/http_client.hpp"
#include "dtq/host/job_context.hpp"

namespace {

void require(bool holds) {
  if (!holds) std::abort();
}

dtq_str str(const std::string& text) {
  return dtq_str{text.data(), text.size()};
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider input(data, size);
  static const dtq::host::HttpClient http;
  dtq::host::JobRequest request;
  request.job_id = "6f1c2a34-8b2e-4d7a-9c1e-2f3a4b5c6d7e";
  request.job_type = "fuzz";
  request.trace_id = "0b7f1c2a-8b2e-4d7a-9c1e-2f3a4b5c6d7e";
  request.payload = "{}";
  request.max_result_bytes = 4096;
  request.progress_interval = std::chrono::milliseconds(0);
  const auto context = dtq::host::JobContext::create(request, {}, http, nullptr);
  const dtq_host_api* host = dtq::host::host_api();
  dtq_job_ctx* handle = context->abi_handle();
  while (input.remaining_bytes() > 0) {
    switch (input.ConsumeIntegralInRange<int>(0, 3)) {
      case 0: {
        const int percent = input.ConsumeIntegral<int32_t>();
        const std::string message = input.ConsumeRandomLengthString(256);
        host->report_progress(handle, percent, str(message));
        break;
      }
      case 1: {
        const auto level = static_cast<dtq_log_level>(input.ConsumeIntegralInRange<int>(0, 3));
        const std::string message = input.ConsumeRandomLengthString(256);
        host->log(handle, level, str(message));
        break;
      }
      case 2: {
        const std::string result = input.ConsumeRandomLengthString(8192);
        host->set_result(handle, str(result));
        break;
      }
      default: {
        const std::string code = input.ConsumeRandomLengthString(64);
        const std::string message = input.ConsumeRandomLengthString(256);
        host->fail(handle, str(code), str(message), input.ConsumeBool() ? 1 : 0);
        break;
      }
    }
  }
  const dtq::host::JobOutcome outcome = context->finish();
  require(outcome.progress >= 0 && outcome.progress <= 100);

  // What the worker stores: the result document and the final status.
  dtq::JobResult result;
  result.job_id = request.job_id;
  result.job_type = request.job_type;
  result.input = request.payload;
  result.trace_id = request.trace_id;
  result.completed_at = dtq::now_rfc3339();
  dtq::JobStatus status{.job_id = request.job_id,
                        .progress_percent = outcome.progress,
                        .updated_at = result.completed_at,
                        .trace_id = request.trace_id,
                        .job_type = request.job_type};
  if (outcome.kind == dtq::host::JobOutcome::Kind::kCompleted) {
    result.output = outcome.output_json;
    status.state = dtq::JobState::kCompleted;
  } else {
    result.final_state = dtq::JobState::kFailed;
    result.error = dtq::JobError{outcome.error_code, outcome.error_message};
    status.state = dtq::JobState::kFailed;
    status.error_code = outcome.error_code;
    status.error_message = outcome.error_message;
  }
  result.final_state = status.state;
  auto stored = dtq::parse_job_result(dtq::to_json(result));
  require(stored.ok());
  auto shown = dtq::parse_job_status(dtq::to_json(status));
  require(shown.ok() && *shown == status);
  return 0;
}
