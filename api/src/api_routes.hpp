// The REST face's routes: the route table's entry type, and the job
// routes (/v1/...) that map HTTP onto the JobService. Each route says what
// its caller must present; ApiServer checks that before the handler runs.
//
// Thread-safety: handlers run on Pistache's reactor threads, many at once;
// JobRoutes holds nothing mutable of its own. Ownership: JobRoutes borrows
// everything it is given, which must outlive the table it fills.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string_view>
#include <utility>

#include "access_guard.hpp"
#include "dtq/core/job_service.hpp"
#include "dtq/core/ports/job_history.hpp"
#include "dtq/core/ports/job_type_registry.hpp"
#include "dtq/core/ports/status_store.hpp"
#include "http_reply.hpp"
#include "metrics.hpp"
#include "route_table.hpp"
#include "sse_hub.hpp"
#include "write_guard.hpp"

namespace dtq::api {

struct ApiRoute {
  Need need = Need::kNothing;  // what the caller must present
  // A reply to send, or nothing when the handler answered on its own (an
  // event stream, a file).
  std::function<std::optional<Reply>(Exchange&)> handle;
  bool probe = false;  // a health probe: answered whatever the Host
  // The handler waits on backends (stores, queue, validator): it runs on a
  // handler thread, never on a reactor.
  bool waits_on_backends = false;
};

using ApiRouteTable = RouteTable<ApiRoute>;

// The batch submit's path: the one route whose body limit is larger
// (ApiServer tells the connections so, before a body is read).
inline constexpr std::string_view kBatchSubmitPath = "/v1/jobs:batch";

class JobRoutes {
 public:
  JobRoutes(JobService& jobs, JobTypeRegistry& job_types, SseHub& sse, Metrics& metrics,
            size_t body_limit, double submit_rate_per_second, JobHistory* history,
            size_t batch_body_limit)
      : jobs_(jobs),
        job_types_(job_types),
        sse_(sse),
        metrics_(metrics),
        body_limit_(body_limit),
        limiter_(submit_rate_per_second),
        history_(history),
        batch_body_limit_(batch_body_limit) {}

  // Adds every /v1 route to `table`.
  void add_to(ApiRouteTable& table);

 private:
  // A write's body over `limit` (0: the body limit) (413) or, when JSON is
  // wanted, not JSON (415).
  [[nodiscard]] std::optional<Reply> check_body(const Pistache::Http::Request& request,
                                                bool needs_json_body, size_t limit = 0) const;
  Reply submit(const Pistache::Http::Request& request);
  // The submit's reply, and in `outcome` what the metrics count it as.
  Reply submit_reply(const Pistache::Http::Request& request, std::string_view& outcome);
  // POST /v1/jobs:batch: up to kMaxBatchJobs submissions, each answered on
  // its own, in order.
  Reply submit_batch(const Pistache::Http::Request& request);
  // `call`'s result, its time counted as `operation`'s wait on the backends.
  template <class Call>
  auto timed(std::string_view operation, Call&& call) const {
    const auto start = std::chrono::steady_clock::now();
    auto result = std::forward<Call>(call)();
    metrics_.observe_backend(operation, std::chrono::steady_clock::now() - start);
    return result;
  }
  Reply job(std::string_view id);
  Reply job_status(std::string_view id);
  // The job's stored history, oldest first (dtq/core/ports/job_history.hpp).
  Reply job_history(std::string_view id);
  Reply cancel(const Pistache::Http::Request& request, std::string_view id);
  Reply list(const Pistache::Http::Request& request);
  [[nodiscard]] Reply job_type_list() const;
  std::optional<Reply> events(Exchange& exchange);
  std::optional<Reply> all_events(Exchange& exchange);

  // Dead letters and retries (admin, but for the listing).
  Reply dead_letter_list(const Pistache::Http::Request& request);
  Reply replay(const Pistache::Http::Request& request, std::string_view id);
  Reply replay_all(const Pistache::Http::Request& request);
  Reply delete_dead_letter(const Pistache::Http::Request& request, std::string_view id);
  Reply retry(const Pistache::Http::Request& request, std::string_view id);
  // Pausing and resuming a job type's pools (admin).
  Reply set_paused(const Pistache::Http::Request& request, std::string_view job_type, bool paused);

  JobService& jobs_;
  JobTypeRegistry& job_types_;
  SseHub& sse_;
  Metrics& metrics_;
  const size_t body_limit_;
  RateLimiter limiter_;
  JobHistory* const history_;  // null: the history route answers 503
  const size_t batch_body_limit_;
};

}  // namespace dtq::api
