// List cursors and query arguments: a request target (path and query) as
// the REST face takes it apart — the route table's match and its decoded
// path parameters, the query's state=, job_type=, limit= and cursor= as
// the list route reads them — and the list itself on the real embedded
// status store (SQLite) with whatever cursor came in. Anything is answered
// or refused; a page never holds more than its limit, and a cursor a page
// hands out reads the next page.
#include <fuzzer/FuzzedDataProvider.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "dtq/core/ids.hpp"
#include "dtq/core/time.hpp"
#include "dtq/core/uri.hpp"
#include "dtq/embedded/embedded_backends.hpp"
#include "route_table.hpp"

namespace {

void require(bool holds) {
  if (!holds) std::abort();
}

// The embedded backends in a folder of their own, removed when the fuzzer
// exits (the backends closed first).
struct ScratchBackends {
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("dtq-fuzz-list-" + std::to_string(getpid()));
  dtq::embedded::EmbeddedBackends backends;

  ScratchBackends() {
    std::filesystem::remove_all(dir);
    auto opened = dtq::embedded::open_embedded({.data_dir = dir});
    require(opened.ok());
    backends = std::move(opened).value();
    for (int i = 0; i < 12; ++i) {
      (void)backends.statuses->update_durable(
          {.job_id = dtq::new_uuid4(),
           .state = i % 3 == 0 ? dtq::JobState::kFailed : dtq::JobState::kQueued,
           .updated_at = dtq::now_rfc3339(),
           .job_type = i % 2 == 0 ? "weather" : "quote"});
    }
  }
  ~ScratchBackends() {
    backends = {};
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
  ScratchBackends(const ScratchBackends&) = delete;
  ScratchBackends& operator=(const ScratchBackends&) = delete;
};

dtq::StatusStore& store() {
  static ScratchBackends scratch;
  return *scratch.backends.statuses;
}

// The query argument `name` of `query` ("a=1&b=2"), raw; none when absent.
std::optional<std::string_view> argument(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) return eq == std::string_view::npos ? "" : pair.substr(eq + 1);
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view target(reinterpret_cast<const char*>(data), size);
  const size_t mark = target.find('?');
  const std::string_view path = target.substr(0, mark);
  const std::string_view query = mark == std::string_view::npos ? "" : target.substr(mark + 1);

  static const auto table = [] {
    dtq::api::RouteTable<int> made;
    int n = 0;
    for (const char* pattern :
         {"/healthz", "/readyz", "/metrics", "/openapi.json", "/v1/events", "/v1/job-types",
          "/v1/jobs", "/v1/jobs/{id}", "/v1/jobs/{id}/status", "/v1/jobs/{id}/events"}) {
      made.add("GET", pattern, n++);
    }
    made.add("POST", "/v1/jobs", n++);
    made.add("POST", "/v1/jobs/{id}/cancel", n++);
    return made;
  }();
  for (const char* method : {"GET", "POST"}) {
    const auto match = table.match(method, path);
    if (match.kind == decltype(match)::Kind::kFound) (void)match.params.get("id");
  }

  dtq::StatusListQuery list;
  if (auto state = argument(query, "state"); state && !state->empty()) {
    list.state = dtq::parse_job_state(dtq::query_decode(*state));
    if (!list.state) return 0;  // 400
  }
  if (auto type = argument(query, "job_type")) list.job_type = dtq::query_decode(*type);
  if (auto cursor = argument(query, "cursor")) list.cursor = dtq::query_decode(*cursor);
  if (auto limit = argument(query, "limit"); limit && !limit->empty()) {
    size_t value = 0;
    const auto [end, error] = std::from_chars(limit->data(), limit->data() + limit->size(), value);
    if (error != std::errc() || end != limit->data() + limit->size() || value == 0 || value > 500)
      return 0;  // 400
    list.limit = value;
  }
  auto page = store().list(list);
  if (!page.ok()) return 0;  // a cursor this store did not make: 400
  require(page->statuses.size() <= list.limit);
  if (!page->next_cursor.empty()) {
    list.cursor = page->next_cursor;
    require(store().list(list).ok());
  }
  return 0;
}
