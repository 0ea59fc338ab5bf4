#include "dtq/host/plugin_loader.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <boost/dll/shared_library.hpp>
#include <cstddef>
#include <string_view>

#include "dtq/core/ids.hpp"
#include "dtq/core/json.hpp"
#include "dtq/host/job_context.hpp"
#include "dtq/host/plugin_registry.hpp"

namespace dtq::host {
namespace {

// The descriptor and API table as ABI 1.0 defined them: every later minor
// version only appends, so these are the smallest sizes a plugin may report.
constexpr size_t kDescriptorV1Size =
    offsetof(dtq_plugin_descriptor, api) + sizeof(dtq_plugin_descriptor::api);
constexpr size_t kPluginApiV1Size =
    offsetof(dtq_plugin_api, cancel) + sizeof(dtq_plugin_api::cancel);
constexpr size_t kFrozenHeaderSize =
    offsetof(dtq_plugin_descriptor, abi_minor) + sizeof(dtq_plugin_descriptor::abi_minor);

constexpr size_t kMaxAllowedHosts = 64;
constexpr uint32_t kMaxConcurrency = 4096;
constexpr uint32_t kMaxTimeoutMs = 24u * 60 * 60 * 1000;
constexpr uint32_t kMaxAttempts = 100;

std::string abi_string(uint32_t major, uint32_t minor) {
  return std::to_string(major) + "." + std::to_string(minor);
}

bool is_semver_like(std::string_view v) {
  // MAJOR.MINOR.PATCH with an optional -prerelease/+build suffix.
  int dots = 0;
  bool digit_seen = false;
  size_t i = 0;
  for (; i < v.size() && v[i] != '-' && v[i] != '+'; ++i) {
    if (v[i] == '.') {
      if (!digit_seen) return false;
      ++dots;
      digit_seen = false;
    } else if (v[i] >= '0' && v[i] <= '9') {
      digit_seen = true;
    } else {
      return false;
    }
  }
  return dots == 2 && digit_seen && (i == v.size() || i + 1 < v.size());
}

bool is_host_name(std::string_view host) {
  if (host.empty() || host.size() > 253 || host.front() == '.' || host.back() == '.') return false;
  return std::all_of(host.begin(), host.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-';
  });
}

Status invalid_metadata(const std::string& what) {
  return invalid_argument("invalid metadata: " + what);
}

std::string text_or_empty(const char* text) {
  return text == nullptr ? std::string() : text;
}

// The plugin's names, version and payload schema: each present and well formed.
Status check_identity(const PluginInfo& info) {
  if (info.name.empty()) return invalid_metadata("name is empty");
  if (!is_valid_job_type(info.job_type)) {
    return invalid_metadata("job_type \"" + info.job_type + "\" must match [a-z][a-z0-9_]{0,63}");
  }
  if (!is_semver_like(info.version)) {
    return invalid_metadata("version \"" + info.version + "\" is not MAJOR.MINOR.PATCH");
  }
  if (Status schema = check_json_object(info.payload_schema_json); !schema.ok()) {
    return invalid_metadata("payload_schema_json is not a JSON Schema object (" + schema.message() +
                            ")");
  }
  return {};
}

// The hosts the plugin may call, checked, into `info`.
Status read_allowed_hosts(const dtq_plugin_descriptor& d, PluginInfo& info) {
  if (d.allowed_host_count > kMaxAllowedHosts) {
    return invalid_metadata("allowed_hosts lists " + std::to_string(d.allowed_host_count) +
                            " hosts; at most " + std::to_string(kMaxAllowedHosts));
  }
  if (d.allowed_host_count > 0 && d.allowed_hosts == nullptr) {
    return invalid_metadata("allowed_host_count is set but allowed_hosts is NULL");
  }
  for (size_t i = 0; i < d.allowed_host_count; ++i) {
    const std::string host = text_or_empty(d.allowed_hosts[i]);
    if (!is_host_name(host)) {
      return invalid_metadata("allowed_hosts[" + std::to_string(i) + "] \"" + host +
                              "\" is not a host name");
    }
    info.allowed_hosts.push_back(host);
  }
  return {};
}

// The pool hints, each within its bound.
Status check_defaults(const PluginInfo& info) {
  if (info.default_concurrency > kMaxConcurrency) {
    return invalid_metadata("default_concurrency " + std::to_string(info.default_concurrency) +
                            " exceeds " + std::to_string(kMaxConcurrency));
  }
  if (info.default_timeout_ms > kMaxTimeoutMs) {
    return invalid_metadata("default_timeout_ms " + std::to_string(info.default_timeout_ms) +
                            " exceeds 24 hours");
  }
  if (info.default_max_attempts > kMaxAttempts) {
    return invalid_metadata("default_max_attempts " + std::to_string(info.default_max_attempts) +
                            " exceeds " + std::to_string(kMaxAttempts));
  }
  return {};
}

// The function table: present, at least the 1.0 size, its required hooks set.
Status check_api(const dtq_plugin_api* api) {
  if (api == nullptr) return invalid_metadata("api table is NULL");
  if (api->struct_size < kPluginApiV1Size) {
    return invalid_metadata("api table is " + std::to_string(api->struct_size) +
                            " bytes; ABI 1.0 needs at least " + std::to_string(kPluginApiV1Size));
  }
  if (api->init == nullptr || api->shutdown == nullptr || api->validate == nullptr ||
      api->run == nullptr) {
    return invalid_metadata("api table lacks one of init, shutdown, validate, run");
  }
  return {};
}

// Checks everything the descriptor says and copies it out, one refusal per
// defect, in the order plugin.h lists the fields. Called only after the ABI
// version has been accepted, so the 1.0 layout applies.
StatusOr<PluginInfo> read_descriptor(const dtq_plugin_descriptor& d) {
  if (d.struct_size < kDescriptorV1Size) {
    return invalid_metadata("descriptor is " + std::to_string(d.struct_size) + " bytes; ABI " +
                            abi_string(d.abi_major, d.abi_minor) + " needs at least " +
                            std::to_string(kDescriptorV1Size));
  }
  PluginInfo info;
  info.abi_major = d.abi_major;
  info.abi_minor = d.abi_minor;
  info.name = text_or_empty(d.name);
  info.job_type = text_or_empty(d.job_type);
  info.version = text_or_empty(d.version);
  info.sdk_version = text_or_empty(d.sdk_version);
  info.description = text_or_empty(d.description);
  info.payload_schema_json = text_or_empty(d.payload_schema_json);
  info.default_concurrency = d.default_concurrency;
  info.default_timeout_ms = d.default_timeout_ms;
  info.default_max_attempts = d.default_max_attempts;
  info.single_threaded = (d.flags & DTQ_PLUGIN_SINGLE_THREADED) != 0;
  if (Status identity = check_identity(info); !identity.ok()) return identity;
  if (Status hosts = read_allowed_hosts(d, info); !hosts.ok()) return hosts;
  if (Status defaults = check_defaults(info); !defaults.ok()) return defaults;
  if (Status api = check_api(d.api); !api.ok()) return api;
  return info;
}

struct OpenedPlugin {
  boost::dll::shared_library library;
  const dtq_plugin_descriptor* descriptor = nullptr;
  PluginInfo info;
};

Status with_path(const std::filesystem::path& path, const Status& status) {
  return {status.code(), path.string() + ": " + status.message()};
}

StatusOr<OpenedPlugin> open_plugin(const std::filesystem::path& path) {
  OpenedPlugin opened;
  boost::dll::fs::error_code error;
  opened.library.load(boost::dll::fs::path(path.string()),
                      boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, error);
  if (error) {
    // Boost.DLL clears dlerror(), which holds the useful part ("undefined
    // symbol: ..."), so ask the dynamic loader once more for its own words.
    std::string reason = error.message();
    if (void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL); handle != nullptr) {
      dlclose(handle);
    } else if (const char* loader_error = dlerror(); loader_error != nullptr) {
      reason = loader_error;
    }
    return failed_precondition("cannot load shared library: " + reason);
  }
  if (!opened.library.has(DTQ_DESCRIPTOR_SYMBOL)) {
    return failed_precondition(std::string("missing descriptor: the library does not export ") +
                               DTQ_DESCRIPTOR_SYMBOL +
                               " (build it with DTQ_PLUGIN(...) and dtq_add_plugin)");
  }
  const auto descriptor_fn =
      opened.library.get<const dtq_plugin_descriptor*()>(DTQ_DESCRIPTOR_SYMBOL);
  const dtq_plugin_descriptor* d = descriptor_fn();
  if (d == nullptr)
    return failed_precondition("missing descriptor: the descriptor function returned NULL");
  if (d->struct_size < kFrozenHeaderSize) {
    return failed_precondition("descriptor is " + std::to_string(d->struct_size) +
                               " bytes, too small to carry an ABI version");
  }
  if (d->abi_major != DTQ_ABI_VERSION_MAJOR) {
    return failed_precondition("ABI major version mismatch: plugin built for ABI " +
                               abi_string(d->abi_major, d->abi_minor) + ", host speaks ABI " +
                               abi_string(DTQ_ABI_VERSION_MAJOR, DTQ_ABI_VERSION_MINOR));
  }
  if (d->abi_minor > DTQ_ABI_VERSION_MINOR) {
    return failed_precondition("ABI minor version newer than the host: plugin needs ABI " +
                               abi_string(d->abi_major, d->abi_minor) + ", host speaks ABI " +
                               abi_string(DTQ_ABI_VERSION_MAJOR, DTQ_ABI_VERSION_MINOR) +
                               " (upgrade dtq or rebuild the plugin with an older SDK)");
  }
  auto info = read_descriptor(*d);
  if (!info.ok()) return info.status();
  opened.descriptor = d;
  opened.info = std::move(info).value();
  opened.info.path = path;
  return opened;
}

