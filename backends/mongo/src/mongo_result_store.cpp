#include "dtq/mongo/mongo_result_store.hpp"

#include <mongoc/mongoc.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "bson_json.hpp"
#include "dtq/core/time.hpp"

// bson_t is declared 128-byte aligned; the attribute does not carry into
// template arguments (unique_ptr<bson_t>, vector<const bson_t*>), which is
// harmless here: those hold pointers, and libbson allocates the documents.
#pragma GCC diagnostic ignored "-Wignored-attributes"

namespace dtq::mongo {
namespace {

// Server error codes (https://www.mongodb.com/docs/manual/reference/error-codes/).
constexpr uint32_t kDuplicateKey = 11000;
constexpr uint32_t kIndexOptionsConflict = 85;
constexpr uint32_t kIndexKeySpecsConflict = 86;
constexpr uint32_t kUnauthorized = 13;
constexpr uint32_t kAuthenticationFailed = 18;
// What a server without TTL indexes answers an index with
// expireAfterSeconds: FerretDB 1.24 says NotImplemented (238).
constexpr uint32_t kBadValue = 2;
constexpr uint32_t kCannotCreateIndex = 67;
constexpr uint32_t kInvalidIndexSpecificationOption = 197;
constexpr uint32_t kNotImplemented = 238;

// Server errors that say "not now" rather than "never": a node stepping
// down, shutting down, or a timeout.
bool transient_server_code(uint32_t code) {
  switch (code) {
    case 6:      // HostUnreachable
    case 7:      // HostNotFound
    case 50:     // MaxTimeMSExpired
    case 89:     // NetworkTimeout
    case 91:     // ShutdownInProgress
    case 189:    // PrimarySteppedDown
    case 262:    // ExceededTimeLimit
    case 9001:   // SocketException
    case 10107:  // NotWritablePrimary
    case 11600:  // InterruptedAtShutdown
    case 11602:  // InterruptedDueToReplStateChange
    case 13435:  // NotPrimaryNoSecondaryOk
    case 13436:  // NotPrimaryOrSecondary
      return true;
    default:
      return false;
  }
}

struct BsonDeleter {
  void operator()(bson_t* doc) const { bson_destroy(doc); }
};
using Bson = std::unique_ptr<bson_t, BsonDeleter>;
Bson new_bson() {
  return Bson(bson_new());
}

// A bson_t on the stack, destroyed at scope exit (for replies).
class Reply {
 public:
  Reply() { bson_init(&doc_); }
  ~Reply() { bson_destroy(&doc_); }
  Reply(const Reply&) = delete;
  Reply& operator=(const Reply&) = delete;
  bson_t* get() { return &doc_; }

 private:
  bson_t doc_;
};

void log_to_spdlog(mongoc_log_level_t level, const char* domain, const char* message, void*) {
  switch (level) {
    case MONGOC_LOG_LEVEL_ERROR:
    case MONGOC_LOG_LEVEL_CRITICAL:
      spdlog::error("mongoc {}: {}", domain, message);
      break;
    case MONGOC_LOG_LEVEL_WARNING:
      // Servers without sessions (FerretDB) refuse the endSessions a pool
      // sends when it closes: nothing to warn about.
      if (std::string_view(message).find("\"endSessions\"") != std::string_view::npos) {
        spdlog::debug("mongoc {}: {}", domain, message);
      } else {
        spdlog::warn("mongoc {}: {}", domain, message);
      }
      break;
    case MONGOC_LOG_LEVEL_MESSAGE:
    case MONGOC_LOG_LEVEL_INFO:
      spdlog::debug("mongoc {}: {}", domain, message);
      break;
    default:
      spdlog::trace("mongoc {}: {}", domain, message);
      break;
  }
}

void init_driver_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    mongoc_init();
    mongoc_log_set_handler(log_to_spdlog, nullptr);
  });
}

std::string hosts_of(const mongoc_uri_t* uri) {
  std::string hosts;
  for (const mongoc_host_list_t* host = mongoc_uri_get_hosts(uri); host != nullptr;
       host = host->next) {
    if (!hosts.empty()) hosts += ',';
    hosts += host->host_and_port;
  }
  if (hosts.empty() && mongoc_uri_get_srv_hostname(uri) != nullptr) {
    hosts = std::string("srv:") + mongoc_uri_get_srv_hostname(uri);
  }
  return hosts;
}

// What the `i`-th BSON field of a stored result must be called (DESIGN §2).
constexpr const char* kSchemaVersionField = "schema_version";
constexpr const char* kJobIdField = "job_id";
constexpr const char* kJobTypeField = "job_type";
constexpr const char* kInputField = "input";
constexpr const char* kOutputField = "output";
constexpr const char* kFinalStateField = "final_state";
constexpr const char* kStartedAtField = "started_at";
constexpr const char* kCompletedAtField = "completed_at";
constexpr const char* kErrorField = "error";
constexpr const char* kTraceIdField = "trace_id";
// dtq's own, after the contract's fields: when retention lets the document go.
constexpr const char* kExpireAtField = "expire_at";

bool append_string(bson_t* doc, const char* key, std::string_view value) {
  return bson_append_utf8(doc, key, -1, value.data(), static_cast<int>(value.size()));
}

