// Talking to a provider from a shipped plugin's run(): the JobError policy for
// HTTP answers the plugin gives no specific meaning, and ProviderJson, a parsed
// response body whose accessors turn any deviation from the expected shape
// into a "provider_bad_response" failure.
//
// Error policy, applied after the host has already retried 5xx, 429, timeouts
// and transport errors:
//   429, 5xx            transient "provider_unavailable" (the status and the
//                       attempts in the message)
//   other 4xx           permanent "provider_rejected": the request itself is wrong
//   anything else       transient "provider_bad_response"
//   a body that is not the JSON we expect: transient "provider_bad_response"
//                       (a truncated or proxy-mangled body usually is)
// A plugin maps the answers that mean something for its job (404 "no such
// user", say) before falling back to this.
//
// Thread-safety: free functions are thread-safe; one ProviderJson per response.
// Ownership: ProviderJson owns the parsed document; the elements, objects and
// string_views it hands out live as long as it does.
#pragma once

#include <simdjson.h>
#include <dtq/plugin.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dtq::plugins {

// Throws the JobError the policy above gives `response`'s status.
[[noreturn]] void throw_unexpected_status(std::string_view provider,
                                          const sdk::HttpResponse& response);

// The string member `key` of a JSON object body, or nullopt: for the human
// explanation inside an error answer ({"reason": ...}, {"message": ...}).
std::optional<std::string> error_detail(std::string_view body, std::string_view key);

// `value` in plain decimal notation, as short as round-trips ("1", "0.5",
// "1000000000000"): what query parameters such as Frankfurter's amount accept.
std::string decimal(double value);

class ProviderJson {
 public:
  // Parses `body`; throws provider_bad_response if it is not JSON.
  ProviderJson(std::string_view provider, std::string_view body);
  ProviderJson(const ProviderJson&) = delete;
  ProviderJson& operator=(const ProviderJson&) = delete;

  // The top-level value as an object.
  simdjson::dom::object root() const;

  // Members of `parent` that must be there with the named type. `key` names
  // the member in the provider_bad_response message.
  simdjson::dom::object object(simdjson::dom::object parent, std::string_view key) const;
  simdjson::dom::array array(simdjson::dom::object parent, std::string_view key) const;
  std::string_view string(simdjson::dom::object parent, std::string_view key) const;
  double number(simdjson::dom::object parent, std::string_view key) const;
  int64_t integer(simdjson::dom::object parent, std::string_view key) const;
  // A string member that providers omit when empty: "" when absent.
  std::string_view optional_string(simdjson::dom::object parent, std::string_view key) const;

  [[noreturn]] void throw_bad_response(std::string_view detail) const;

 private:
  simdjson::dom::element member(simdjson::dom::object parent, std::string_view key) const;
  [[noreturn]] void throw_wrong_type(std::string_view key, std::string_view expected) const;

  std::string provider_;
  simdjson::dom::parser parser_;
  simdjson::dom::element root_;
};

}  // namespace dtq::plugins
