// JSON text <-> BSON values, for the input and output documents of a result.
// Plain JSON only: no extended JSON ({"$date": …} stays an ordinary object),
// so a payload means the same in the store as on the queue.
//
//   JSON          BSON
//   object        document (key order kept)
//   array         array
//   string        UTF-8 string
//   integer       int32 when it fits, else int64 (uint64 beyond it: double)
//   number        double
//   true/false    bool
//   null          null
//
// Back from BSON, a date becomes its RFC 3339 text, an ObjectId its hex,
// a decimal128 its number; other BSON-only types become null.
//
// Thread-safety: every function is safe to call from any thread.
#pragma once

#include <bson/bson.h>

#include <string>
#include <string_view>

#include "dtq/core/status.hpp"

namespace dtq::mongo {

// Appends `json` (a JSON object's text) to `parent` under `key` as an
// embedded document. InvalidArgument when it is not a JSON object.
Status append_json_object(bson_t* parent, std::string_view key, std::string_view json);

// The embedded document or array that `iter` points at, as compact JSON.
std::string json_of(const bson_iter_t& iter);

}  // namespace dtq::mongo