Status append_time(bson_t* doc, const char* key, const std::string& text, bool required,
                   const std::string& job_id) {
  if (text.empty() && !required) {
    bson_append_null(doc, key, -1);
    return {};
  }
  const auto at = parse_rfc3339(text);
  if (!at) {
    return invalid_argument("result of job " + job_id + ": " + key + " \"" + text +
                            "\" is not an RFC 3339 timestamp");
  }
  bson_append_date_time(doc, key, -1, to_unix_ms(*at));
  return {};
}

// The document of one result, fields in the contract's order. The driver
// adds _id (an ObjectId) on insert.
StatusOr<Bson> document_of(const JobResult& result, const RetentionPolicy& retention) {
  if (result.job_id.empty()) return invalid_argument("result without a job id");
  Bson doc = new_bson();
  bson_t* d = doc.get();
  append_string(d, kSchemaVersionField, result.schema_version);
  append_string(d, kJobIdField, result.job_id);
  append_string(d, kJobTypeField, result.job_type);
  if (Status s = append_json_object(d, kInputField, result.input.empty() ? "{}" : result.input);
      !s.ok()) {
    return invalid_argument("result of job " + result.job_id + ": " + s.message());
  }
  if (result.output.empty()) {
    bson_append_null(d, kOutputField, -1);
  } else if (Status s = append_json_object(d, kOutputField, result.output); !s.ok()) {
    return invalid_argument("result of job " + result.job_id + ": " + s.message());
  }
  append_string(d, kFinalStateField, to_string(result.final_state));
  if (Status s = append_time(d, kStartedAtField, result.started_at, false, result.job_id);
      !s.ok()) {
    return s;
  }
  if (Status s = append_time(d, kCompletedAtField, result.completed_at, true, result.job_id);
      !s.ok()) {
    return s;
  }
  if (result.error) {
    bson_t error;
    bson_append_document_begin(d, kErrorField, -1, &error);
    append_string(&error, "code", result.error->code);
    append_string(&error, "message", result.error->message);
    bson_append_document_end(d, &error);
  } else {
    bson_append_null(d, kErrorField, -1);
  }
  append_string(d, kTraceIdField, result.trace_id);
  // completed_at parsed above; kept finished_for(job_type) past it.
  const auto completed = parse_rfc3339(result.completed_at);
  const auto kept = std::chrono::duration_cast<std::chrono::milliseconds>(
      retention.finished_for(result.job_type));
  bson_append_date_time(d, kExpireAtField, -1, to_unix_ms(*completed) + kept.count());
  // What the server would refuse, refused here with the job named (the
  // driver's own check for inserts, done once).
  bson_error_t invalid;
  constexpr auto kFlags =
      static_cast<bson_validate_flags_t>(BSON_VALIDATE_UTF8 | BSON_VALIDATE_EMPTY_KEYS |
                                         BSON_VALIDATE_DOT_KEYS | BSON_VALIDATE_DOLLAR_KEYS);
  if (!bson_validate_with_error(d, kFlags, &invalid)) {
    return invalid_argument("result of job " + result.job_id +
                            " cannot be stored in MongoDB: " + invalid.message);
  }
  return doc;
}

std::string text_of(const bson_iter_t& iter) {
  if (BSON_ITER_HOLDS_UTF8(&iter)) {
    uint32_t length = 0;
    const char* text = bson_iter_utf8(&iter, &length);
    return {text, length};
  }
  if (BSON_ITER_HOLDS_DATE_TIME(&iter)) return to_rfc3339(from_unix_ms(bson_iter_date_time(&iter)));
  return {};
}

StatusOr<JobResult> result_of(const bson_t* doc, std::string_view job_id) {
  JobResult result;
  result.schema_version.clear();
  std::string state;
  bson_iter_t iter;
  if (!bson_iter_init(&iter, doc)) {
    return internal_error("stored result of job " + std::string(job_id) + " is not valid BSON");
  }
  while (bson_iter_next(&iter)) {
    const std::string_view key = bson_iter_key(&iter);
    const bool container = BSON_ITER_HOLDS_DOCUMENT(&iter);
    if (key == kSchemaVersionField) {
      result.schema_version = text_of(iter);
    } else if (key == kJobIdField) {
      result.job_id = text_of(iter);
    } else if (key == kJobTypeField) {
      result.job_type = text_of(iter);
    } else if (key == kInputField) {
      result.input = container ? json_of(iter) : "{}";
    } else if (key == kOutputField) {
      result.output = container ? json_of(iter) : "";
    } else if (key == kFinalStateField) {
      state = text_of(iter);
    } else if (key == kStartedAtField) {
      result.started_at = text_of(iter);
    } else if (key == kCompletedAtField) {
      result.completed_at = text_of(iter);
    } else if (key == kErrorField && container) {
      bson_iter_t field;
      JobError error;
      if (bson_iter_recurse(&iter, &field)) {
        while (bson_iter_next(&field)) {
          const std::string_view name = bson_iter_key(&field);
          if (name == "code") error.code = text_of(field);
          if (name == "message") error.message = text_of(field);
        }
      }
      result.error = std::move(error);
    } else if (key == kTraceIdField) {
      result.trace_id = text_of(iter);
    }
  }
  if (result.schema_version.empty()) result.schema_version = std::string(kSchemaVersion);
  const auto final_state = parse_job_state(state);
  if (!final_state) {
    return internal_error("stored result of job " + std::string(job_id) +
                          " is unreadable: final_state \"" + state + "\" is not a job state");
  }
  result.final_state = *final_state;
  return result;
}

}  // namespace

