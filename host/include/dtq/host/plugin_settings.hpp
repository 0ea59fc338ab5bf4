// PluginSettings: what an operator may override per plugin, on top of the
// hints in the plugin's descriptor. Sources, later ones winning: the plugin's
// hints, a JSON config file, the environment, command-line flags.
//
// Config file: {"plugins": {"weather": {"concurrency": 4, "timeout_ms": 30000,
//               "max_attempts": 3, "max_result_bytes": 1048576,
//               "base_url": "http://127.0.0.1:8080"}}}
// (other top-level sections, such as the CLI's "backends", are left to their
// readers; a file without "plugins" sets nothing here).
// Environment (TYPE is the job type upper-cased, e.g. WEATHER):
//   DTQ_PLUGIN_<TYPE>_CONCURRENCY, _TIMEOUT_MS, _MAX_ATTEMPTS, _MAX_RESULT_BYTES,
//   _BASE_URL
//   DTQ_HTTP_BASE_URL   a base URL for every plugin (a per-plugin one wins)
//
// Thread-safety: plain values; the functions are safe to call concurrently
// with each other (not with setenv).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "dtq/core/status.hpp"
#include "dtq/host/http_client.hpp"
#include "dtq/host/plugin.hpp"

namespace dtq::host {

struct PluginSettings {
  std::optional<std::string> base_url;
  std::optional<uint32_t> concurrency;
  std::optional<uint32_t> timeout_ms;
  std::optional<uint32_t> max_attempts;
  // The largest result a job may hand back; a larger one fails the attempt.
  std::optional<uint32_t> max_result_bytes;
};

// Fields set in `top` replace those in `base`.
void overlay(PluginSettings& base, const PluginSettings& top);

// Environment settings for `job_type`; InvalidArgument names a malformed variable.
StatusOr<PluginSettings> plugin_settings_from_env(const std::string& job_type);

// Settings by job type from a config file.
StatusOr<std::map<std::string, PluginSettings>> load_plugin_settings_file(
    const std::filesystem::path& path);

// The allow-list the plugin declared plus the operator's redirect.
OutboundPolicy outbound_policy(const PluginInfo& plugin, const PluginSettings& settings);

}  // namespace dtq::host
