#include "dtq/host/plugin_settings.hpp"

#include <cctype>
#include <cstdlib>

namespace dtq::host {
namespace {

std::optional<std::string> env(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

}  // namespace

PluginSettings plugin_settings_from_env(const std::string& job_type) {
  std::string upper;
  for (const char c : job_type) upper.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  PluginSettings settings;
  settings.base_url = env("DTQ_PLUGIN_" + upper + "_BASE_URL");
  if (!settings.base_url) settings.base_url = env("DTQ_HTTP_BASE_URL");
  return settings;
}

OutboundPolicy outbound_policy(const PluginInfo& plugin, const PluginSettings& settings) {
  return OutboundPolicy{plugin.allowed_hosts, settings.base_url};
}

}  // namespace dtq::host