// --- the driver ------------------------------------------------------------------

struct MongoResultStore::Driver {
  MongoSettings settings;
  std::string description;  // hosts/database.collection
  mongoc_uri_t* uri = nullptr;
  mongoc_client_pool_t* pool = nullptr;
  mongoc_write_concern_t* write_concern = nullptr;
  std::string concern_text;  // "w:majority, j:true", for messages
  bool ttl_index = false;    // the server took expire_at_1 with expireAfterSeconds

  ~Driver() {
    if (pool != nullptr) mongoc_client_pool_destroy(pool);
    if (uri != nullptr) mongoc_uri_destroy(uri);
    if (write_concern != nullptr) mongoc_write_concern_destroy(write_concern);
  }

  // A client of the pool for the duration of one call.
  class Lease {
   public:
    explicit Lease(mongoc_client_pool_t* pool)
        : pool_(pool), client_(mongoc_client_pool_pop(pool)) {}
    ~Lease() { mongoc_client_pool_push(pool_, client_); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    mongoc_client_t* client() const { return client_; }

   private:
    mongoc_client_pool_t* pool_;
    mongoc_client_t* client_;
  };

  struct Collection {
    explicit Collection(mongoc_collection_t* c) : handle(c) {}
    ~Collection() { mongoc_collection_destroy(handle); }
    Collection(const Collection&) = delete;
    Collection& operator=(const Collection&) = delete;
    mongoc_collection_t* handle;
  };

  // Options of every write: the settings' write concern.
  Bson write_options() const {
    Bson opts = new_bson();
    mongoc_write_concern_append(write_concern, opts.get());
    return opts;
  }

  // True for a connection found dead mid-call: worth one more try on a
  // fresh connection.
  static bool connection_lost(const bson_error_t& error) {
    return error.domain == MONGOC_ERROR_STREAM;
  }

  // The Status of a failed call; `what` says what was being done.
  Status status_of(const bson_error_t& error, std::string_view what) const {
    const std::string context = "mongo: " + std::string(what) + " at " + description + ": ";
    switch (error.domain) {
      case MONGOC_ERROR_SERVER_SELECTION:
        return unavailable(context + "no server reachable within " +
                           std::to_string(settings.server_selection_timeout.count()) +
                           " ms (server selection timeout): " + error.message);
      case MONGOC_ERROR_STREAM:
        return unavailable(context + "connection lost: " + error.message);
      case MONGOC_ERROR_WRITE_CONCERN:
        return unavailable(context + "the write concern (" + concern_text +
                           ") was not satisfied: " + error.message);
      case MONGOC_ERROR_CLIENT:
        if (error.code == MONGOC_ERROR_CLIENT_AUTHENTICATE) {
          return failed_precondition(context + "authentication failed: " + error.message);
        }
        break;
      case MONGOC_ERROR_SERVER:
        if (error.code == kUnauthorized || error.code == kAuthenticationFailed) {
          return failed_precondition(context + "not authorised: " + error.message);
        }
        if (transient_server_code(error.code)) return unavailable(context + error.message);
        break;
      case MONGOC_ERROR_BSON:
        return invalid_argument(context + error.message);
      case MONGOC_ERROR_COMMAND:
        if (error.code == MONGOC_ERROR_COMMAND_INVALID_ARG) {
          return invalid_argument(context + error.message);
        }
        break;
      default:
        break;
    }
    return internal_error(context + error.message + " (domain " + std::to_string(error.domain) +
                          ", code " + std::to_string(error.code) + ")");
  }

  Status ping() const {
    Lease lease(pool);
    Bson command = new_bson();
    BSON_APPEND_INT32(command.get(), "ping", 1);
    Reply reply;
    bson_error_t error;
    if (!mongoc_client_command_simple(lease.client(), "admin", command.get(), nullptr, reply.get(),
                                      &error)) {
      return status_of(error, "ping");
    }
    return {};
  }

