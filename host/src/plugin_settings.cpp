#include "dtq/host/plugin_settings.hpp"

#include <simdjson.h>

#include <cctype>
#include <charconv>
#include <cstdlib>

namespace dtq::host {
namespace {

std::optional<std::string> env(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

Status env_number(const std::string& name, std::optional<uint32_t>& out) {
  const auto text = env(name);
  if (!text) return {};
  uint32_t value = 0;
  const auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (error != std::errc() || end != text->data() + text->size() || value == 0) {
    return invalid_argument(name + "=\"" + *text + "\" is not a positive integer");
  }
  out = value;
  return {};
}

}  // namespace

void overlay(PluginSettings& base, const PluginSettings& top) {
  if (top.base_url) base.base_url = top.base_url;
  if (top.concurrency) base.concurrency = top.concurrency;
  if (top.timeout_ms) base.timeout_ms = top.timeout_ms;
  if (top.max_attempts) base.max_attempts = top.max_attempts;
  if (top.max_result_bytes) base.max_result_bytes = top.max_result_bytes;
}

StatusOr<PluginSettings> plugin_settings_from_env(const std::string& job_type) {
  std::string prefix = "DTQ_PLUGIN_";
  for (const char c : job_type)
    prefix.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  prefix += "_";
  PluginSettings settings;
  settings.base_url = env(prefix + "BASE_URL");
  if (!settings.base_url) settings.base_url = env("DTQ_HTTP_BASE_URL");
  for (const auto& [suffix, field] : {std::pair{"CONCURRENCY", &settings.concurrency},
                                      std::pair{"TIMEOUT_MS", &settings.timeout_ms},
                                      std::pair{"MAX_ATTEMPTS", &settings.max_attempts},
                                      std::pair{"MAX_RESULT_BYTES", &settings.max_result_bytes}}) {
    if (Status s = env_number(prefix + suffix, *field); !s.ok()) return s;
  }
  return settings;
}

StatusOr<std::map<std::string, PluginSettings>> load_plugin_settings_file(
    const std::filesystem::path& path) {
  simdjson::padded_string text;
  if (simdjson::padded_string::load(path.string()).get(text)) {
    return not_found("cannot read config file " + path.string());
  }
  const std::string where = "config file " + path.string() + ": ";
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto error = parser.parse(text).get(root); error) {
    return invalid_argument(where + "malformed JSON: " + simdjson::error_message(error));
  }
  simdjson::dom::object sections;
  if (root.get(sections)) return invalid_argument(where + "expected {\"plugins\": {...}}");
  std::map<std::string, PluginSettings> out;
  // A file may hold other sections only (the CLI's "backends").
  if (sections["plugins"].error() == simdjson::NO_SUCH_FIELD) return out;
  simdjson::dom::object plugins;
  if (sections["plugins"].get(plugins))
    return invalid_argument(where + "expected {\"plugins\": {...}}");
  for (const auto field : plugins) {
    const std::string type(field.key);
    simdjson::dom::object entry;
    if (field.value.get(entry))
      return invalid_argument(where + "plugins." + type + " must be an object");
    PluginSettings settings;
    for (const auto setting : entry) {
      const std::string key(setting.key);
      if (key == "base_url") {
        std::string_view url;
        if (setting.value.get(url))
          return invalid_argument(where + type + ".base_url must be a string");
        settings.base_url = std::string(url);
        continue;
      }
      std::optional<uint32_t>* number = key == "concurrency"        ? &settings.concurrency
                                        : key == "timeout_ms"       ? &settings.timeout_ms
                                        : key == "max_attempts"     ? &settings.max_attempts
                                        : key == "max_result_bytes" ? &settings.max_result_bytes
                                                                    : nullptr;
      if (number == nullptr) return invalid_argument(where + "unknown setting " + type + "." + key);
      uint64_t value = 0;
      if (setting.value.get(value) || value == 0 || value > UINT32_MAX) {
        return invalid_argument(where + type + "." + key + " must be a positive integer");
      }
      *number = static_cast<uint32_t>(value);
    }
    out.emplace(type, std::move(settings));
  }
  return out;
}

OutboundPolicy outbound_policy(const PluginInfo& plugin, const PluginSettings& settings) {
  return OutboundPolicy{plugin.allowed_hosts, settings.base_url};
}

}  // namespace dtq::host
