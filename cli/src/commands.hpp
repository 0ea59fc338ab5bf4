// Sub-command registration, one function per family. Each adds its
// sub-commands to `app`; the returned exit code is written to `exit_code`
// when the command runs.
#pragma once

#include <CLI/CLI.hpp>

#include <filesystem>
#include <string>

namespace dtq::cli {

struct CommonOptions {
  std::string plugin_dir;  // empty: DTQ_PLUGIN_DIR, then beside the binary
  std::string data_dir;    // empty: DTQ_DATA_DIR, then $XDG_DATA_HOME/dtq or ~/.local/share/dtq
  std::string log_level;   // empty: the command's own default
};

std::filesystem::path resolve_plugin_dir(const CommonOptions& options);
std::filesystem::path resolve_data_dir(const CommonOptions& options);

void add_plugin_commands(CLI::App& app, CommonOptions& options, int& exit_code);
void add_run_command(CLI::App& app, CommonOptions& options, int& exit_code);
void add_worker_command(CLI::App& app, CommonOptions& options, int& exit_code);
void add_job_commands(CLI::App& app, CommonOptions& options, int& exit_code);
void add_serve_command(CLI::App& app, CommonOptions& options, int& exit_code);
void add_api_command(CLI::App& app, CommonOptions& common, int& exit_code);
void add_client_commands(CLI::App& app, CommonOptions& options, int& exit_code);
void add_keys_command(CLI::App& app, CommonOptions& common, int& exit_code);
void add_top_command(CLI::App& app, CommonOptions& common, int& exit_code);

}  // namespace dtq::cli
