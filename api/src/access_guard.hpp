// AccessGuard: who may call what, decided alike for the REST and the gRPC
// faces. A route or RPC needs a scope (or none); the caller presents
// `Authorization: Bearer KEY` (an HTTP header or gRPC metadata, never a
// cookie); the guard answers allowed, or why not. And the Host check of
// the REST face: a name not served is refused (DNS rebinding).
//
// Thread-safety: const after construction; check() may run on many
// threads. Ownership: borrows the ApiKeys, which must outlive the guard.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dtq/core/api_keys.hpp"

namespace dtq::api {

// What a call needs.
enum class Need {
  kNothing,  // open to anyone
  kRead,     // a `read` key (or none with open reads)
  kSubmit,   // a `submit` key
  kAdmin,    // an `admin` key: dead letters (replay, retry, delete), pausing job types
  kMetrics,  // a `read` key when metrics need one, else nothing
};

struct Verdict {
  enum class Kind {
    kAllowed,
    kUnauthenticated,  // no key, or not a key the store knows (REST 401)
    kForbidden,        // a key whose scope is too small (REST 403)
    kUnavailable,      // the key store did not answer (REST 503)
  };
  Kind kind = Kind::kAllowed;
  std::string message;
  [[nodiscard]] bool allowed() const { return kind == Kind::kAllowed; }
};

class AccessGuard {
 public:
  // `keys` null: every call is allowed (--no-auth).
  AccessGuard(const ApiKeys* keys, bool open_reads, bool metrics_need_key)
      : keys_(keys), open_reads_(open_reads), metrics_need_key_(metrics_need_key) {}

  // `authorization`: the Authorization header's value, if any.
  [[nodiscard]] Verdict check(Need need, std::optional<std::string_view> authorization) const;

 private:
  const ApiKeys* keys_;
  const bool open_reads_;
  const bool metrics_need_key_;
};

// The Host header check: refused unless `host` (a Host header's value,
// with or without a port) names one of `allowed` (lower case, without a
// port). An empty list allows every name.
bool host_allowed(std::string_view host, const std::vector<std::string>& allowed);

// Whose idempotency keys a caller's are, for both faces: the id of the API
// key that `authorization` presents ("Bearer dtq_<id>_<secret>"), so that
// two keys' callers never share one; empty for no key, the operator key
// (DTQ_API_TOKEN) or anything not shaped like a key (--no-auth): one space
// that those callers share. Only meaningful once the guard allowed the call.
std::string idempotency_owner(std::optional<std::string_view> authorization);

}  // namespace dtq::api
