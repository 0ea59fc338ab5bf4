// RouteTable: which handler answers a request, by method and path, in the
// manner of userver's server/handlers: each route is a method, a path
// pattern and a handler, and the table alone decides 404 (no pattern
// matches the path) and 405 (a pattern matches, not for this method; the
// Allow header lists the methods that are). Patterns are literal segments
// and `{name}` segments, each of which matches one non-empty segment and
// hands it to the handler percent-decoded (path rules: '+' is a plus), and
// `{name}:verb` segments, which match a segment ending in ":verb" and hand
// over what precedes it (a custom method, as in "/v1/jobs/{id}:retry").
// Empty segments are ignored, so "/v1//jobs/" is "/v1/jobs".
//
// Independent of the HTTP library: methods are their names ("GET"), the
// handler is whatever the caller stores. Unit-tested without a server.
//
// Thread-safety: add() while building; match() from any number of threads
// once built. Ownership: owns the handlers.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dtq/core/uri.hpp"

namespace dtq::api {

// The `{name}` segments a path matched, decoded.
class PathParams {
 public:
  void add(std::string name, std::string value) {
    params_.emplace_back(std::move(name), std::move(value));
  }
  // The segment matched by `{name}`; empty when the pattern has none.
  [[nodiscard]] std::string_view get(std::string_view name) const {
    for (const auto& [key, value] : params_)
      if (key == name) return value;
    return {};
  }

 private:
  std::vector<std::pair<std::string, std::string>> params_;
};

// The non-empty segments of `path`, in order.
inline std::vector<std::string_view> path_segments(std::string_view path) {
  std::vector<std::string_view> segments;
  while (!path.empty()) {
    const size_t slash = path.find('/');
    const std::string_view segment = path.substr(0, slash);
    if (!segment.empty()) segments.push_back(segment);
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return segments;
}

template <class Handler>
class RouteTable {
 public:
  struct Route {
    std::string method;   // "GET", "POST", ...
    std::string pattern;  // as given: also the route's name in metrics and errors
    Handler handler;
  };

  struct Match {
    enum class Kind { kFound, kNotFound, kMethodNotAllowed };
    Kind kind = Kind::kNotFound;
    const Route* route = nullptr;  // kFound
    PathParams params;             // kFound
    std::string pattern;           // kFound, kMethodNotAllowed: the pattern the path matched
    std::string allow;             // kMethodNotAllowed: the methods it takes, "GET, POST"
  };

  void add(std::string method, std::string pattern, Handler handler) {
    routes_.push_back({std::move(method), std::move(pattern), std::move(handler)});
  }

  // Every route, in the order added (tests/openapi/ compares them with the
  // OpenAPI document).
  [[nodiscard]] const std::vector<Route>& routes() const { return routes_; }

  // The first route, in the order added, whose pattern matches `path` and
  // whose method is `method`.
  [[nodiscard]] Match match(std::string_view method, std::string_view path) const {
    const auto segments = path_segments(path);
    Match refused;
    std::vector<std::string_view> allowed;
    for (const Route& route : routes_) {
      PathParams params;
      if (!matches(route.pattern, segments, params)) continue;
      if (route.method == method) {
        return {Match::Kind::kFound, &route, std::move(params), route.pattern, {}};
      }
      if (allowed.empty()) refused.pattern = route.pattern;
      if (std::find(allowed.begin(), allowed.end(), route.method) == allowed.end())
        allowed.push_back(route.method);
    }
    if (allowed.empty()) return refused;
    refused.kind = Match::Kind::kMethodNotAllowed;
    for (const auto allowed_method : allowed)
      refused.allow += (refused.allow.empty() ? "" : ", ") + std::string(allowed_method);
    return refused;
  }

 private:
  static bool matches(std::string_view pattern, const std::vector<std::string_view>& segments,
                      PathParams& params) {
    const auto wanted = path_segments(pattern);
    if (wanted.size() != segments.size()) return false;
    for (size_t i = 0; i < wanted.size(); ++i) {
      const std::string_view part = wanted[i];
      const size_t close = part.find('}');
      if (part.size() > 2 && part.front() == '{' && close == part.size() - 1) {
        params.add(std::string(part.substr(1, part.size() - 2)), percent_decode(segments[i]));
      } else if (part.front() == '{' && close != std::string_view::npos && close > 1 &&
                 part[close + 1] == ':') {
        // `{name}:verb` (Google's custom methods): a segment ending in ":verb".
        const std::string_view verb = part.substr(close + 1);
        const std::string_view segment = segments[i];
        if (segment.size() <= verb.size() || !segment.ends_with(verb)) return false;
        params.add(std::string(part.substr(1, close - 1)),
                   percent_decode(segment.substr(0, segment.size() - verb.size())));
      } else if (part != segments[i]) {
        return false;
      }
    }
    return true;
  }

  std::vector<Route> routes_;
};

}  // namespace dtq::api