  // createIndexes for one index: {key: {<field>: <order>}, name, unique?}.
  // One index per command: FerretDB 1.24 answers a command naming several
  // indexes that all exist already by dropping the connection.
  // With `expire_after`, a TTL index (expireAfterSeconds); a server
  // without TTL indexes sets `ttl_refused` and fails.
  Status create_index(mongoc_database_t* database, const char* field, int order,
                      std::string_view name, bool unique,
                      std::optional<int32_t> expire_after = std::nullopt,
                      bool* ttl_refused = nullptr,
                      const std::string* on = nullptr) const {  // default: the results
    Bson command = new_bson();
    append_string(command.get(), "createIndexes", on != nullptr ? *on : settings.collection);
    bson_t indexes;
    bson_t index;
    bson_t key;
    BSON_APPEND_ARRAY_BEGIN(command.get(), "indexes", &indexes);
    BSON_APPEND_DOCUMENT_BEGIN(&indexes, "0", &index);
    BSON_APPEND_DOCUMENT_BEGIN(&index, "key", &key);
    BSON_APPEND_INT32(&key, field, order);
    bson_append_document_end(&index, &key);
    append_string(&index, "name", name);
    if (unique) BSON_APPEND_BOOL(&index, "unique", true);
    if (expire_after) BSON_APPEND_INT32(&index, "expireAfterSeconds", *expire_after);
    bson_append_document_end(&indexes, &index);
    bson_append_array_end(command.get(), &indexes);
    Reply reply;
    bson_error_t error;
    const Bson opts = write_options();
    if (mongoc_database_write_command_with_opts(database, command.get(), opts.get(), reply.get(),
                                                &error)) {
      return {};
    }
    if (error.domain == MONGOC_ERROR_SERVER &&
        (error.code == kIndexOptionsConflict || error.code == kIndexKeySpecsConflict)) {
      return failed_precondition("mongo: " + description + " has an index that conflicts with " +
                                 std::string(name) + " (" + (unique ? "unique " : "") + "{" +
                                 field + ": " + std::to_string(order) +
                                 "}); drop or rename it: " + error.message);
    }
    if (expire_after && ttl_refused != nullptr && error.domain == MONGOC_ERROR_SERVER &&
        (error.code == kNotImplemented || error.code == kInvalidIndexSpecificationOption ||
         error.code == kCannotCreateIndex || error.code == kBadValue)) {
      *ttl_refused = true;
      return failed_precondition("mongo: " + description + " has no TTL indexes (" + error.message +
                                 ")");
    }
    if (error.domain == MONGOC_ERROR_SERVER && error.code == kDuplicateKey) {
      return failed_precondition("mongo: " + description +
                                 " holds several documents with one job_id, so the unique index " +
                                 std::string(name) + " cannot be built: " + error.message);
    }
    return status_of(error, "creating the index " + std::string(name));
  }

  // listIndexes: is there an index on exactly {field: order}, unique if
  // asked? (Some servers answer createIndexes "already exists" for an index
  // of that name with other options; the uniqueness is what matters.)
  StatusOr<bool> has_index(mongoc_client_t* client, const char* field, int order,
                           bool unique) const {
    Collection collection(mongoc_client_get_collection(client, settings.database.c_str(),
                                                       settings.collection.c_str()));
    mongoc_cursor_t* cursor = mongoc_collection_find_indexes_with_opts(collection.handle, nullptr);
    const bson_t* spec = nullptr;
    bool found = false;
    while (!found && mongoc_cursor_next(cursor, &spec)) {
      bson_iter_t iter;
      bson_iter_t key;
      if (!bson_iter_init_find(&iter, spec, "key") || !BSON_ITER_HOLDS_DOCUMENT(&iter) ||
          !bson_iter_recurse(&iter, &key)) {
        continue;
      }
      int fields = 0;
      bool matches = true;
      while (bson_iter_next(&key)) {
        ++fields;
        matches = matches && std::string_view(bson_iter_key(&key)) == field &&
                  bson_iter_as_int64(&key) == order;
      }
      const bool is_unique = bson_iter_init_find(&iter, spec, "unique") && bson_iter_as_bool(&iter);
      found = matches && fields == 1 && (!unique || is_unique);
    }
    bson_error_t error;
    const bool failed = mongoc_cursor_error(cursor, &error);
    mongoc_cursor_destroy(cursor);
    if (failed) return status_of(error, "listing the indexes");
    return found;
  }

  // {job_id: 1} on the history collection (several events per job: not unique).
  Status ensure_history_index() const {
    Lease lease(pool);
    mongoc_database_t* database =
        mongoc_client_get_database(lease.client(), settings.database.c_str());
    Bson command = new_bson();
    append_string(command.get(), "createIndexes", settings.history_collection);
    bson_t indexes;
    bson_t index;
    bson_t key;
    BSON_APPEND_ARRAY_BEGIN(command.get(), "indexes", &indexes);
    BSON_APPEND_DOCUMENT_BEGIN(&indexes, "0", &index);
    BSON_APPEND_DOCUMENT_BEGIN(&index, "key", &key);
    BSON_APPEND_INT32(&key, kJobIdField, 1);
    bson_append_document_end(&index, &key);
    append_string(&index, "name", MongoResultStore::kJobIdIndex);
    bson_append_document_end(&indexes, &index);
    bson_append_array_end(command.get(), &indexes);
    Reply reply;
    bson_error_t error;
    const Bson opts = write_options();
    const bool made = mongoc_database_write_command_with_opts(database, command.get(), opts.get(),
                                                              reply.get(), &error);
    mongoc_database_destroy(database);
    if (made) return {};
    return status_of(error, "creating the index job_id_1 of " + settings.history_collection);
  }

  // expire_at_1 on the history collection, as on the results: a TTL index,
  // or a plain one (for the trim) where the server has no TTL indexes.
  Status ensure_history_expiry_index() const {
    Lease lease(pool);
    mongoc_database_t* database =
        mongoc_client_get_database(lease.client(), settings.database.c_str());
    bool ttl_refused = false;
    Status created = create_index(database, kExpireAtField, 1, kExpireAtIndex, false, 0,
                                  &ttl_refused, &settings.history_collection);
    if (ttl_refused) {
      created = create_index(database, kExpireAtField, 1, kExpireAtIndex, false, std::nullopt,
                             nullptr, &settings.history_collection);
    }
    mongoc_database_destroy(database);
    return created;
  }

