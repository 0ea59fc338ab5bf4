#include <dlfcn.h>

#include <cstdlib>
#include <string>

#include "dtq/mongo/mongo_module.hpp"
#include "mongo_module_abi.hpp"

namespace dtq::mongo {
namespace {

// The module's entry point, or why it cannot be had.
struct Module {
  ConnectResults connect = nullptr;
  std::string refusal;  // when connect is null
};

// Loaded once: the handle is never closed, since the stores it made may
// outlive any caller.
const Module& load_module() {
  static const Module loaded = [] {
    const std::filesystem::path path = default_module_path();
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      // NOLINTNEXTLINE(concurrency-mt-unsafe): one loader, under the static's guard
      const char* why = ::dlerror();
      return Module{.refusal = "mongo: cannot load the MongoDB module " + path.string() + ": " +
                               (why != nullptr ? why : "unknown error") +
                               " (it is installed beside dtq; $DTQ_MONGO_MODULE names another)"};
    }
    void* entry = ::dlsym(handle, kConnectResultsSymbol);
    if (entry == nullptr) {
      return Module{.refusal = "mongo: " + path.string() + " has no " + kConnectResultsSymbol +
                               ": it is not the module of this dtq's build"};
    }
    // NOLINTNEXTLINE(*-reinterpret-cast): how dlsym's answer becomes a function
    return Module{.connect = reinterpret_cast<ConnectResults>(entry)};
  }();
  return loaded;
}

}  // namespace

std::filesystem::path default_module_path() {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): nothing in dtq sets the environment
  if (const char* path = std::getenv("DTQ_MONGO_MODULE"); path != nullptr && *path != '\0')
    return path;
  std::error_code error;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) self = "dtq";
  return self.replace_filename("dtq-backend-mongo.so");
}

StatusOr<std::unique_ptr<MongoResults>> connect_results(const MongoSettings& settings) {
  const Module& module = load_module();
  if (module.connect == nullptr) return unavailable(module.refusal);
  StatusOr<std::unique_ptr<MongoResults>> connected =
      internal_error("mongo: the module answered nothing");
  module.connect(settings, connected);
  return connected;
}

}  // namespace dtq::mongo
