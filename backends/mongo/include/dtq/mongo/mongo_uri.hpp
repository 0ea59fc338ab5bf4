// The MongoDB connection string, taken into MongoSettings (the driver owns
// its URI, as userver's dsn.hpp has it):
//
//   mongodb://[USER:PASS@]HOST[:PORT][,HOST[:PORT]...][/[AUTHDB]][?OPTIONS]
//   mongodb+srv://...
//
// The string goes to libmongoc as it is (hosts, credentials, replica set,
// TLS are the driver's to read, when it connects); this checks its scheme.
// Every other setting keeps MongoSettings' default.
//
// Thread-safety: a pure function.
#pragma once

#include <string_view>

#include "dtq/core/status.hpp"
#include "dtq/mongo/mongo_settings.hpp"

namespace dtq::mongo {

// InvalidArgument quoting the URI (its password hidden), saying what is
// wrong and the form expected.
StatusOr<MongoSettings> parse_uri(std::string_view uri);

}  // namespace dtq::mongo
