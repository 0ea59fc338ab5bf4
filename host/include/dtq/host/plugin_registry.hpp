// PluginRegistry: the loaded plugins by job type. Refuses a second plugin for
// a job type that is already registered.
//
// Thread-safety: every member function may be called from any thread (the
// plugin folder's watcher adds and removes while the API finds).
#pragma once

#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "dtq/core/status.hpp"
#include "dtq/host/plugin.hpp"

namespace dtq::host {

class PluginRegistry {
 public:
  Status add(std::shared_ptr<Plugin> plugin);
  // The plugin that provided `job_type`, no longer registered; null if none.
  std::shared_ptr<Plugin> remove(std::string_view job_type);
  std::shared_ptr<Plugin> find(std::string_view job_type) const;
  std::vector<std::shared_ptr<Plugin>> list() const;  // sorted by job type

 private:
  mutable std::shared_mutex mutex_;
  std::map<std::string, std::shared_ptr<Plugin>, std::less<>> by_type_;
};

}  // namespace dtq::host