  Status insert_events(std::span<const JobEvent> events) const {
    std::vector<Bson> docs;
    std::vector<const bson_t*> pointers;
    docs.reserve(events.size());
    for (const auto& event : events) {
      Bson doc = new_bson();
      append_string(doc.get(), kJobIdField, event.job_id);
      append_string(doc.get(), "job_type", event.job_type);
      append_string(doc.get(), "at", event.at);
      append_string(doc.get(), "kind", to_string(event.kind));
      BSON_APPEND_INT64(doc.get(), "attempt", event.attempt);
      append_string(doc.get(), "worker", event.worker);
      append_string(doc.get(), "error_code", event.error_code);
      append_string(doc.get(), "related_job_id", event.related_job_id);
      append_string(doc.get(), "detail", event.detail);
      // Kept as long as its job's result: its type's retention past the event.
      const auto at = parse_rfc3339(event.at);
      const auto kept = std::chrono::duration_cast<std::chrono::milliseconds>(
          settings.retention.finished_for(event.job_type));
      bson_append_date_time(doc.get(), kExpireAtField, -1,
                            to_unix_ms(at ? *at : Clock::now()) + kept.count());
      pointers.push_back(doc.get());
      docs.push_back(std::move(doc));
    }
    // One try more on a fresh connection after a lost one, as for results;
    // a duplicate event from a retried batch is harmless in an audit trail.
    for (int attempt = 0;; ++attempt) {
      Lease lease(pool);
      Collection collection(mongoc_client_get_collection(lease.client(), settings.database.c_str(),
                                                         settings.history_collection.c_str()));
      Bson opts = write_options();
      BSON_APPEND_BOOL(opts.get(), "ordered", false);
      Reply reply;
      bson_error_t error;
      if (mongoc_collection_insert_many(collection.handle, pointers.data(), pointers.size(),
                                        opts.get(), reply.get(), &error)) {
        return {};
      }
      if (attempt == 0 && connection_lost(error)) continue;
      return status_of(error, "storing job events");
    }
  }

  StatusOr<std::vector<JobEvent>> find_events(std::string_view job_id, size_t limit) const {
    Lease lease(pool);
    Collection collection(mongoc_client_get_collection(lease.client(), settings.database.c_str(),
                                                       settings.history_collection.c_str()));
    Bson filter = new_bson();
    append_string(filter.get(), kJobIdField, job_id);
    Bson opts = new_bson();
    bson_t sort;
    BSON_APPEND_DOCUMENT_BEGIN(opts.get(), "sort", &sort);
    BSON_APPEND_INT32(&sort, "at", 1);
    BSON_APPEND_INT32(&sort, "_id", 1);
    bson_append_document_end(opts.get(), &sort);
    BSON_APPEND_INT64(opts.get(), "limit", static_cast<int64_t>(limit));
    mongoc_cursor_t* cursor =
        mongoc_collection_find_with_opts(collection.handle, filter.get(), opts.get(), nullptr);
    std::vector<JobEvent> events;
    const bson_t* doc = nullptr;
    while (mongoc_cursor_next(cursor, &doc)) {
      JobEvent event;
      bool known = true;
      bson_iter_t iter;
      if (!bson_iter_init(&iter, doc)) continue;
      while (bson_iter_next(&iter)) {
        const std::string_view key = bson_iter_key(&iter);
        if (key == "job_id") event.job_id = text_of(iter);
        if (key == "job_type") event.job_type = text_of(iter);
        if (key == "at") event.at = text_of(iter);
        if (key == "attempt") event.attempt = static_cast<uint32_t>(bson_iter_as_int64(&iter));
        if (key == "worker") event.worker = text_of(iter);
        if (key == "error_code") event.error_code = text_of(iter);
        if (key == "related_job_id") event.related_job_id = text_of(iter);
        if (key == "detail") event.detail = text_of(iter);
        if (key == "kind") {
          // A kind this build does not know (a newer writer) is skipped.
          const auto kind = parse_job_event_kind(text_of(iter));
          known = kind.has_value();
          if (kind) event.kind = *kind;
        }
      }
      if (known) events.push_back(std::move(event));
    }
    bson_error_t error;
    const bool failed = mongoc_cursor_error(cursor, &error);
    mongoc_cursor_destroy(cursor);
    if (failed) return status_of(error, "reading the history of job " + std::string(job_id));
    sort_job_events(events);
    return events;
  }

  Status ensure_indexes() {  // not const: records ttl_index
    Lease lease(pool);
    mongoc_database_t* database =
        mongoc_client_get_database(lease.client(), settings.database.c_str());
    Status created = create_index(database, kJobIdField, 1, kJobIdIndex, true);
    if (created.ok())
      created = create_index(database, kCompletedAtField, -1, kCompletedAtIndex, false);
    if (created.ok()) {
      // expire_at is the moment itself: expireAfterSeconds 0. A server
      // without TTL indexes gets a plain one, for the trim's query.
      bool ttl_refused = false;
      created = create_index(database, kExpireAtField, 1, kExpireAtIndex, false, 0, &ttl_refused);
      ttl_index = created.ok();
      if (ttl_refused) {
        spdlog::info("{}; expired results go by the workers' periodic trim only",
                     created.message());
        created = create_index(database, kExpireAtField, 1, kExpireAtIndex, false);
      }
    }
    mongoc_database_destroy(database);
    if (!created.ok()) return created;
    auto unique = has_index(lease.client(), kJobIdField, 1, true);
    if (!unique.ok()) return unique.status();
    if (!*unique) {
      return failed_precondition(
          "mongo: " + description + " has no unique index on {job_id: 1} although " +
          std::string(kJobIdIndex) + " was asked for (an index of that name without " +
          "\"unique\" exists?); drop it so that results are written once per job");
    }
    return {};
  }

