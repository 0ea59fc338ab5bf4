// Plugin: one job handler loaded from a shared library and initialised. Holds
// the metadata copied out of its descriptor and calls its hooks.
//
// Thread-safety: validate() and run() may be called from many threads at
// once; for a plugin that declared itself single-threaded, run() serialises
// its calls. Ownership: the registry owns Plugins through shared_ptr; the
// shared library is never unloaded while the process runs.
#pragma once

#include <dtq/plugin.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dtq/core/ports/payload_validator.hpp"

namespace dtq::host {

class JobContext;

// The plugin's descriptor, copied into owned strings.
struct PluginInfo {
  std::string name;
  std::string job_type;
  std::string version;
  std::string sdk_version;
  std::string description;
  std::string payload_schema_json;
  std::vector<std::string> allowed_hosts;
  uint32_t abi_major = 0;
  uint32_t abi_minor = 0;
  uint32_t default_concurrency = 0;
  uint32_t default_timeout_ms = 0;
  uint32_t default_max_attempts = 0;
  bool single_threaded = false;
  std::filesystem::path path;  // the library it came from
};

using dtq::FieldError;
using dtq::ValidationOutcome;

class Plugin {
 public:
  // `api` and `state` come from a successful init(); shutdown() runs in the
  // destructor.
  Plugin(PluginInfo info, const dtq_plugin_api* api, void* state);
  ~Plugin();
  Plugin(const Plugin&) = delete;
  Plugin& operator=(const Plugin&) = delete;

  const PluginInfo& info() const noexcept { return info_; }

  // Asks the plugin whether `payload` is acceptable; never throws for bad input.
  ValidationOutcome validate(std::string_view payload) const;

  // Runs one attempt; the outcome is recorded in `context`.
  void run(JobContext& context) const;

  // Tells the plugin's optional cancel hook that `context` was cancelled.
  void notify_cancel(JobContext& context) const;

 private:
  PluginInfo info_;
  const dtq_plugin_api* api_;
  void* state_;
  mutable std::mutex single_thread_mutex_;
};

}  // namespace dtq::host
