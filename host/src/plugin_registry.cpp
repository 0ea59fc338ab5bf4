#include "dtq/host/plugin_registry.hpp"

#include <mutex>

namespace dtq::host {

Status PluginRegistry::add(std::shared_ptr<Plugin> plugin) {
  const std::string& type = plugin->info().job_type;
  std::unique_lock lock(mutex_);
  const auto [it, inserted] = by_type_.try_emplace(type, plugin);
  if (!inserted) {
    return already_exists("duplicate job type \"" + type +
                          "\": " + it->second->info().path.string() + " and " +
                          plugin->info().path.string() + " both provide it");
  }
  return {};
}

std::shared_ptr<Plugin> PluginRegistry::remove(std::string_view job_type) {
  std::unique_lock lock(mutex_);
  const auto it = by_type_.find(job_type);
  if (it == by_type_.end()) return nullptr;
  auto removed = std::move(it->second);
  by_type_.erase(it);
  return removed;
}

std::shared_ptr<Plugin> PluginRegistry::find(std::string_view job_type) const {
  std::shared_lock lock(mutex_);
  const auto it = by_type_.find(job_type);
  return it == by_type_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<Plugin>> PluginRegistry::list() const {
  std::shared_lock lock(mutex_);
  std::vector<std::shared_ptr<Plugin>> out;
  out.reserve(by_type_.size());
  for (const auto& [type, plugin] : by_type_) out.push_back(plugin);
  return out;
}

}  // namespace dtq::host