  // The writeErrors of a failed insert_many: a duplicate key marks its
  // document not stored (already there); the first other error is returned.
  // `listed` says whether there were any.
  Status read_write_errors(const bson_t* reply, std::vector<bool>& stored, bool& listed) const {
    bson_iter_t iter;
    bson_iter_t item;
    if (!bson_iter_init_find(&iter, reply, "writeErrors") || !BSON_ITER_HOLDS_ARRAY(&iter) ||
        !bson_iter_recurse(&iter, &item)) {
      return {};
    }
    while (bson_iter_next(&item)) {
      bson_iter_t field;
      int64_t index = -1;
      int64_t code = 0;
      std::string message;
      if (!bson_iter_recurse(&item, &field)) continue;
      while (bson_iter_next(&field)) {
        const std::string_view key = bson_iter_key(&field);
        if (key == "index") index = bson_iter_as_int64(&field);
        if (key == "code") code = bson_iter_as_int64(&field);
        if (key == "errmsg") message = text_of(field);
      }
      listed = true;
      if (index < 0 || static_cast<size_t>(index) >= stored.size()) continue;
      if (code == kDuplicateKey) {
        stored[static_cast<size_t>(index)] = false;
        continue;
      }
      bson_error_t item_error{};
      item_error.domain = MONGOC_ERROR_SERVER;
      item_error.code = static_cast<uint32_t>(code);
      bson_strncpy(item_error.message, message.c_str(), sizeof item_error.message);
      return status_of(item_error, "storing result " + std::to_string(index) + " of " +
                                       std::to_string(stored.size()));
    }
    return {};
  }

  // The first writeConcernError of a failed insert_many, if any.
  Status write_concern_error(const bson_t* reply) const {
    bson_iter_t iter;
    bson_iter_t concern;
    if (!bson_iter_init_find(&iter, reply, "writeConcernErrors") || !BSON_ITER_HOLDS_ARRAY(&iter) ||
        !bson_iter_recurse(&iter, &concern) || !bson_iter_next(&concern)) {
      return {};
    }
    bson_error_t concern_error{};
    concern_error.domain = MONGOC_ERROR_WRITE_CONCERN;
    bson_iter_t field;
    if (bson_iter_recurse(&concern, &field) && bson_iter_find(&field, "errmsg")) {
      bson_strncpy(concern_error.message, text_of(field).c_str(), sizeof concern_error.message);
    }
    return status_of(concern_error, "storing results");
  }

  // One unordered insert_many. On a lost connection `retry` is set and the
  // caller may try again.
  StatusOr<std::vector<bool>> insert(std::span<const bson_t*> docs, bool& retry) const {
    retry = false;
    Lease lease(pool);
    Collection collection(mongoc_client_get_collection(lease.client(), settings.database.c_str(),
                                                       settings.collection.c_str()));
    Bson opts = write_options();
    BSON_APPEND_BOOL(opts.get(), "ordered", false);
    BSON_APPEND_BOOL(opts.get(), "validate", false);  // done by document_of()
    Reply reply;
    bson_error_t error;
    std::vector<bool> stored(docs.size(), true);
    if (mongoc_collection_insert_many(collection.handle, docs.data(), docs.size(), opts.get(),
                                      reply.get(), &error)) {
      return stored;
    }
    // Per-document errors: duplicates are "already stored"; anything else
    // fails the call (the documents that were stored stay stored, and a
    // retry reports them as duplicates).
    bool write_errors = false;
    if (Status s = read_write_errors(reply.get(), stored, write_errors); !s.ok()) return s;
    if (Status s = write_concern_error(reply.get()); !s.ok()) return s;
    if (write_errors) return stored;
    retry = connection_lost(error);
    return status_of(error, "storing results");
  }

  // Deletes up to `batch` documents whose expire_at is before `now_ms`:
  // their _ids by the expire_at index, then one delete of those ids
  // (deleteMany has no limit). How many went.
  StatusOr<size_t> trim(const std::string& name, int64_t now_ms, uint32_t batch) const {
    Lease lease(pool);
    Collection collection(
        mongoc_client_get_collection(lease.client(), settings.database.c_str(), name.c_str()));
    Bson filter = new_bson();
    bson_t range;
    BSON_APPEND_DOCUMENT_BEGIN(filter.get(), kExpireAtField, &range);
    BSON_APPEND_DATE_TIME(&range, "$lt", now_ms);
    bson_append_document_end(filter.get(), &range);
    Bson opts = new_bson();
    bson_t projection;
    BSON_APPEND_DOCUMENT_BEGIN(opts.get(), "projection", &projection);
    BSON_APPEND_INT32(&projection, "_id", 1);
    bson_append_document_end(opts.get(), &projection);
    BSON_APPEND_INT64(opts.get(), "limit", batch);
    mongoc_cursor_t* cursor =
        mongoc_collection_find_with_opts(collection.handle, filter.get(), opts.get(), nullptr);
    Bson ids_filter = new_bson();
    bson_t in;
    bson_t ids;
    BSON_APPEND_DOCUMENT_BEGIN(ids_filter.get(), "_id", &in);
    BSON_APPEND_ARRAY_BEGIN(&in, "$in", &ids);
    size_t found = 0;
    const bson_t* doc = nullptr;
    while (mongoc_cursor_next(cursor, &doc)) {
      bson_iter_t iter;
      if (!bson_iter_init_find(&iter, doc, "_id")) continue;
      const std::string index = std::to_string(found++);
      bson_append_value(&ids, index.c_str(), -1, bson_iter_value(&iter));
    }
    bson_append_array_end(&in, &ids);
    bson_append_document_end(ids_filter.get(), &in);
    bson_error_t error;
    const bool failed = mongoc_cursor_error(cursor, &error);
    mongoc_cursor_destroy(cursor);
    if (failed) return status_of(error, "finding expired results");
    if (found == 0) return size_t{0};
    Reply reply;
    const Bson write = write_options();
    if (!mongoc_collection_delete_many(collection.handle, ids_filter.get(), write.get(),
                                       reply.get(), &error)) {
      return status_of(error, "deleting expired results");
    }
    bson_iter_t count;
    return bson_iter_init_find(&count, reply.get(), "deletedCount")
               ? static_cast<size_t>(bson_iter_as_int64(&count))
               : found;
  }

