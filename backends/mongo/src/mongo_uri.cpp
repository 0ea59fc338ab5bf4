#include "dtq/mongo/mongo_uri.hpp"

#include "dtq/core/server_uri.hpp"

namespace dtq::mongo {

StatusOr<MongoSettings> parse_uri(std::string_view uri) {
  constexpr std::string_view kForm = "mongodb://[USER:PASS@]HOST:PORT[,HOST:PORT...][/?OPTIONS]";
  if (!uri.starts_with("mongodb://") && !uri.starts_with("mongodb+srv://"))
    return uri_error(uri, "is not a mongodb:// connection string", kForm);
  MongoSettings settings;
  settings.uri = std::string(uri);
  if (Status valid = settings.validate(); !valid.ok())
    return uri_error(uri, valid.message(), kForm);
  return settings;
}

}  // namespace dtq::mongo
