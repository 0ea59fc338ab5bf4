// PayloadReader: reads a job payload for a shipped plugin. It parses the
// payload as a JSON object, refuses properties the plugin's schema does not
// declare, and reads typed fields, collecting one error per bad field against
// its JSON Pointer ("/city"). A plugin reads the same way in validate() (where
// the errors go to the host) and in run() (where any error means the payload
// bypassed validate(), a permanent failure).
//
// Thread-safety: one reader per call; distinct readers may be used from any
// thread. Ownership: the reader owns the parsed document.
#pragma once

#include <simdjson.h>
#include <dtq/plugin.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dtq::plugins {

enum class Presence { kOptional, kRequired };

struct FieldError {
  std::string field;  // JSON Pointer into the payload; "" for the whole payload
  std::string message;
};

class PayloadReader {
 public:
  // `properties` are the names the schema declares; any other one is an error.
  PayloadReader(std::string_view payload, std::span<const std::string_view> properties);
  PayloadReader(const PayloadReader&) = delete;
  PayloadReader& operator=(const PayloadReader&) = delete;

  // Each getter returns nullopt when the property is absent or invalid; an
  // invalid (or absent and required) one is also recorded as an error.

  // A string, trimmed of ASCII white space, of min_chars..max_chars code points.
  std::optional<std::string> string(std::string_view name, Presence presence, size_t min_chars,
                                    size_t max_chars);
  // A string of `length` ASCII letters once trimmed, returned upper-cased; the
  // error says the value "must be <what>".
  std::optional<std::string> letter_code(std::string_view name, Presence presence, size_t length,
                                         std::string_view what);
  // One of `allowed`, exactly.
  std::optional<std::string> one_of(std::string_view name, Presence presence,
                                    std::span<const std::string_view> allowed);
  // Any finite JSON number.
  std::optional<double> number(std::string_view name, Presence presence);
  // An integer in min..max; 20.0 counts, as JSON Schema's "integer" says.
  std::optional<int64_t> integer(std::string_view name, Presence presence, int64_t min,
                                 int64_t max);

  // Records a plugin-specific problem with property `name`.
  void error(std::string_view name, std::string message);

  bool ok() const noexcept { return errors_.empty(); }
  const std::vector<FieldError>& errors() const noexcept { return errors_; }

  // validate()'s ending: forwards every error to `v`; true when there were none.
  bool report_to(sdk::Validation& v) const;
  // run()'s check: a permanent "invalid_payload" JobError naming the first error.
  void throw_if_invalid() const;

 private:
  std::optional<simdjson::dom::element> member(std::string_view name, Presence presence);

  simdjson::dom::parser parser_;
  simdjson::dom::object object_;
  bool parsed_ = false;
  std::vector<FieldError> errors_;
};

// The JSON Pointer of a top-level property: "/" + name, with "~" and "/" escaped.
std::string json_pointer(std::string_view property);

// `text.data()`, or "" for a view without one: simdjson copies its input with
// memcpy, which must not be handed a null pointer even for zero bytes.
inline const char* non_null_data(std::string_view text) noexcept {
  return text.data() == nullptr ? "" : text.data();
}

// Number of Unicode code points in valid UTF-8 text: what JSON Schema's
// minLength/maxLength count.
size_t utf8_length(std::string_view text) noexcept;

}  // namespace dtq::plugins
