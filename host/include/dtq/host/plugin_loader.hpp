// PluginLoader: opens plugin shared libraries with Boost.DLL, checks the
// descriptor before any other plugin code runs (ABI version, struct sizes,
// metadata), then initialises them.
//
// Every refusal names its cause: missing descriptor, ABI major mismatch
// (both versions named), ABI minor newer than the host, invalid metadata,
// failed init, duplicate job type.
//
// Thread-safety: call from the main thread at start-up (plugins' init and
// shutdown hooks require it). Ownership: loaded libraries are kept open
// for the life of the process, even after the Plugin objects are gone.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "dtq/core/status.hpp"
#include "dtq/host/plugin.hpp"

namespace dtq::host {

// What to do when one library in a plugin directory is refused.
enum class BadPluginPolicy {
  kFail,        // stop start-up (the default: a deployment missing a job type is broken)
  kQuarantine,  // log it, list it as rejected, carry on with the rest
};

struct RejectedPlugin {
  std::filesystem::path path;
  Status reason;
};

struct LoadReport {
  std::vector<std::shared_ptr<Plugin>> plugins;  // sorted by job type
  std::vector<RejectedPlugin> rejected;
};

// Reads and checks the descriptor without calling init(): what
// `dtq plugin check` reports and what load() does first.
StatusOr<PluginInfo> inspect_plugin(const std::filesystem::path& library);

// Inspects, then initialises one plugin in this process.
StatusOr<std::shared_ptr<Plugin>> load_plugin(const std::filesystem::path& library);
StatusOr<std::shared_ptr<InProcessPlugin>> load_in_process_plugin(
    const std::filesystem::path& library);

// The *.so files in `directory` (not recursive), sorted; NotFound when it
// is not a folder.
StatusOr<std::vector<std::filesystem::path>> list_plugin_libraries(
    const std::filesystem::path& directory);

// Loads every *.so in `directory` (not recursive), refusing duplicate job
// types. Under kFail the first refusal is returned as an error Status.
StatusOr<LoadReport> load_plugin_directory(const std::filesystem::path& directory,
                                           BadPluginPolicy policy);

}  // namespace dtq::host
