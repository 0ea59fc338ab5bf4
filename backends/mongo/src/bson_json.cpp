#include "bson_json.hpp"

#include <simdjson.h>

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>

#include "dtq/core/time.hpp"

namespace dtq::mongo {
namespace {

using Json = nlohmann::ordered_json;

int key_length(std::string_view key) {
  return static_cast<int>(key.size());
}

bool append_element(bson_t* doc, std::string_view key, simdjson::dom::element element) {
  using Type = simdjson::dom::element_type;
  switch (element.type()) {
    case Type::OBJECT: {
      simdjson::dom::object object;
      if (element.get(object) != simdjson::SUCCESS) return false;
      bson_t child;
      if (!bson_append_document_begin(doc, key.data(), key_length(key), &child)) return false;
      for (const auto field : object) {
        if (!append_element(&child, field.key, field.value)) {
          bson_append_document_end(doc, &child);
          return false;
        }
      }
      return bson_append_document_end(doc, &child);
    }
    case Type::ARRAY: {
      simdjson::dom::array array;
      if (element.get(array) != simdjson::SUCCESS) return false;
      bson_t child;
      if (!bson_append_array_begin(doc, key.data(), key_length(key), &child)) return false;
      uint32_t index = 0;
      for (const auto item : array) {
        char buffer[16];
        const char* index_key = nullptr;
        const size_t length = bson_uint32_to_string(index++, &index_key, buffer, sizeof buffer);
        if (!append_element(&child, {index_key, length}, item)) {
          bson_append_array_end(doc, &child);
          return false;
        }
      }
      return bson_append_array_end(doc, &child);
    }
    case Type::INT64: {
      const int64_t value = element.get_int64().value_unsafe();
      if (value >= std::numeric_limits<int32_t>::min() &&
          value <= std::numeric_limits<int32_t>::max()) {
        return bson_append_int32(doc, key.data(), key_length(key), static_cast<int32_t>(value));
      }
      return bson_append_int64(doc, key.data(), key_length(key), value);
    }
    case Type::UINT64:  // only above INT64_MAX: BSON has no unsigned integers
      return bson_append_double(doc, key.data(), key_length(key),
                                static_cast<double>(element.get_uint64().value_unsafe()));
    case Type::DOUBLE:
      return bson_append_double(doc, key.data(), key_length(key),
                                element.get_double().value_unsafe());
    case Type::STRING: {
      const std::string_view text = element.get_string().value_unsafe();
      return bson_append_utf8(doc, key.data(), key_length(key), text.data(),
                              static_cast<int>(text.size()));
    }
    case Type::BOOL:
      return bson_append_bool(doc, key.data(), key_length(key), element.get_bool().value_unsafe());
    case Type::NULL_VALUE:
      return bson_append_null(doc, key.data(), key_length(key));
    default:
      return false;
  }
}

Json value_of(const bson_iter_t& iter);

Json container_of(const bson_iter_t& iter, bool array) {
  Json out = array ? Json::array() : Json::object();
  bson_iter_t child;
  if (!bson_iter_recurse(&iter, &child)) return out;
  while (bson_iter_next(&child)) {
    if (array) {
      out.push_back(value_of(child));
    } else {
      out[std::string(bson_iter_key(&child), bson_iter_key_len(&child))] = value_of(child);
    }
  }
  return out;
}

Json value_of(const bson_iter_t& iter) {
  switch (bson_iter_type(&iter)) {
    case BSON_TYPE_DOCUMENT:
      return container_of(iter, false);
    case BSON_TYPE_ARRAY:
      return container_of(iter, true);
    case BSON_TYPE_UTF8: {
      uint32_t length = 0;
      const char* text = bson_iter_utf8(&iter, &length);
      return std::string(text, length);
    }
    case BSON_TYPE_INT32:
      return bson_iter_int32(&iter);
    case BSON_TYPE_INT64:
      return bson_iter_int64(&iter);
    case BSON_TYPE_DOUBLE:
      return bson_iter_double(&iter);
    case BSON_TYPE_BOOL:
      return bson_iter_bool(&iter);
    case BSON_TYPE_DATE_TIME:
      return to_rfc3339(from_unix_ms(bson_iter_date_time(&iter)));
    case BSON_TYPE_OID: {
      char hex[25];
      bson_oid_to_string(bson_iter_oid(&iter), hex);
      return std::string(hex);
    }
    case BSON_TYPE_DECIMAL128: {
      bson_decimal128_t value;
      char text[BSON_DECIMAL128_STRING];
      if (!bson_iter_decimal128(&iter, &value)) return nullptr;
      bson_decimal128_to_string(&value, text);
      Json number = Json::parse(text, nullptr, false);
      return number.is_number() ? number : Json(nullptr);
    }
    default:
      return nullptr;
  }
}

}  // namespace

Status append_json_object(bson_t* parent, std::string_view key, std::string_view json) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto error = parser.parse(simdjson::padded_string(json)).get(root); error) {
    return invalid_argument("\"" + std::string(key) +
                            "\" is not valid JSON: " + simdjson::error_message(error));
  }
  if (root.type() != simdjson::dom::element_type::OBJECT) {
    return invalid_argument("\"" + std::string(key) + "\" is not a JSON object");
  }
  if (!append_element(parent, key, root)) {
    return invalid_argument("\"" + std::string(key) +
                            "\" does not fit in BSON (a key with a NUL byte, or over 16 MiB)");
  }
  return {};
}

std::string json_of(const bson_iter_t& iter) {
  const bool array = bson_iter_type(&iter) == BSON_TYPE_ARRAY;
  return container_of(iter, array).dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace dtq::mongo
