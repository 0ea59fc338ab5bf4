// JSON checks the core needs without exposing a parser in its interface.
// Parsing is simdjson's; documents are validated, never trusted.
//
// Thread-safety: every function is safe to call from any thread.
#pragma once

#include <string>
#include <string_view>

#include "dtq/core/status.hpp"

namespace dtq {

// Ok when `text` is one well-formed JSON document whose root is an object;
// otherwise an InvalidArgument Status saying where it went wrong.
Status check_json_object(std::string_view text);

}  // namespace dtq
