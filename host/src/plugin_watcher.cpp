#include "dtq/host/plugin_watcher.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <fstream>
#include <set>

namespace dtq::host {
namespace {

namespace fs = std::filesystem;

// FNV-1a of the file's bytes, in hex: the name of its copy.
std::string content_key(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  uint64_t hash = 14695981039346656037ULL;
  char buffer[64 * 1024];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    for (std::streamsize i = 0; i < in.gcount(); ++i) {
      hash = (hash ^ static_cast<unsigned char>(buffer[i])) * 1099511628211ULL;
    }
  }
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(hash));
  return text;
}

// Copies `library` to `copies`/<stem>-<content>.so (once: a copy is never
// rewritten, so a runner that mapped it never sees it change).
StatusOr<fs::path> content_addressed_copy(const fs::path& library, const fs::path& copies) {
  std::error_code error;
  fs::create_directories(copies, error);
  const fs::path copy = copies / (library.stem().string() + "-" + content_key(library) + ".so");
  if (fs::exists(copy, error)) return copy;
  const fs::path partial = copy.string() + ".part";
  if (!fs::copy_file(library, partial, fs::copy_options::overwrite_existing, error)) {
    return unavailable("cannot copy " + library.string() + " to " + partial.string() + ": " +
                       error.message());
  }
  fs::rename(partial, copy, error);
  if (error) return unavailable("cannot rename " + partial.string() + ": " + error.message());
  return copy;
}

}  // namespace

PluginWatcher::PluginWatcher(PluginWatcherSettings settings, PluginRegistry& registry,
                             Engine& engine)
    : settings_(std::move(settings)), registry_(registry), engine_(engine) {
  const auto take_as_seen = [this](const PluginRegistry& loaded, bool hosted) {
    for (const auto& plugin : loaded.list()) {
      std::error_code error;
      const fs::path& path = plugin->info().path;
      Seen seen{fs::last_write_time(path, error), fs::file_size(path, error), true,
                hosted ? plugin->info().job_type : std::string()};
      if (!error) seen_.emplace(path, std::move(seen));
    }
  };
  take_as_seen(registry_, true);
  if (settings_.loaded_elsewhere != nullptr) take_as_seen(*settings_.loaded_elsewhere, false);
  thread_ = std::thread(&PluginWatcher::loop, this);
}

PluginWatcher::~PluginWatcher() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void PluginWatcher::loop() {
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, settings_.interval, [this] { return stopping_; })) {
    lock.unlock();
    try {
      scan();
    } catch (const std::exception& e) {
      spdlog::error("plugin folder {}: {}", settings_.directory.string(), e.what());
    }
    lock.lock();
  }
}

void PluginWatcher::scan() {
  std::error_code error;
  std::set<fs::path> present;
  for (const auto& entry : fs::directory_iterator(settings_.directory, error)) {
    if (!entry.is_regular_file(error) || entry.path().extension() != ".so") continue;
    const fs::path& path = entry.path();
    present.insert(path);
    const auto time = fs::last_write_time(path, error);
    const auto size = fs::file_size(path, error);
    if (error) continue;
    auto [it, added] = seen_.try_emplace(path, Seen{time, size, false, ""});
    Seen& seen = it->second;
    if (added) continue;  // act once it has stayed the same for a poll
    if (seen.time != time || seen.size != size) {
      seen.time = time;
      seen.size = size;
      seen.settled = false;
      continue;
    }
    if (!seen.settled) {
      seen.settled = true;
      load(path, seen);
    }
  }
  for (auto it = seen_.begin(); it != seen_.end();) {
    if (present.contains(it->first)) {
      ++it;
      continue;
    }
    unload(it->first, it->second);
    it = seen_.erase(it);
  }
}

void PluginWatcher::load(const fs::path& library, Seen& seen) {
  const auto refuse = [&](const std::string& reason) {
    spdlog::error("plugin folder: refused {}: {}", library.string(), reason);
  };
  auto copy = content_addressed_copy(library, settings_.copies);
  if (!copy.ok()) return refuse(copy.status().message());
  auto plugin = start_plugin(library, settings_.isolation, *copy);
  if (!plugin.ok()) return refuse(plugin.status().message());
  const std::string type = (*plugin)->info().job_type;
  for (const auto& [path, other] : seen_) {
    if (path != library && other.job_type == type) {
      return refuse("duplicate job type \"" + type + "\": " + path.string() +
                    " provides it already");
    }
  }
  if (!seen.job_type.empty()) {
    unload(library, seen);
    seen.job_type.clear();
  }
  if (Status added = engine_.add_plugin(*plugin); !added.ok()) {
    spdlog::info("plugin folder: {} provides job type {}, not hosted here: {}", library.string(),
                 type, added.message());
    return;
  }
  (void)registry_.remove(type);  // nothing else provides it (checked above)
  if (Status registered = registry_.add(*plugin); !registered.ok())
    return refuse(registered.message());
  seen.job_type = type;
  spdlog::info("plugin folder: {} loaded: job type {} version {}", library.string(), type,
               (*plugin)->info().version);
  if (settings_.on_hosted) settings_.on_hosted(type);
}

void PluginWatcher::unload(const fs::path& library, const Seen& seen) {
  if (seen.job_type.empty()) return;
  spdlog::info("plugin folder: {} gone or replaced: stopping job type {}", library.string(),
               seen.job_type);
  if (settings_.on_unhosting) settings_.on_unhosting(seen.job_type);
  (void)registry_.remove(seen.job_type);
  if (Status removed = engine_.remove_plugin(seen.job_type); !removed.ok()) {
    spdlog::warn("plugin folder: {}", removed.message());
  }
}

}  // namespace dtq::host