// Marks the library behind `path` (already open) as never to be unloaded.
// Once its init() ran, a plugin may have started threads or handed out
// pointers to its statics, even when init() then failed: unmapping it under
// them would crash long after the cause. The dynamic loader keeps the
// promise (RTLD_NODELETE), so no handle needs to be kept for it.
Status pin_resident(const std::filesystem::path& path) {
  void* pinned = ::dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
  if (pinned == nullptr) {
    const char* reason = ::dlerror();
    return internal_error("cannot keep the library loaded: " +
                          std::string(reason != nullptr ? reason : "unknown dlopen error"));
  }
  ::dlclose(pinned);
  return {};
}

StatusOr<std::shared_ptr<InProcessPlugin>> initialize(OpenedPlugin opened) {
  const dtq_plugin_api* api = opened.descriptor->api;
  if (Status pinned = pin_resident(opened.info.path); !pinned.ok()) return pinned;
  void* state = nullptr;
  if (const int32_t code = api->init(host_api(), &state); code != 0) {
    return failed_precondition("init failed: the plugin's init returned " + std::to_string(code));
  }
  return std::make_shared<InProcessPlugin>(std::move(opened.info), api, state);
}

}  // namespace

StatusOr<PluginInfo> inspect_plugin(const std::filesystem::path& library) {
  auto opened = open_plugin(library);
  if (!opened.ok()) return with_path(library, opened.status());
  // Inspection alone never calls init, so the library may be closed again.
  return std::move(opened->info);
}

