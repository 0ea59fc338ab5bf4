#include <dlfcn.h>

#include <string>

#include "dtq/core/companion_file.hpp"
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
  return companion_file("DTQ_MONGO_MODULE", "dtq-backend-mongo.so");
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
