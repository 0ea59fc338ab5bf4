// Percent-decoding (RFC 3986 §2.1) for the parts of a URI dtq reads: the
// userinfo and path of a backend URI, the path of an HTTP request, and the
// parameters of a query string.
//
// The two differ on '+' only. In a path or userinfo '+' is an ordinary
// character (a file "a+b.js", a password "p+ss"); in a query string, HTML
// forms and every browser encode a space as '+' (the
// application/x-www-form-urlencoded rules), so there it is a space and a
// literal plus arrives as "%2B". A '%' not followed by two hex digits is
// kept as it is rather than refused: the caller decides whether the decoded
// text is acceptable.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace dtq {

// A path segment or userinfo: "%XX" decoded, '+' kept.
std::string percent_decode(std::string_view text);

// One name or value of a query string: '+' is a space, then "%XX" decoded.
std::string query_decode(std::string_view text);

}  // namespace dtq
