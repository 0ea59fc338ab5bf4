#include "dtq/core/json.hpp"

#include <simdjson.h>

namespace dtq {

Status check_json_object(std::string_view text) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (const auto error = parser.parse(simdjson::padded_string(text)).get(root); error) {
    return invalid_argument(std::string("malformed JSON: ") + simdjson::error_message(error));
  }
  if (root.type() != simdjson::dom::element_type::OBJECT) {
    return invalid_argument("expected a JSON object");
  }
  return {};
}

}  // namespace dtq
