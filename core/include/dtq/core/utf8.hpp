// UTF-8 checks for text that arrives from code the host does not trust (a
// plugin's failure, progress message, log line or field error): every
// encoder downstream (JSON, the stores, the logs) may assume valid UTF-8 only
// because the boundary made it so.
//
// Thread-safety: every function is safe to call from any thread.
#pragma once

#include <string>
#include <string_view>

namespace dtq {

bool is_valid_utf8(std::string_view text) noexcept;

// `text` unchanged when it is valid UTF-8; otherwise a copy in which each
// broken character (a byte that starts no well-formed sequence, with the
// continuation bytes after it) is replaced by one U+FFFD, so a reader still
// sees what the rest said.
std::string to_valid_utf8(std::string_view text);

}  // namespace dtq
