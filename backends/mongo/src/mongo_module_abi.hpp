// The one entry point of dtq-backend-mongo.so, shared by the module
// (mongo_module.cpp) and its loader (mongo_module_loader.cpp). Its name
// carries a version: a change of the signature or of what it passes gets a
// new name, so that a stale module is refused by the loader, not called.
#pragma once

#include <memory>

#include "dtq/core/status.hpp"
#include "dtq/mongo/mongo_results.hpp"
#include "dtq/mongo/mongo_settings.hpp"

namespace dtq::mongo {

using ConnectResults = void (*)(const MongoSettings& settings,
                                StatusOr<std::unique_ptr<MongoResults>>& connected);

inline constexpr const char* kConnectResultsSymbol = "dtq_mongo_module_connect_results_v1";

}  // namespace dtq::mongo
