// `dtq plugins` and `dtq plugin check`: what the host would load, and why a
// given library would be refused.
#include <dtq/plugin.h>

#include <iomanip>
#include <iostream>
#include <sstream>

#include "commands.hpp"
#include "dtq/core/logging.hpp"
#include "dtq/host/plugin_loader.hpp"

namespace dtq::cli {
namespace {

std::string join(const std::vector<std::string>& items) {
  std::ostringstream out;
  for (size_t i = 0; i < items.size(); ++i) out << (i == 0 ? "" : ", ") << items[i];
  return out.str();
}

std::string or_host_default(uint32_t value, std::string_view unit = "") {
  return value == 0 ? "host default" : std::to_string(value) + std::string(unit);
}

void print_summary(const host::PluginInfo& info) {
  std::cout << "  name:          " << info.name << "\n"
            << "  job type:      " << info.job_type << "\n"
            << "  version:       " << info.version << "\n"
            << "  ABI:           " << info.abi_major << "." << info.abi_minor << " (host "
            << DTQ_ABI_VERSION_MAJOR << "." << DTQ_ABI_VERSION_MINOR << ")\n"
            << "  SDK:           " << info.sdk_version << "\n"
            << "  description:   " << info.description << "\n"
            << "  allowed hosts: "
            << (info.allowed_hosts.empty() ? "(none)" : join(info.allowed_hosts)) << "\n"
            << "  concurrency:   " << or_host_default(info.default_concurrency)
            << (info.single_threaded ? " (single-threaded)" : "") << "\n"
            << "  timeout:       " << or_host_default(info.default_timeout_ms, " ms") << "\n"
            << "  max attempts:  " << or_host_default(info.default_max_attempts) << "\n";
}

int list_plugins(const CommonOptions& options) {
  const auto dir = resolve_plugin_dir(options);
  // Quarantine so one bad library does not hide what the others are.
  auto report = host::load_plugin_directory(dir, host::BadPluginPolicy::kQuarantine);
  if (!report.ok()) {
    std::cerr << "dtq: " << report.status().message() << "\n";
    return 1;
  }
  std::cout << "Plugins in " << dir.string() << "\n";
  std::cout << std::left << std::setw(16) << "JOB TYPE" << std::setw(10) << "VERSION"
            << std::setw(6) << "ABI" << std::setw(18) << "NAME"
            << "ALLOWED HOSTS\n";
  for (const auto& plugin : report->plugins) {
    const auto& info = plugin->info();
    std::cout << std::left << std::setw(16) << info.job_type << std::setw(10) << info.version
              << std::setw(6)
              << (std::to_string(info.abi_major) + "." + std::to_string(info.abi_minor))
              << std::setw(18) << info.name << join(info.allowed_hosts) << "\n";
  }
  for (const auto& rejected : report->rejected) {
    std::cout << "REFUSED " << rejected.reason.message() << "\n";
  }
  return report->rejected.empty() ? 0 : 1;
}

int check_plugin(const std::string& file) {
  auto plugin = host::load_plugin(file);
  if (!plugin.ok()) {
    std::cout << "REFUSED " << plugin.status().message() << "\n";
    return 1;
  }
  std::cout << "OK " << file << " would be accepted by this host\n";
  print_summary((*plugin)->info());
  return 0;
}

}  // namespace

void add_plugin_commands(CLI::App& app, CommonOptions& options, int& exit_code) {
  auto* plugins =
      app.add_subcommand("plugins", "List the plugins the host would load, with versions");
  plugins->callback([&] {
    (void)configure_logging(options.log_level.empty() ? "warn" : options.log_level);
    exit_code = list_plugins(options);
  });

  auto* plugin = app.add_subcommand("plugin", "Plugin tooling for authors");
  plugin->require_subcommand(1);
  auto* check = plugin->add_subcommand(
      "check", "Tell whether the host would accept a plugin library, and why not");
  auto file = std::make_shared<std::string>();
  check->add_option("file", *file, "Path to the plugin's .so")->required();
  check->callback([&options, &exit_code, file] {
    (void)configure_logging(options.log_level.empty() ? "warn" : options.log_level);
    exit_code = check_plugin(*file);
  });
}

}  // namespace dtq::cli
