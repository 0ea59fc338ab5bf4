// Kafka's bootstrap servers, as an operator writes them (the driver owns
// their reading, as userver's dsn.hpp has it):
//
//   HOST:PORT[,HOST:PORT...]     or the same after kafka://
//
// Each broker needs its port. The result is what
// KafkaSettings::bootstrap_servers takes, without the kafka:// prefix.
//
// Thread-safety: a pure function.
#pragma once

#include <string>
#include <string_view>

#include "dtq/core/status.hpp"

namespace dtq::kafka {

// InvalidArgument quoting the list, saying what is wrong and the form
// expected.
StatusOr<std::string> parse_bootstrap_servers(std::string_view text);

}  // namespace dtq::kafka
