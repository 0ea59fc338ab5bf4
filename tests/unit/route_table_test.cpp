// The REST face's route table on its own: matching, 404, 405 with the
// methods allowed, and path parameters. No server.
#include "route_table.hpp"

#include <gtest/gtest.h>

#include <string>

namespace dtq::api {
namespace {

using Table = RouteTable<std::string>;
using Kind = Table::Match::Kind;

Table jobs_table() {
  Table table;
  table.add("GET", "/v1/jobs", "list");
  table.add("POST", "/v1/jobs", "submit");
  table.add("GET", "/v1/jobs/{id}", "job");
  table.add("GET", "/v1/jobs/{id}/status", "status");
  table.add("POST", "/v1/jobs/{id}/cancel", "cancel");
  table.add("GET", "/healthz", "health");
  return table;
}

TEST(RouteTable, FindsTheRouteForAMethodAndAPath) {
  const Table table = jobs_table();
  const auto list = table.match("GET", "/v1/jobs");
  ASSERT_EQ(list.kind, Kind::kFound);
  EXPECT_EQ(list.route->handler, "list");
  EXPECT_EQ(list.pattern, "/v1/jobs");
  const auto submit = table.match("POST", "/v1/jobs");
  ASSERT_EQ(submit.kind, Kind::kFound);
  EXPECT_EQ(submit.route->handler, "submit");
}

TEST(RouteTable, AnUnknownPathIsNotFound) {
  const Table table = jobs_table();
  EXPECT_EQ(table.match("GET", "/v1/nope").kind, Kind::kNotFound);
  EXPECT_EQ(table.match("GET", "/v1/jobs/1/status/more").kind, Kind::kNotFound);
  EXPECT_EQ(table.match("GET", "/").kind, Kind::kNotFound);
  EXPECT_EQ(table.match("POST", "/nope").kind, Kind::kNotFound);
  EXPECT_EQ(Table().match("GET", "/healthz").kind, Kind::kNotFound);
}

TEST(RouteTable, AKnownPathWithAnotherMethodIsNotAllowedAndSaysWhatIs) {
  const Table table = jobs_table();
  const auto jobs = table.match("DELETE", "/v1/jobs");
  ASSERT_EQ(jobs.kind, Kind::kMethodNotAllowed);
  EXPECT_EQ(jobs.allow, "GET, POST");
  EXPECT_EQ(jobs.pattern, "/v1/jobs");
  EXPECT_EQ(jobs.route, nullptr);
  const auto cancel = table.match("GET", "/v1/jobs/abc/cancel");
  ASSERT_EQ(cancel.kind, Kind::kMethodNotAllowed);
  EXPECT_EQ(cancel.allow, "POST");
  EXPECT_EQ(cancel.pattern, "/v1/jobs/{id}/cancel");
}

TEST(RouteTable, PathParametersAreHandedOverDecoded) {
  const Table table = jobs_table();
  const auto status = table.match("GET", "/v1/jobs/123e4567-e89b-42d3-a456-426614174000/status");
  ASSERT_EQ(status.kind, Kind::kFound);
  EXPECT_EQ(status.route->handler, "status");
  EXPECT_EQ(status.params.get("id"), "123e4567-e89b-42d3-a456-426614174000");
  EXPECT_EQ(status.params.get("other"), "");
  // Path rules: %XX decoded, '+' kept.
  EXPECT_EQ(table.match("GET", "/v1/jobs/a%20b+c").params.get("id"), "a b+c");
}

TEST(RouteTable, EmptySegmentsAreIgnored) {
  const Table table = jobs_table();
  EXPECT_EQ(table.match("GET", "//v1//jobs/").route->handler, "list");
  EXPECT_EQ(table.match("GET", "/healthz/").route->handler, "health");
}

TEST(RouteTable, TheFirstRouteAddedWins) {
  Table table;
  table.add("GET", "/v1/jobs/{id}", "by id");
  table.add("GET", "/v1/jobs/special", "special");
  EXPECT_EQ(table.match("GET", "/v1/jobs/special").route->handler, "by id");
}

TEST(RouteTable, ACustomMethodSegmentHandsOverWhatPrecedesItsVerb) {
  Table table;
  table.add("POST", "/v1/dead-letters/{id}:replay", "replay");
  table.add("DELETE", "/v1/dead-letters/{id}", "delete");
  table.add("POST", "/v1/dead-letters:replay", "replay all");
  const auto replay = table.match("POST", "/v1/dead-letters/a%2Fb:replay");
  ASSERT_EQ(replay.kind, Kind::kFound);
  EXPECT_EQ(replay.route->handler, "replay");
  EXPECT_EQ(replay.params.get("id"), "a/b");
  EXPECT_EQ(table.match("POST", "/v1/dead-letters:replay").route->handler, "replay all");
  // The verb alone, or another verb, is not the custom method.
  EXPECT_EQ(table.match("POST", "/v1/dead-letters/:replay").kind, Kind::kMethodNotAllowed);
  EXPECT_EQ(table.match("POST", "/v1/dead-letters/x:delete").kind, Kind::kMethodNotAllowed);
  const auto wrong_method = table.match("GET", "/v1/dead-letters/x:replay");
  ASSERT_EQ(wrong_method.kind, Kind::kMethodNotAllowed);
  EXPECT_EQ(wrong_method.allow, "POST, DELETE");
}

}  // namespace
}  // namespace dtq::api
