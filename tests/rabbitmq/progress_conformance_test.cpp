// RabbitProgressQuery (the API's side) answered by a ProgressResponder (a
// worker's side) over the shared RabbitMQ, against the ProgressQuery
// conformance suite; the responder reads an in-memory status store. Each
// test has a request queue of its own, deleted after it. What only the
// request-reply does (the wire format, timeouts, competing responders,
// heartbeats, restarts) is in progress_test.
#include "conformance/progress_query_conformance.hpp"
#include "dtq/rabbitmq/progress_responder.hpp"
#include "dtq/rabbitmq/rabbit_progress_query.hpp"
#include "fakes/memory_status_store.hpp"
#include "rabbitmq_test_util.hpp"
#include "support/expect_ok.hpp"

namespace dtq::rabbitmq::testing {
namespace {

using dtq::testing::opened_or_null;

struct RabbitProgressHarness {
  ~RabbitProgressHarness() {
    query.reset();
    responder.reset();
    RawAmqp(kSharedRabbit->port()).delete_queue(settings.request_queue);
  }

  std::shared_ptr<ProgressQuery> open() {
    responder = opened_or_null(ProgressResponder::start(settings, store));
    query = opened_or_null(RabbitProgressQuery::connect(settings));
    if (!responder || !query) return nullptr;
    EXPECT_TRUE(responder->healthy());
    EXPECT_TRUE(query->healthy());
    return query;
  }
  void record(const JobStatus& status) { EXPECT_TRUE(store.update(status).ok()); }
  void fail_source(Status failure) { store.fail_reads_with(std::move(failure)); }
  static constexpr bool kCanFailSource = true;
  // Nothing waits for a reply any more, and the responder counted each one.
  void expect_settled(size_t answered) {
    EXPECT_EQ(query->in_flight(), 0U);
    EXPECT_TRUE(eventually([&] { return responder->answered() == answered; }, 5s))
        << responder->answered() << " answered";
  }

  RabbitSettings settings = test_settings();
  fakes::MemoryStatusStore store;
  std::shared_ptr<ProgressResponder> responder;
  std::shared_ptr<RabbitProgressQuery> query;
};

}  // namespace
}  // namespace dtq::rabbitmq::testing

namespace dtq::testing {
INSTANTIATE_TYPED_TEST_SUITE_P(RabbitProgressQuery, ProgressQueryConformance,
                               rabbitmq::testing::RabbitProgressHarness);
}  // namespace dtq::testing
