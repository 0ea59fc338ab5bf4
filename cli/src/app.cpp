#include "dtq/cli/app.hpp"

#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "commands.hpp"

namespace dtq::cli {

std::filesystem::path resolve_plugin_dir(const CommonOptions& options) {
  if (!options.plugin_dir.empty()) return options.plugin_dir;
  if (const char* env = std::getenv("DTQ_PLUGIN_DIR"); env != nullptr && *env != '\0') return env;
  // Beside the binary: build/<preset>/bin/dtq -> build/<preset>/plugins, and
  // <prefix>/bin/dtq -> <prefix>/lib/dtq/plugins when installed.
  std::error_code error;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) return "plugins";
  const auto prefix = exe.parent_path().parent_path();
  if (std::filesystem::is_directory(prefix / "plugins")) return prefix / "plugins";
  return prefix / "lib" / "dtq" / "plugins";
}

std::filesystem::path resolve_data_dir(const CommonOptions& options) {
  if (!options.data_dir.empty()) return options.data_dir;
  if (const char* env = std::getenv("DTQ_DATA_DIR"); env != nullptr && *env != '\0') return env;
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg != nullptr && *xdg != '\0') {
    return std::filesystem::path(xdg) / "dtq";
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    return std::filesystem::path(home) / ".local" / "share" / "dtq";
  }
  return ".dtq";
}

int run(int argc, char** argv) {
  CLI::App app{"dtq — a distributed task queue whose workers host job plugins"};
  app.require_subcommand(1);
  // --plugin-dir, --data-dir and --log-level work after the subcommand too
  // (dtq run --plugin-dir DIR ...), not only before it.
  app.fallthrough();
  CommonOptions options;
  app.add_option("--plugin-dir", options.plugin_dir,
                 "Folder of plugin libraries (default: $DTQ_PLUGIN_DIR, else beside the binary)");
  app.add_option("--data-dir", options.data_dir,
                 "Embedded data folder (default: $DTQ_DATA_DIR, else ~/.local/share/dtq)");
  app.add_option("--log-level", options.log_level, "Log level (default: warn for tooling)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  int exit_code = 0;
  add_plugin_commands(app, options, exit_code);
  add_run_command(app, options, exit_code);
  add_worker_command(app, options, exit_code);
  add_job_commands(app, options, exit_code);
  add_serve_command(app, options, exit_code);
  add_api_command(app, options, exit_code);
  add_client_commands(app, options, exit_code);
  add_keys_command(app, options, exit_code);
  add_top_command(app, options, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  return exit_code;
}

}  // namespace dtq::cli
