// The OpenAPI 3.1 description of the REST face, api/openapi.yaml, embedded
// at build time as JSON (api/openapi_embed.py) and served at GET
// /openapi.json. tests/openapi/ keeps the document and the route table in
// step (docs/openapi.md).
//
// Thread-safety: the document is a constant; the route answers from any
// thread. Ownership: none.
#pragma once

#include <string_view>

#include "api_routes.hpp"

namespace dtq::api {

// The document, minified JSON.
std::string_view openapi_document();

// Adds GET /openapi.json to `table`: open to all (no key), Host-checked.
void add_openapi_route(ApiRouteTable& table);

}  // namespace dtq::api
