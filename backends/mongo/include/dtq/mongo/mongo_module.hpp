// The MongoDB result store, loaded as a module: connect_results() opens
// dtq-backend-mongo.so (the dtq_mongo_module target: MongoResultStore and
// libmongoc) the first time it is called, so that a process that never
// talks to MongoDB never loads libmongoc. The driver's library constructor
// initialises OpenSSL and loads SASL and Kerberos at load time: about 5 MB
// resident that an embedded `dtq worker` or `dtq serve` would otherwise
// carry at rest (docs/benchmarks.md, process costs).
//
// Where the module is: $DTQ_MONGO_MODULE, else dtq-backend-mongo.so beside
// this process's executable. It must come from the same build as the
// executable (it is installed with it, as dtq-plugin-runner is): the call
// into it passes C++ types, not a stable ABI.
//
// Thread-safety: connect_results() may be called from any thread; the
// module is loaded once and never unloaded (the stores it made may live
// until the process ends).
#pragma once

#include <filesystem>
#include <memory>

#include "dtq/core/status.hpp"
#include "dtq/mongo/mongo_results.hpp"
#include "dtq/mongo/mongo_settings.hpp"

namespace dtq::mongo {

// $DTQ_MONGO_MODULE, else dtq-backend-mongo.so beside this executable.
std::filesystem::path default_module_path();

// MongoResultStore::connect(settings) through the module. Unavailable
// naming the module's path and the loader's reason when it cannot be
// loaded; otherwise connect()'s own answer.
StatusOr<std::unique_ptr<MongoResults>> connect_results(const MongoSettings& settings);

}  // namespace dtq::mongo
