// Payload normalization, from the submit body to the job message: the body
// as the API reads it (simdjson, the payload minified), the plugin's
// validate() through the real host API (a plugin that hands back any bytes
// as its normalized payload, or field errors), then the job message the
// API enqueues. A payload the host accepts is always a JSON object and
// always makes a job message a worker can read.
#include <fuzzer/FuzzedDataProvider.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <string>

#include "dtq/core/json.hpp"
#include "dtq/core/model_json.hpp"
#include "dtq/core/time.hpp"
#include "dtq/host/plugin.hpp"

namespace {

void require(bool holds) {
  if (!holds) std::abort();
}

// What the fake plugin answers, set per input.
thread_local std::string normalized;
thread_local bool set_normalized = false;
thread_local std::string error_field;
thread_local bool add_error = false;

void validate(void*, const dtq_host_api* host, dtq_str, dtq_validation* validation) {
  if (set_normalized)
    host->set_normalized_payload(validation, {normalized.data(), normalized.size()});
  if (add_error)
    host->add_field_error(validation, {error_field.data(), error_field.size()}, {"bad", 3});
}
void shutdown(void*) {}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider input(data, size);
  set_normalized = input.ConsumeBool();
  add_error = input.ConsumeBool();
  error_field = input.ConsumeRandomLengthString(32);
  normalized = input.ConsumeRandomLengthString(4096);
  const std::string body = input.ConsumeRemainingBytesAsString();

  // The API's reading of {job_type, payload} (api_routes.cpp read_submission).
  static thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  simdjson::dom::element payload_element;
  if (parser.parse(simdjson::padded_string(body)).get(root) != simdjson::SUCCESS) return 0;
  if (!root.is_object() || root["payload"].get(payload_element) != simdjson::SUCCESS ||
      !payload_element.is_object()) {
    return 0;
  }
  const std::string payload = simdjson::minify(payload_element);
  require(dtq::check_json_object(payload).ok());

  static dtq_plugin_api api = [] {
    dtq_plugin_api made{};
    made.struct_size = sizeof made;
    made.validate = &validate;
    made.shutdown = &shutdown;
    return made;
  }();
  static dtq::host::InProcessPlugin plugin(dtq::host::PluginInfo{.job_type = "fuzz"}, &api,
                                           nullptr);
  auto outcome = plugin.check(payload);
  require(outcome.ok());
  if (!outcome->valid()) {
    require(outcome->normalized_payload.empty());
    return 0;
  }
  require(dtq::check_json_object(outcome->normalized_payload).ok());
  dtq::JobMessage message;
  message.job_id = "6f1c2a34-8b2e-4d7a-9c1e-2f3a4b5c6d7e";
  message.job_type = "fuzz";
  message.trace_id = "0b7f1c2a-8b2e-4d7a-9c1e-2f3a4b5c6d7e";
  message.submitted_at = dtq::now_rfc3339();
  message.payload = outcome->normalized_payload;
  auto read = dtq::parse_job_message(dtq::to_json(message));
  require(read.ok() && dtq::check_job_message(*read).ok());
  return 0;
}
