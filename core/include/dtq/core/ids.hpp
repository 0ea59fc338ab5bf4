// Identifiers: job ids and trace ids are random (version 4) UUIDs in their
// canonical lower-case 36-character form.
//
// Thread-safety: every function is safe to call from any thread.
#pragma once

#include <string>
#include <string_view>

namespace dtq {

std::string new_uuid4();

// True for a canonical UUID string (8-4-4-4-12 hex digits, any case).
bool is_uuid(std::string_view text) noexcept;

// Job types name plugins, topics and metrics: [a-z][a-z0-9_]{0,63}.
bool is_valid_job_type(std::string_view text) noexcept;

}  // namespace dtq
