// PluginWatcher: hot drop-in. Watches a running host's plugin folder and
// brings the engine and the registry in line with it, without a restart:
// - a new library is checked and, when accepted, its job type registered
//   and given a pool within a poll or two;
// - a replaced library (same file name, new content) drains the old pool
//   and starts one on the new plugin;
// - a removed library stops its pool; its queued jobs wait for one.
// A refused library is logged with the loader's reason and changes nothing.
//
// The checks and the plugin itself run where the host's isolation settings
// say — in a runner process by default, so the watcher never runs plugin
// code — on a content-addressed copy in `copies`: a library overwritten in
// place (instead of installed with `mv`) can never change under a running
// runner. A file is taken once its size and time stop changing between two
// polls, so a copy still being written is not loaded half-way.
//
// Thread-safety: owns one polling thread, stopped by the destructor.
// Ownership: borrows the registry and the engine, which must outlive it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "dtq/host/engine.hpp"
#include "dtq/host/isolated_plugin.hpp"
#include "dtq/host/plugin_registry.hpp"

namespace dtq::host {

struct PluginWatcherSettings {
  std::filesystem::path directory;  // the plugin folder
  std::filesystem::path copies;     // where the content-addressed copies go
  IsolationSettings isolation;
  std::chrono::milliseconds interval{1000};
  // Told, on the watcher's thread, once a pool for a dropped-in library
  // takes work, and before the pool of a removed or replaced one stops: a
  // distributed worker announces its pools to the API's registry so.
  std::function<void(const std::string& job_type)> on_hosted;
  std::function<void(const std::string& job_type)> on_unhosting;
  // Libraries the host loaded at start-up but does not host (a worker's
  // `--only`): taken as seen, so that they are not loaded again for nothing.
  const PluginRegistry* loaded_elsewhere = nullptr;
};

class PluginWatcher {
 public:
  // The libraries of the folder that `registry` already holds (by their
  // path) are taken as loaded.
  PluginWatcher(PluginWatcherSettings settings, PluginRegistry& registry, Engine& engine);
  ~PluginWatcher();
  PluginWatcher(const PluginWatcher&) = delete;
  PluginWatcher& operator=(const PluginWatcher&) = delete;

 private:
  struct Seen {
    std::filesystem::file_time_type time;
    uintmax_t size = 0;
    bool settled = false;  // unchanged across two polls, and acted on
    std::string job_type;  // what it provides now; "" when refused
  };

  void loop();
  void scan();
  void load(const std::filesystem::path& library, Seen& seen);
  void unload(const std::filesystem::path& library, const Seen& seen);

  const PluginWatcherSettings settings_;
  PluginRegistry& registry_;
  Engine& engine_;
  std::map<std::filesystem::path, Seen> seen_;  // the polling thread's alone

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace dtq::host
