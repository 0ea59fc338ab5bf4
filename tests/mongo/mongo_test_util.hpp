// Shared by the MongoDB adapter tests: FerretDB (the MongoDB wire-protocol
// server of scripts/servers/ferretdb.sh), settings with a collection of each
// test's own, and a raw libmongoc client to look at what the adapter stored.
//
// The server: under ctest, the `mongo_server` fixture starts one for every
// test and names its folder in DTQ_TEST_MONGO_STATE. Run by hand, the test
// binary starts its own. A test that restarts the server starts a private
// one (FerretServer), so that the others never see it go away.
#pragma once

#include <gtest/gtest.h>
#include <mongoc/mongoc.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dtq/core/ids.hpp"
#include "dtq/mongo/mongo_settings.hpp"
#include "support/eventually.hpp"
#include "support/scripted_server.hpp"

namespace dtq::mongo::testing {

using namespace std::chrono_literals;
using dtq::testing::ScriptedServer;

// A FerretDB of one test, on a port of its own.
inline std::unique_ptr<ScriptedServer> make_ferretdb(uint16_t& port) {
  port = dtq::testing::pick_ports();
  return std::make_unique<ScriptedServer>(
      "ferretdb",
      std::vector<std::pair<std::string, std::string>>{{"DTQ_MONGO_PORT", std::to_string(port)}});
}

inline dtq::testing::SharedServer* const kSharedMongo =
    dynamic_cast<dtq::testing::SharedServer*>(::testing::AddGlobalTestEnvironment(
        new dtq::testing::SharedServer("DTQ_TEST_MONGO_STATE", make_ferretdb)));

inline std::string uri_for(uint16_t port) {
  return "mongodb://127.0.0.1:" + std::to_string(port) + "/";
}

// Settings for the shared server (or `port`), with a collection of the
// test's own and short timeouts.
inline MongoSettings test_settings(uint16_t port = 0) {
  MongoSettings settings;
  settings.uri = uri_for(port != 0 ? port : kSharedMongo->port());
  settings.collection = "job_results_" + new_uuid4().substr(0, 8);
  settings.server_selection_timeout = 3s;
  settings.connect_timeout = 1s;
  settings.socket_timeout = 5s;
  settings.heartbeat_frequency = 500ms;
  return settings;
}

// A plain libmongoc client, to look at what the adapter stored.
class RawMongo {
 public:
  explicit RawMongo(const MongoSettings& settings)
      : client_((mongoc_init(), mongoc_client_new(settings.uri.c_str()))),
        database_(settings.database),
        collection_(settings.collection) {
    mongoc_client_set_error_api(client_, MONGOC_ERROR_API_VERSION_2);
  }
  ~RawMongo() { mongoc_client_destroy(client_); }
  RawMongo(const RawMongo&) = delete;
  RawMongo& operator=(const RawMongo&) = delete;

  // Every document whose job_id is `job_id`, as canonical extended JSON
  // (types visible: {"$date": …}, {"$oid": …}).
  std::vector<std::string> documents(const std::string& job_id) {
    std::vector<std::string> out;
    for_each(job_id, [&](const bson_t* doc) {
      char* json = bson_as_canonical_extended_json(doc, nullptr);
      out.emplace_back(json);
      bson_free(json);
    });
    return out;
  }

  // The field names and BSON types of the one document of `job_id`.
  std::map<std::string, bson_type_t> field_types(const std::string& job_id) {
    std::map<std::string, bson_type_t> types;
    for_each(job_id, [&](const bson_t* doc) {
      bson_iter_t iter;
      bson_iter_init(&iter, doc);
      while (bson_iter_next(&iter)) types[bson_iter_key(&iter)] = bson_iter_type(&iter);
    });
    return types;
  }

  int64_t count(const std::string& job_id) {
    mongoc_collection_t* collection = handle();
    bson_t* filter = BCON_NEW("job_id", BCON_UTF8(job_id.c_str()));
    bson_error_t error;
    const int64_t n =
        mongoc_collection_count_documents(collection, filter, nullptr, nullptr, nullptr, &error);
    bson_destroy(filter);
    mongoc_collection_destroy(collection);
    return n;
  }

  // listIndexes: name → the index specification as relaxed extended JSON.
  std::map<std::string, std::string> indexes() {
    std::map<std::string, std::string> out;
    mongoc_collection_t* collection = handle();
    mongoc_cursor_t* cursor = mongoc_collection_find_indexes_with_opts(collection, nullptr);
    const bson_t* doc = nullptr;
    while (mongoc_cursor_next(cursor, &doc)) {
      bson_iter_t iter;
      if (!bson_iter_init_find(&iter, doc, "name")) continue;
      char* json = bson_as_relaxed_extended_json(doc, nullptr);
      out[bson_iter_utf8(&iter, nullptr)] = json;
      bson_free(json);
    }
    mongoc_cursor_destroy(cursor);
    mongoc_collection_destroy(collection);
    return out;
  }

  // Runs a command on the database; true on success.
  bool command(const bson_t* command) {
    bson_error_t error;
    bson_t reply;
    const bool ok =
        mongoc_client_command_simple(client_, database_.c_str(), command, nullptr, &reply, &error);
    bson_destroy(&reply);
    if (!ok) ADD_FAILURE() << "command failed: " << error.message;
    return ok;
  }

  void drop() {
    mongoc_collection_t* collection = handle();
    bson_error_t error;
    mongoc_collection_drop(collection, &error);
    mongoc_collection_destroy(collection);
  }

 private:
  mongoc_collection_t* handle() {
    return mongoc_client_get_collection(client_, database_.c_str(), collection_.c_str());
  }

  template <class F>
  void for_each(const std::string& job_id, F f) {
    mongoc_collection_t* collection = handle();
    bson_t* filter = BCON_NEW("job_id", BCON_UTF8(job_id.c_str()));
    mongoc_cursor_t* cursor =
        mongoc_collection_find_with_opts(collection, filter, nullptr, nullptr);
    const bson_t* doc = nullptr;
    while (mongoc_cursor_next(cursor, &doc)) f(doc);
    bson_error_t error;
    if (mongoc_cursor_error(cursor, &error)) ADD_FAILURE() << "find failed: " << error.message;
    mongoc_cursor_destroy(cursor);
    bson_destroy(filter);
    mongoc_collection_destroy(collection);
  }

  mongoc_client_t* client_;
  std::string database_;
  std::string collection_;
};

using dtq::testing::eventually;

}  // namespace dtq::mongo::testing
