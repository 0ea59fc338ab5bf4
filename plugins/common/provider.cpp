#include "common/provider.hpp"

#include "common/payload.hpp"

#include <array>
#include <charconv>
#include <system_error>

namespace dtq::plugins {

void throw_unexpected_status(std::string_view provider, const sdk::HttpResponse& response) {
  const std::string status = "HTTP " + std::to_string(response.status);
  if (response.status == 429 || response.status >= 500) {
    throw sdk::transient_error("provider_unavailable",
                               std::string(provider) + " unavailable: " + status + " after " +
                                   std::to_string(response.attempts) + " attempt(s)");
  }
  if (response.status >= 400) {
    std::optional<std::string> detail = error_detail(response.body, "message");
    if (!detail) detail = error_detail(response.body, "reason");
    throw sdk::permanent_error("provider_rejected", std::string(provider) +
                                                        " rejected the request: " + status +
                                                        (detail ? " (" + *detail + ")" : ""));
  }
  throw sdk::transient_error("provider_bad_response",
                             std::string(provider) + " answered with unexpected " + status);
}

std::optional<std::string> error_detail(std::string_view body, std::string_view key) {
  simdjson::dom::parser parser;
  std::string_view detail;
  if (parser.parse(non_null_data(body), body.size()).at_key(key).get_string().get(detail) !=
      simdjson::SUCCESS) {
    return std::nullopt;
  }
  return std::string(detail);
}

std::string decimal(double value) {
  // Plain notation of a double is at most ~330 characters (denormals).
  std::array<char, 400> buffer{};
  const auto [end, ec] =
      std::to_chars(buffer.data(), buffer.data() + buffer.size(), value, std::chars_format::fixed);
  if (ec != std::errc()) throw std::system_error(std::make_error_code(ec), "formatting a number");
  return std::string(buffer.data(), end);
}

ProviderJson::ProviderJson(std::string_view provider, std::string_view body) : provider_(provider) {
  if (const auto err = parser_.parse(non_null_data(body), body.size()).get(root_); err) {
    throw_bad_response(std::string("body is not JSON (") + simdjson::error_message(err) + ")");
  }
}

simdjson::dom::object ProviderJson::root() const {
  simdjson::dom::object object;
  if (root_.get_object().get(object) != simdjson::SUCCESS) {
    throw_bad_response("body is not a JSON object");
  }
  return object;
}

simdjson::dom::element ProviderJson::member(simdjson::dom::object parent,
                                            std::string_view key) const {
  simdjson::dom::element value;
  if (parent.at_key(key).get(value) != simdjson::SUCCESS) {
    throw_bad_response("'" + std::string(key) + "' is missing");
  }
  return value;
}

simdjson::dom::object ProviderJson::object(simdjson::dom::object parent,
                                           std::string_view key) const {
  simdjson::dom::object value;
  if (member(parent, key).get_object().get(value) != simdjson::SUCCESS) {
    throw_wrong_type(key, "an object");
  }
  return value;
}

simdjson::dom::array ProviderJson::array(simdjson::dom::object parent, std::string_view key) const {
  simdjson::dom::array value;
  if (member(parent, key).get_array().get(value) != simdjson::SUCCESS) {
    throw_wrong_type(key, "an array");
  }
  return value;
}

std::string_view ProviderJson::string(simdjson::dom::object parent, std::string_view key) const {
  std::string_view value;
  if (member(parent, key).get_string().get(value) != simdjson::SUCCESS) {
    throw_wrong_type(key, "a string");
  }
  return value;
}

double ProviderJson::number(simdjson::dom::object parent, std::string_view key) const {
  double value = 0;
  if (member(parent, key).get_double().get(value) != simdjson::SUCCESS) {
    throw_wrong_type(key, "a number");
  }
  return value;
}

int64_t ProviderJson::integer(simdjson::dom::object parent, std::string_view key) const {
  int64_t value = 0;
  if (member(parent, key).get_int64().get(value) != simdjson::SUCCESS) {
    throw_wrong_type(key, "an integer");
  }
  return value;
}

std::string_view ProviderJson::optional_string(simdjson::dom::object parent,
                                               std::string_view key) const {
  simdjson::dom::element value;
  if (parent.at_key(key).get(value) != simdjson::SUCCESS) return {};
  std::string_view text;
  if (value.get_string().get(text) != simdjson::SUCCESS) throw_wrong_type(key, "a string");
  return text;
}

void ProviderJson::throw_bad_response(std::string_view detail) const {
  throw sdk::transient_error(
      "provider_bad_response",
      provider_ + " answered with an unexpected body: " + std::string(detail));
}

void ProviderJson::throw_wrong_type(std::string_view key, std::string_view expected) const {
  throw_bad_response("'" + std::string(key) + "' is not " + std::string(expected));
}

}  // namespace dtq::plugins
