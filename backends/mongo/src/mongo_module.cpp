// dtq-backend-mongo.so's entry point (mongo_module_abi.hpp). Everything
// else in the module (MongoResultStore, dtq's core, libmongoc's use) stays
// hidden: the link keeps the static libraries' symbols local.
#include "dtq/mongo/mongo_result_store.hpp"
#include "mongo_module_abi.hpp"

// NOLINTNEXTLINE(readability-identifier-naming): the symbol the loader looks up
extern "C" __attribute__((visibility("default"))) void dtq_mongo_module_connect_results_v1(
    const dtq::mongo::MongoSettings& settings,
    dtq::StatusOr<std::unique_ptr<dtq::mongo::MongoResults>>& connected) {
  static_assert(
      std::is_same_v<decltype(&dtq_mongo_module_connect_results_v1), dtq::mongo::ConnectResults>);
  auto store = dtq::mongo::MongoResultStore::connect(settings);
  if (!store.ok()) {
    connected = store.status();
    return;
  }
  connected = std::unique_ptr<dtq::mongo::MongoResults>(std::move(store).value());
}
