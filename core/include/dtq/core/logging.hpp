// Process-wide logging set-up: one line per event on stderr, UTC timestamps,
// key=value context in the message. Never pass secrets to a logger.
//
// Thread-safety: call configure_logging once at start-up, before other threads.
#pragma once

#include <string_view>

#include "dtq/core/status.hpp"

namespace dtq {

// `level` is one of trace, debug, info, warn, error, off.
Status configure_logging(std::string_view level);

}  // namespace dtq
