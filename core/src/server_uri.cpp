#include "dtq/core/server_uri.hpp"

#include "dtq/core/uri.hpp"

namespace dtq {
namespace {

constexpr std::string_view kSchemeEnd = "://";

// Moves the text after `separator` (searched for from the front) into `out`
// and drops it, with the separator, from `text`.
bool take_suffix(std::string_view& text, char separator, std::string& out) {
  const size_t at = text.find(separator);
  if (at == std::string_view::npos) return false;
  out = std::string(text.substr(at + 1));
  text = text.substr(0, at);
  return true;
}

// user[:password] out of the userinfo before the last '@' of `authority`,
// which keeps only what follows it.
void take_userinfo(std::string_view& authority, ServerUri& uri) {
  const size_t at = authority.rfind('@');
  if (at == std::string_view::npos) return;
  const std::string_view info = authority.substr(0, at);
  const size_t colon = info.find(':');
  uri.user = percent_decode(info.substr(0, colon));
  if (colon != std::string_view::npos) uri.password = percent_decode(info.substr(colon + 1));
  authority.remove_prefix(at + 1);
}

}  // namespace

StatusOr<ServerUri> parse_server_uri(std::string_view text, uint16_t default_port,
                                     std::string_view form) {
  const size_t scheme_end = text.find(kSchemeEnd);
  if (scheme_end == std::string_view::npos || scheme_end == 0)
    return uri_error(text, "is not a URI", form);
  ServerUri uri;
  uri.scheme = std::string(text.substr(0, scheme_end));
  std::string_view rest = text.substr(scheme_end + kSchemeEnd.size());
  take_suffix(rest, '?', uri.query);
  if (std::string path; take_suffix(rest, '/', path)) uri.path = std::move(path);
  take_userinfo(rest, uri);
  auto address = parse_server_address(rest, default_port);
  if (!address.ok()) return uri_error(text, address.status().message(), form);
  uri.address = std::move(address).value();
  return uri;
}

std::vector<QueryOption> query_options(std::string_view query) {
  std::vector<QueryOption> options;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query.remove_prefix(amp == std::string_view::npos ? query.size() : amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    auto& option = options.emplace_back();
    option.name = query_decode(pair.substr(0, eq));
    if (eq != std::string_view::npos) option.value = query_decode(pair.substr(eq + 1));
  }
  return options;
}

std::string redact_password(std::string_view uri) {
  // Without a scheme the text may still be userinfo@host: hidden all the same.
  const size_t scheme_end = uri.find(kSchemeEnd);
  const size_t authority =
      scheme_end == std::string_view::npos ? 0 : scheme_end + kSchemeEnd.size();
  const size_t at = uri.find('@', authority);
  const size_t slash = uri.find('/', authority);
  if (at == std::string_view::npos || (slash != std::string_view::npos && slash < at))
    return std::string(uri);
  // A userinfo without ':' is hidden whole: Redis reads it as a password.
  const size_t colon = uri.find(':', authority);
  const size_t secret = colon == std::string_view::npos || colon > at ? authority : colon + 1;
  return std::string(uri.substr(0, secret)) + "***" + std::string(uri.substr(at));
}

Status uri_error(std::string_view uri, std::string_view why, std::string_view form) {
  return invalid_argument("\"" + redact_password(uri) + "\" " + std::string(why) + " (expected " +
                          std::string(form) + ")");
}

}  // namespace dtq
