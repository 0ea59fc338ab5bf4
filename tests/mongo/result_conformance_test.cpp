// The MongoDB ResultStore against the ResultStore conformance suite, on the
// shared FerretDB; each test has a collection of its own, dropped after it,
// and "another process" is another client. What only MongoDB does (the
// document and its types, indexes, settings, restarts) is in
// result_store_test.
#include "conformance/result_store_conformance.hpp"
#include "dtq/mongo/mongo_result_store.hpp"
#include "mongo_test_util.hpp"
#include "support/expect_ok.hpp"

namespace dtq::mongo::testing {
namespace {

using dtq::testing::opened_or_null;

struct MongoResultHarness {
  ~MongoResultHarness() { RawMongo(settings).drop(); }

  std::shared_ptr<ResultStore> open() {
    return opened_or_null(MongoResultStore::connect(settings));
  }
  std::shared_ptr<ResultStore> open_client() { return open(); }
  std::shared_ptr<ResultStore> open_peer() { return open(); }
  // One document per job id: the unique index at work.
  std::optional<int64_t> copies(const std::string& job_id) {
    return RawMongo(settings).count(job_id);
  }
  static constexpr bool kDurable = true;
  // The contract's document has no attempts field.
  static constexpr bool kKeepsAttempts = false;
  MongoSettings settings = test_settings();
};

}  // namespace
}  // namespace dtq::mongo::testing

namespace dtq::testing {
INSTANTIATE_TYPED_TEST_SUITE_P(MongoResultStore, ResultStoreConformance,
                               mongo::testing::MongoResultHarness);
}  // namespace dtq::testing
