#include "dtq/mongo/mongo_settings.hpp"

#include <string>

namespace dtq::mongo {

Status MongoSettings::validate() const {
  if (uri.empty()) return invalid_argument("mongo: uri is empty");
  if (database.empty() || database.find_first_of("/\\. \"$") != std::string::npos) {
    return invalid_argument("mongo: database \"" + database +
                            R"(" is not a valid database name (empty, or one of /\. "$))");
  }
  if (collection.empty() || collection.find('$') != std::string::npos ||
      collection.rfind("system.", 0) == 0) {
    return invalid_argument("mongo: collection \"" + collection +
                            "\" is not a valid collection name");
  }
  if (write_timeout.count() < 0) return invalid_argument("mongo: write_timeout is negative");
  if (server_selection_timeout.count() <= 0) {
    return invalid_argument("mongo: server_selection_timeout must be positive");
  }
  if (connect_timeout.count() <= 0)
    return invalid_argument("mongo: connect_timeout must be positive");
  if (socket_timeout.count() <= 0)
    return invalid_argument("mongo: socket_timeout must be positive");
  if (heartbeat_frequency.count() < 500) {
    return invalid_argument("mongo: heartbeat_frequency must be at least 500 ms");
  }
  if (max_pool_size == 0) return invalid_argument("mongo: max_pool_size must be at least 1");
  if (trim_interval.count() < 0) return invalid_argument("mongo: trim_interval is negative");
  if (trim_batch == 0) return invalid_argument("mongo: trim_batch must be at least 1");
  return {};
}

}  // namespace dtq::mongo
