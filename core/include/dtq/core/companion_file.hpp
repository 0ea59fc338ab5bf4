// Where a file installed with the running executable is. dtq installs its
// helpers in the folder of the `dtq` binary (dtq-plugin-runner,
// dtq-backend-mongo.so), and an environment variable may name another
// path for each.
//
// Thread-safety: reads the environment, which nothing in dtq sets.
#pragma once

#include <filesystem>
#include <string_view>

namespace dtq {

// $`env_var` when set and not empty, else `file_name` in this executable's
// folder (`file_name` in the working folder when /proc/self/exe cannot be
// read).
std::filesystem::path companion_file(const char* env_var, std::string_view file_name);

}  // namespace dtq
