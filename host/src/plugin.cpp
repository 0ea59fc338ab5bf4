#include "dtq/host/plugin.hpp"

#include "dtq/core/json.hpp"
#include "dtq/host/job_context.hpp"
#include "validation.hpp"

namespace dtq::host {

ValidationOutcome Plugin::validate(std::string_view payload) const {
  auto outcome = check(payload);
  if (outcome.ok()) return std::move(outcome).value();
  return ValidationOutcome{{}, {FieldError{"", outcome.status().message()}}};
}

InProcessPlugin::InProcessPlugin(PluginInfo info, const dtq_plugin_api* api, void* state)
    : info_(std::move(info)), api_(api), state_(state) {}

InProcessPlugin::~InProcessPlugin() {
  api_->shutdown(state_);
}

StatusOr<ValidationOutcome> InProcessPlugin::check(std::string_view payload) const {
  // The plugin is the authority on its payload, but only on a JSON object:
  // garbage never reaches plugin code.
  if (Status parsed = check_json_object(payload); !parsed.ok()) {
    return ValidationOutcome{{}, {FieldError{"", parsed.message()}}};
  }
  dtq_validation validation;
  api_->validate(state_, host_api(), dtq_str{payload.data(), payload.size()}, &validation);
  ValidationOutcome& outcome = validation.outcome;
  if (!outcome.valid()) {
    outcome.normalized_payload.clear();
    return std::move(outcome);
  }
  if (!validation.normalized_set) {
    outcome.normalized_payload = std::string(payload);
  } else if (Status normalized = check_json_object(outcome.normalized_payload); !normalized.ok()) {
    outcome.errors.push_back({"", "plugin " + info_.job_type +
                                      " returned a normalized payload that is not a JSON object"});
    outcome.normalized_payload.clear();
  }
  return std::move(outcome);
}

void InProcessPlugin::run(JobContext& context) const {
  run_with(host_api(), context.abi_job(), context.abi_handle());
}

void InProcessPlugin::run_with(const dtq_host_api* host, const dtq_job* job,
                               dtq_job_ctx* context) const {
  if (info_.single_threaded) {
    std::lock_guard lock(single_thread_mutex_);
    api_->run(state_, host, job, context);
    return;
  }
  api_->run(state_, host, job, context);
}

void InProcessPlugin::notify_cancel(JobContext& context) const {
  cancel_with(context.abi_handle());
}

void InProcessPlugin::cancel_with(dtq_job_ctx* context) const {
  if (api_->cancel != nullptr) api_->cancel(state_, context);
}

}  // namespace dtq::host
