#include "access_guard.hpp"

#include <algorithm>
#include <cctype>

namespace dtq::api {
namespace {

constexpr std::string_view kBearer = "Bearer ";

Scope scope_for(Need need) {
  switch (need) {
    case Need::kSubmit:
      return Scope::kSubmit;
    case Need::kAdmin:
      return Scope::kAdmin;
    default:
      return Scope::kRead;
  }
}

// "Name:8080" -> "name"; "[::1]:80" -> "[::1]"; "::1" stays.
std::string name_of(std::string_view host) {
  if (host.starts_with('[')) {
    host = host.substr(0, host.find(']') + 1);
  } else if (const size_t colon = host.rfind(':');
             colon != std::string_view::npos && host.find(':') == colon) {
    host = host.substr(0, colon);
  }
  std::string name(host);
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  while (!name.empty() && name.back() == '.') name.pop_back();  // "localhost." is "localhost"
  return name;
}

}  // namespace

Verdict AccessGuard::check(Need need, std::optional<std::string_view> authorization) const {
  using Kind = Verdict::Kind;
  if (keys_ == nullptr || need == Need::kNothing) return {};
  if (need == Need::kRead && open_reads_) return {};
  if (need == Need::kMetrics && !metrics_need_key_) return {};
  if (!authorization) {
    return {Kind::kUnauthenticated, "an API key is required (Authorization: Bearer KEY)"};
  }
  if (!authorization->starts_with(kBearer)) {
    return {Kind::kUnauthenticated, "the Authorization header must be Bearer KEY"};
  }
  const auto scope = keys_->authenticate(authorization->substr(kBearer.size()));
  if (!scope.ok()) {
    if (scope.status().code() == StatusCode::kNotFound) {
      return {Kind::kUnauthenticated, "unknown or revoked API key"};
    }
    return {Kind::kUnavailable, "cannot check the API key: " + scope.status().message()};
  }
  const Scope needed = scope_for(need);
  if (!grants(*scope, needed)) {
    return {Kind::kForbidden, "this key's scope is " + std::string(to_string(*scope)) +
                                  "; this needs " + std::string(to_string(needed))};
  }
  return {};
}

bool host_allowed(std::string_view host, const std::vector<std::string>& allowed) {
  if (allowed.empty()) return true;
  const std::string name = name_of(host);
  return std::find(allowed.begin(), allowed.end(), name) != allowed.end();
}

std::string idempotency_owner(std::optional<std::string_view> authorization) {
  if (!authorization || !authorization->starts_with(kBearer)) return {};
  return api_key_id(authorization->substr(kBearer.size()));
}

}  // namespace dtq::api