  StatusOr<JobResult> find(std::string_view job_id, bool& retry) const {
    retry = false;
    Lease lease(pool);
    Collection collection(mongoc_client_get_collection(lease.client(), settings.database.c_str(),
                                                       settings.collection.c_str()));
    Bson filter = new_bson();
    append_string(filter.get(), kJobIdField, job_id);
    Bson opts = new_bson();
    bson_t projection;
    BSON_APPEND_DOCUMENT_BEGIN(opts.get(), "projection", &projection);
    BSON_APPEND_INT32(&projection, "_id", 0);
    bson_append_document_end(opts.get(), &projection);
    BSON_APPEND_INT64(opts.get(), "limit", 1);
    mongoc_cursor_t* cursor =
        mongoc_collection_find_with_opts(collection.handle, filter.get(), opts.get(), nullptr);
    const bson_t* doc = nullptr;
    StatusOr<JobResult> found = not_found("no result for job " + std::string(job_id));
    bson_error_t error;
    if (mongoc_cursor_next(cursor, &doc)) {
      found = result_of(doc, job_id);
    } else if (mongoc_cursor_error(cursor, &error)) {
      retry = connection_lost(error);
      found = status_of(error, "reading the result of job " + std::string(job_id));
    }
    mongoc_cursor_destroy(cursor);
    return found;
  }
};

// --- the store -----------------------------------------------------------------

StatusOr<std::unique_ptr<MongoResultStore>> MongoResultStore::connect(MongoSettings settings) {
  if (Status valid = settings.validate(); !valid.ok()) return valid;
  init_driver_once();
  auto driver = std::make_unique<Driver>();
  bson_error_t error;
  driver->uri = mongoc_uri_new_with_error(settings.uri.c_str(), &error);
  if (driver->uri == nullptr) {
    // The driver's message names the fault, never echoes the credentials.
    return invalid_argument(std::string("mongo: the URI is malformed: ") + error.message);
  }
  const auto set = [&](const char* option, std::chrono::milliseconds value) {
    return mongoc_uri_set_option_as_int32(driver->uri, option, static_cast<int32_t>(value.count()));
  };
  if (!set(MONGOC_URI_SERVERSELECTIONTIMEOUTMS, settings.server_selection_timeout) ||
      !set(MONGOC_URI_CONNECTTIMEOUTMS, settings.connect_timeout) ||
      !set(MONGOC_URI_SOCKETTIMEOUTMS, settings.socket_timeout) ||
      !set(MONGOC_URI_HEARTBEATFREQUENCYMS, settings.heartbeat_frequency) ||
      !mongoc_uri_set_option_as_int32(driver->uri, MONGOC_URI_MAXPOOLSIZE,
                                      static_cast<int32_t>(settings.max_pool_size)) ||
      !mongoc_uri_set_appname(driver->uri, settings.app_name.c_str())) {
    return invalid_argument("mongo: the driver refused a timeout, pool size or app name");
  }
  driver->description = hosts_of(driver->uri) + "/" + settings.database + "." + settings.collection;
  driver->write_concern = mongoc_write_concern_new();
  if (settings.write_acknowledgement == WriteAcknowledgement::kMajority) {
    mongoc_write_concern_set_w(driver->write_concern, MONGOC_WRITE_CONCERN_W_MAJORITY);
    mongoc_write_concern_set_wtimeout_int64(driver->write_concern, settings.write_timeout.count());
    driver->concern_text = "w:majority";
  } else {
    mongoc_write_concern_set_w(driver->write_concern, 1);
    driver->concern_text = "w:1";
  }
  mongoc_write_concern_set_journal(driver->write_concern, settings.journal);
  driver->concern_text += settings.journal ? ", j:true" : ", j:false";
  driver->pool = mongoc_client_pool_new_with_error(driver->uri, &error);
  if (driver->pool == nullptr) {
    return invalid_argument(std::string("mongo: cannot create a client pool: ") + error.message);
  }
  mongoc_client_pool_set_error_api(driver->pool, MONGOC_ERROR_API_VERSION_2);
  driver->settings = std::move(settings);

  if (Status reachable = driver->ping(); !reachable.ok()) {
    return Status(reachable.code(), "cannot start the result store: " + reachable.message());
  }
  if (Status indexed = driver->ensure_indexes(); !indexed.ok()) return indexed;
  if (Status indexed = driver->ensure_history_index(); !indexed.ok()) return indexed;
  if (Status indexed = driver->ensure_history_expiry_index(); !indexed.ok()) return indexed;
  spdlog::info("mongo: result store on {} ({}; indexes {} unique, {}, {}{})", driver->description,
               driver->concern_text, kJobIdIndex, kCompletedAtIndex, kExpireAtIndex,
               driver->ttl_index ? " TTL" : "");
  const bool trims = driver->settings.trim_interval.count() > 0;
  std::unique_ptr<MongoResultStore> store(new MongoResultStore(std::move(driver)));
  if (trims) store->trimmer_ = std::thread([raw = store.get()] { raw->trim_loop(); });
  return store;
}

namespace {

// MongoResultStore::history(): the job_events collection on the store's pool.
template <class Driver>
class MongoJobHistory final : public JobHistory {
 public:
  explicit MongoJobHistory(const Driver& driver) : driver_(driver) {}
  Status append(std::span<const JobEvent> events) override {
    if (events.empty()) return {};
    return driver_.insert_events(events);
  }
  StatusOr<std::vector<JobEvent>> list(std::string_view job_id, size_t limit) override {
    return driver_.find_events(job_id, limit);
  }

