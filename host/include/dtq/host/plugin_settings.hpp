// PluginSettings: what an operator may override per plugin, on top of the
// hints in the plugin's descriptor. The engine and CLI fill these from flags,
// a config file or the environment; this header only reads the environment.
//
// Environment (TYPE is the job type upper-cased, e.g. WEATHER):
//   DTQ_PLUGIN_<TYPE>_BASE_URL  redirect the plugin's HTTP to this origin
//   DTQ_HTTP_BASE_URL           the same for every plugin (a per-plugin one wins)
//
// Thread-safety: plain values; the functions read the environment and are
// safe to call concurrently with each other (not with setenv).
#pragma once

#include <optional>
#include <string>

#include "dtq/host/http_client.hpp"
#include "dtq/host/plugin.hpp"

namespace dtq::host {

struct PluginSettings {
  std::optional<std::string> base_url;
};

PluginSettings plugin_settings_from_env(const std::string& job_type);

// The allow-list the plugin declared plus the operator's redirect.
OutboundPolicy outbound_policy(const PluginInfo& plugin, const PluginSettings& settings);

}  // namespace dtq::host
