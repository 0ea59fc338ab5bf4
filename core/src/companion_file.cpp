#include "dtq/core/companion_file.hpp"

#include <cstdlib>
#include <system_error>

namespace dtq {

std::filesystem::path companion_file(const char* env_var, std::string_view file_name) {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): nothing in dtq sets the environment
  if (const char* path = std::getenv(env_var); path != nullptr && *path != '\0') return path;
  std::error_code error;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) return {file_name};
  return self.replace_filename(file_name);
}

}  // namespace dtq