StatusOr<std::shared_ptr<InProcessPlugin>> load_in_process_plugin(
    const std::filesystem::path& library) {
  auto opened = open_plugin(library);
  if (!opened.ok()) return with_path(library, opened.status());
  auto plugin = initialize(std::move(opened).value());
  if (!plugin.ok()) return with_path(library, plugin.status());
  return plugin;
}

StatusOr<std::shared_ptr<Plugin>> load_plugin(const std::filesystem::path& library) {
  auto plugin = load_in_process_plugin(library);
  if (!plugin.ok()) return plugin.status();
  return std::shared_ptr<Plugin>(std::move(plugin).value());
}

StatusOr<std::vector<std::filesystem::path>> list_plugin_libraries(
    const std::filesystem::path& directory) {
  std::error_code error;
  if (!std::filesystem::is_directory(directory, error)) {
    return not_found("plugin directory " + directory.string() + " does not exist");
  }
  std::vector<std::filesystem::path> libraries;
  for (const auto& entry : std::filesystem::directory_iterator(directory, error)) {
    if (entry.is_regular_file() && entry.path().extension() == ".so")
      libraries.push_back(entry.path());
  }
  std::sort(libraries.begin(), libraries.end());
  return libraries;
}

StatusOr<LoadReport> load_plugin_directory(const std::filesystem::path& directory,
                                           BadPluginPolicy policy) {
  auto listed = list_plugin_libraries(directory);
  if (!listed.ok()) return listed.status();
  const std::vector<std::filesystem::path>& libraries = *listed;

  LoadReport report;
  PluginRegistry seen;
  const auto refuse = [&](const std::filesystem::path& path, Status reason) -> Status {
    if (policy == BadPluginPolicy::kFail) return reason;
    report.rejected.push_back({path, std::move(reason)});
    return {};
  };
  for (const auto& path : libraries) {
    auto opened = open_plugin(path);
    if (!opened.ok()) {
      if (Status s = refuse(path, with_path(path, opened.status())); !s.ok()) return s;
      continue;
    }
    // The duplicate check comes before init so a refused copy never runs.
    if (auto existing = seen.find(opened->info.job_type); existing != nullptr) {
      Status duplicate = already_exists("duplicate job type \"" + opened->info.job_type +
                                        "\": " + existing->info().path.string() + " and " +
                                        path.string() + " both provide it");
      if (Status s = refuse(path, std::move(duplicate)); !s.ok()) return s;
      continue;
    }
    auto plugin = initialize(std::move(opened).value());
    if (!plugin.ok()) {
      if (Status s = refuse(path, with_path(path, plugin.status())); !s.ok()) return s;
      continue;
    }
    (void)seen.add(std::shared_ptr<Plugin>(std::move(plugin).value()));
  }
  report.plugins = seen.list();
  return report;
}

}  // namespace dtq::host
