#include "common/payload.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

namespace dtq::plugins {
namespace {

using simdjson::dom::element_type;

constexpr std::string_view kWhiteSpace = " \t\n\r\f\v";

std::string_view trim(std::string_view text) {
  const size_t first = text.find_first_not_of(kWhiteSpace);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(kWhiteSpace) - first + 1);
}

bool is_ascii_letter(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

char to_upper_ascii(char c) {
  return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
}

std::string join(std::span<const std::string_view> items, std::string_view separator,
                 std::string_view quote = "") {
  std::string out;
  for (const std::string_view item : items) {
    if (!out.empty()) out += separator;
    out.append(quote).append(item).append(quote);
  }
  return out;
}

}  // namespace

std::string json_pointer(std::string_view property) {
  std::string out = "/";
  for (const char c : property) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

size_t utf8_length(std::string_view text) noexcept {
  // Every code point has exactly one byte that is not a continuation byte (10xxxxxx).
  return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0U) != 0x80U;
  }));
}

PayloadReader::PayloadReader(std::string_view payload,
                             std::span<const std::string_view> properties) {
  simdjson::dom::element root;
  if (const auto err = parser_.parse(non_null_data(payload), payload.size()).get(root); err) {
    errors_.push_back(
        {"", std::string("payload is not valid JSON: ") + simdjson::error_message(err)});
    return;
  }
  if (root.get_object().get(object_) != simdjson::SUCCESS) {
    errors_.push_back({"", "payload must be a JSON object"});
    return;
  }
  parsed_ = true;
  std::vector<std::string_view> seen;
  for (const auto field : object_) {
    if (std::find(properties.begin(), properties.end(), field.key) == properties.end()) {
      error(field.key, "is not a known property (expected one of: " + join(properties, ", ") + ")");
    } else if (std::find(seen.begin(), seen.end(), field.key) != seen.end()) {
      // simdjson keeps both copies; which one counts would be an accident.
      error(field.key, "appears more than once");
    } else {
      seen.push_back(field.key);
    }
  }
}

void PayloadReader::error(std::string_view name, std::string message) {
  errors_.push_back({json_pointer(name), std::move(message)});
}

std::optional<simdjson::dom::element> PayloadReader::member(std::string_view name,
                                                            Presence presence) {
  if (!parsed_) return std::nullopt;
  simdjson::dom::element value;
  if (object_.at_key(name).get(value) != simdjson::SUCCESS) {
    if (presence == Presence::kRequired) error(name, "is required");
    return std::nullopt;
  }
  return value;
}

std::optional<std::string> PayloadReader::string(std::string_view name, Presence presence,
                                                 size_t min_chars, size_t max_chars) {
  const auto value = member(name, presence);
  if (!value) return std::nullopt;
  std::string_view text;
  if (value->get_string().get(text) != simdjson::SUCCESS) {
    error(name, "must be a string");
    return std::nullopt;
  }
  text = trim(text);
  const size_t chars = utf8_length(text);
  if (chars < min_chars) {
    error(name, min_chars == 1
                    ? std::string("must not be empty")
                    : "must be at least " + std::to_string(min_chars) + " characters long");
    return std::nullopt;
  }
  if (chars > max_chars) {
    error(name, "must be at most " + std::to_string(max_chars) + " characters long");
    return std::nullopt;
  }
  return std::string(text);
}

std::optional<std::string> PayloadReader::letter_code(std::string_view name, Presence presence,
                                                      size_t length, std::string_view what) {
  const auto value = member(name, presence);
  if (!value) return std::nullopt;
  std::string_view text;
  if (value->get_string().get(text) == simdjson::SUCCESS) text = trim(text);
  if (value->type() != element_type::STRING || text.size() != length ||
      !std::all_of(text.begin(), text.end(), is_ascii_letter)) {
    error(name, "must be " + std::string(what));
    return std::nullopt;
  }
  std::string code(text);
  std::transform(code.begin(), code.end(), code.begin(), to_upper_ascii);
  return code;
}

std::optional<std::string> PayloadReader::one_of(std::string_view name, Presence presence,
                                                 std::span<const std::string_view> allowed) {
  const auto value = member(name, presence);
  if (!value) return std::nullopt;
  std::string_view text;
  if (value->get_string().get(text) != simdjson::SUCCESS ||
      std::find(allowed.begin(), allowed.end(), text) == allowed.end()) {
    error(name, "must be one of: " + join(allowed, ", ", "\""));
    return std::nullopt;
  }
  return std::string(text);
}

std::optional<double> PayloadReader::number(std::string_view name, Presence presence) {
  const auto value = member(name, presence);
  if (!value) return std::nullopt;
  double number = 0;
  // simdjson refuses NaN and infinities while parsing, so every number is finite.
  if (value->get_double().get(number) != simdjson::SUCCESS) {
    error(name, "must be a number");
    return std::nullopt;
  }
  return number;
}

std::optional<int64_t> PayloadReader::integer(std::string_view name, Presence presence, int64_t min,
                                              int64_t max) {
  const auto value = member(name, presence);
  if (!value) return std::nullopt;
  const std::string range =
      "must be an integer from " + std::to_string(min) + " to " + std::to_string(max);
  switch (value->type()) {
    case element_type::INT64: {
      const int64_t n = value->get_int64().value_unsafe();
      if (n >= min && n <= max) return n;
      break;
    }
    case element_type::DOUBLE: {
      const double d = value->get_double().value_unsafe();
      if (std::floor(d) == d && d >= static_cast<double>(min) && d <= static_cast<double>(max)) {
        return static_cast<int64_t>(d);
      }
      break;
    }
    default:  // UINT64 is above INT64_MAX, so out of any range we use
      break;
  }
  error(name, range);
  return std::nullopt;
}

bool PayloadReader::report_to(sdk::Validation& v) const {
  for (const FieldError& e : errors_) v.error(e.field, e.message);
  return errors_.empty();
}

void PayloadReader::throw_if_invalid() const {
  if (errors_.empty()) return;
  const FieldError& first = errors_.front();
  throw sdk::permanent_error(
      "invalid_payload",
      "invalid payload: " +
          (first.field.empty() ? first.message : first.field + " " + first.message));
}

}  // namespace dtq::plugins