 private:
  const Driver& driver_;
};

}  // namespace

MongoResultStore::MongoResultStore(std::unique_ptr<Driver> driver)
    : driver_(std::move(driver)), history_(std::make_unique<MongoJobHistory<Driver>>(*driver_)) {}

JobHistory& MongoResultStore::history() {
  return *history_;
}

MongoResultStore::~MongoResultStore() {
  {
    MutexLock lock(trim_mutex_);
    stopping_ = true;
  }
  trim_wake_.notify_all();
  if (trimmer_.joinable()) trimmer_.join();
}

bool MongoResultStore::ttl_index() const {
  return driver_->ttl_index;
}

StatusOr<size_t> MongoResultStore::trim_expired() {
  // The results, then the job events (their history).
  const int64_t now = to_unix_ms(Clock::now());
  auto trimmed = driver_->trim(driver_->settings.collection, now, driver_->settings.trim_batch);
  if (trimmed.ok()) {
    auto events =
        driver_->trim(driver_->settings.history_collection, now, driver_->settings.trim_batch);
    trimmed = events.ok() ? StatusOr<size_t>(*trimmed + *events) : events;
  }
  note(trimmed.ok() ? Status{} : trimmed.status());
  return trimmed;
}

void MongoResultStore::trim_loop() {
  const auto interval = driver_->settings.trim_interval;
  bool full = false;  // the last round found a whole batch: more wait
  while (true) {
    {
      MutexLock lock(trim_mutex_);
      if (!full) {
        trim_wake_.wait_for(lock, interval,
                            [this]() DTQ_REQUIRES(trim_mutex_) { return stopping_; });
      }
      if (stopping_) return;
    }
    auto trimmed = trim_expired();
    if (!trimmed.ok()) {
      // note() has logged an outage; anything else is worth a line each time.
      if (trimmed.status().code() != StatusCode::kUnavailable) {
        spdlog::warn("mongo: trimming expired results: {}", trimmed.status().message());
      }
      full = false;
      continue;
    }
    if (*trimmed > 0) spdlog::debug("mongo: trimmed {} expired results", *trimmed);
    full = *trimmed >= driver_->settings.trim_batch;
  }
}

const MongoSettings& MongoResultStore::settings() const {
  return driver_->settings;
}
const std::string& MongoResultStore::describe() const {
  return driver_->description;
}

void MongoResultStore::note(const Status& status) {
  if (status.ok()) {
    if (reported_down_.exchange(false)) {
      spdlog::info("mongo: {} is reachable again", driver_->description);
    }
  } else if (status.code() == StatusCode::kUnavailable && !reported_down_.exchange(true)) {
    spdlog::warn("{}", status.message());
  }
}

Status MongoResultStore::ping() {
  Status status = driver_->ping();
  note(status);
  return status;
}

StatusOr<bool> MongoResultStore::put(const JobResult& result) {
  auto stored = put_batch({&result, 1});
  if (!stored.ok()) return stored.status();
  return static_cast<bool>(stored->front());
}

StatusOr<std::vector<bool>> MongoResultStore::put_batch(std::span<const JobResult> results) {
  if (results.empty()) return std::vector<bool>{};
  std::vector<Bson> documents;
  std::vector<const bson_t*> pointers;
  documents.reserve(results.size());
  pointers.reserve(results.size());
  for (const auto& result : results) {
    auto doc = document_of(result, driver_->settings.retention);
    if (!doc.ok()) return doc.status();
    pointers.push_back(doc->get());
    documents.push_back(std::move(doc).value());
  }
  bool retry = false;
  auto stored = driver_->insert(pointers, retry);
  if (retry) stored = driver_->insert(pointers, retry);
  note(stored.ok() ? Status{} : stored.status());
  return stored;
}

StatusOr<JobResult> MongoResultStore::get(std::string_view job_id) {
  bool retry = false;
  auto found = driver_->find(job_id, retry);
  if (retry) found = driver_->find(job_id, retry);
  note(found.ok() || found.status().code() == StatusCode::kNotFound ? Status{} : found.status());
  return found;
}

}  // namespace dtq::mongo
