// The dtq_host_api table: thin C trampolines onto JobContext and the
// validation collector. No exception may escape into plugin code, so each
// trampoline that allocates catches everything.
#include <spdlog/spdlog.h>

#include "dtq/core/utf8.hpp"
#include "dtq/host/job_context.hpp"
#include "validation.hpp"

namespace dtq::host {
namespace {

std::string_view view(dtq_str s) {
  return s.ptr == nullptr ? std::string_view{} : std::string_view{s.ptr, s.len};
}

void report_progress(dtq_job_ctx* job, int32_t percent, dtq_str message) noexcept {
  try {
    if (const auto context = JobContext::from_abi(job))
      context->report_progress(percent, view(message));
  } catch (...) {
    spdlog::error("host api: report_progress failed");
  }
}

void log(dtq_job_ctx* job, dtq_log_level level, dtq_str message) noexcept {
  try {
    if (job == nullptr) {
      spdlog::log(level >= DTQ_LOG_ERROR ? spdlog::level::err : spdlog::level::info, "plugin: {}",
                  to_valid_utf8(view(message)));
      return;
    }
    if (const auto context = JobContext::from_abi(job)) context->log(level, view(message));
  } catch (...) {
  }
}

int is_cancelled(dtq_job_ctx* job) noexcept {
  try {
    const auto context = JobContext::from_abi(job);
    return context == nullptr || context->interrupted() ? 1 : 0;
  } catch (...) {
    return 1;
  }
}

dtq_status sleep_ms(dtq_job_ctx* job, uint32_t ms) noexcept {
  if (job == nullptr) return DTQ_ERR_INVALID_ARGUMENT;
  try {
    const auto context = JobContext::from_abi(job);
    if (context == nullptr || context->ended()) return DTQ_ERR_JOB_ENDED;
    return context->sleep_for(std::chrono::milliseconds(ms)) ? DTQ_OK : DTQ_ERR_CANCELLED;
  } catch (...) {
    return DTQ_ERR_CANCELLED;
  }
}

dtq_status http_request(dtq_job_ctx* job, const dtq_http_request* request,
                        dtq_http_response* response) noexcept {
  if (job == nullptr || request == nullptr || response == nullptr) return DTQ_ERR_INVALID_ARGUMENT;
  try {
    const auto context = JobContext::from_abi(job);
    if (context == nullptr) return DTQ_ERR_JOB_ENDED;
    return context->http(*request, *response);
  } catch (const std::exception& e) {
    spdlog::error("host api: http_request failed: {}", e.what());
    return DTQ_ERR_TRANSPORT;
  }
}

void set_result(dtq_job_ctx* job, dtq_str output_json) noexcept {
  try {
    if (const auto context = JobContext::from_abi(job)) context->set_result(view(output_json));
  } catch (...) {
    spdlog::error("host api: set_result failed");
  }
}

void fail(dtq_job_ctx* job, dtq_str code, dtq_str message, int retryable) noexcept {
  try {
    if (const auto context = JobContext::from_abi(job)) {
      context->fail(view(code), view(message), retryable != 0);
    }
  } catch (...) {
    spdlog::error("host api: fail failed");
  }
}

void set_normalized_payload(dtq_validation* validation, dtq_str payload_json) noexcept {
  if (validation == nullptr) return;
  try {
    validation->outcome.normalized_payload = std::string(view(payload_json));
    validation->normalized_set = true;
  } catch (...) {
  }
}

void add_field_error(dtq_validation* validation, dtq_str field, dtq_str message) noexcept {
  if (validation == nullptr) return;
  try {
    validation->outcome.errors.push_back(
        {to_valid_utf8(view(field)), to_valid_utf8(view(message))});
  } catch (...) {
  }
}

constexpr dtq_host_api kHostApi{
    sizeof(dtq_host_api),
    DTQ_ABI_VERSION_MAJOR,
    DTQ_ABI_VERSION_MINOR,
    &report_progress,
    &log,
    &is_cancelled,
    &sleep_ms,
    &http_request,
    &set_result,
    &fail,
    &set_normalized_payload,
    &add_field_error,
};

}  // namespace

const dtq_host_api* host_api() noexcept {
  return &kHostApi;
}

}  // namespace dtq::host
