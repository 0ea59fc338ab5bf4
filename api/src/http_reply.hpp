// The REST face's HTTP vocabulary, shared by its routes: a Reply (code,
// JSON body, extra headers) before it is sent, the Exchange a route handler
// is given, and the one error shape {"error":{"code","message","details"}}
// with the mapping of a Status onto it.
//
// Thread-safety: pure functions and value types; an Exchange lives for one
// request on the reactor thread serving it. Ownership: an Exchange borrows
// the request and the response writer.
#pragma once

#include <pistache/http.h>
#include <pistache/transport.h>

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dtq/core/status.hpp"
#include "route_table.hpp"

namespace dtq::api {

// An answer before it is sent: the code, the JSON body, extra headers.
struct Reply {
  Pistache::Http::Code code = Pistache::Http::Code::Ok;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers = {};
};

// One request as a route handler sees it. `transport` is the reactor the
// request arrived on (an event stream's writes must run there).
struct Exchange {
  const Pistache::Http::Request& request;
  Pistache::Http::ResponseWriter& response;
  Pistache::Tcp::Transport* transport;
  PathParams params;
};

const Pistache::Http::Mime::MediaType& json_mime();

// Adds a response header by name. Pistache 0.0.5 writes only typed headers
// into a response, never raw ones (addRaw is silently dropped).
void add_header(Pistache::Http::ResponseWriter& response, std::string name, std::string value);

// Sends `reply` with its headers; an empty body is sent without a type.
void send_reply(Pistache::Http::ResponseWriter& response, const Reply& reply);

// Text that came from the client (a path, a cursor) may be invalid UTF-8;
// it is replaced, never a reason to throw.
std::string dump(const nlohmann::ordered_json& value);

Reply error_reply(Pistache::Http::Code code, std::string_view error_code, std::string_view message,
                  nlohmann::ordered_json details = nlohmann::ordered_json::array());
// A failed operation: InvalidArgument 400, NotFound 404, FailedPrecondition
// and AlreadyExists 409, DeadlineExceeded 504, Unavailable 503, else 500.
Reply status_error(const Status& status);
// A failed lookup of one job: NotFound is "unknown_job", the rest as above.
Reply job_error(const Status& status);

}  // namespace dtq::api
