// `dtq top`'s view model without a terminal: the one-minute rates, counts
// through a job's life, listings merged with the stream, filters, the
// sticky selection and scrolling, the alerts, the colours at each depth
// (NO_COLOR included), the columns a narrow terminal keeps, and the submit
// form a plugin's schema makes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "top_layout.hpp"
#include "top_model.hpp"
#include "top_style.hpp"
#include "top_wire.hpp"

namespace dtq::cli::top {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr Clock::time_point kStart{std::chrono::hours(1000)};

JobStatus status(const std::string& id, const std::string& type, JobState state, int progress = 0) {
  JobStatus s;
  s.job_id = id;
  s.job_type = type;
  s.state = state;
  s.progress_percent = progress;
  s.updated_at = "2026-11-01T12:00:00Z";
  return s;
}

std::vector<std::string> ids(const TableWindow& window) {
  std::vector<std::string> out;
  for (const JobRow* row : window.rows) out.push_back(row->status.job_id);
  return out;
}

TEST(RateWindow, CountsOnlyTheLastMinute) {
  RateWindow rate(60s);
  for (int i = 0; i < 60; ++i) rate.add(kStart + std::chrono::seconds(i), 2);
  EXPECT_EQ(rate.total(kStart + 59s), 120U);
  EXPECT_NEAR(rate.per_second(kStart + 59s, kStart), 2.0, 0.05);
  // Thirty seconds on, the first thirty seconds' events have left the window.
  EXPECT_EQ(rate.total(kStart + 89s), 60U);
  EXPECT_NEAR(rate.per_second(kStart + 89s, kStart), 1.0, 0.05);
  EXPECT_EQ(rate.total(kStart + 200s), 0U);
  EXPECT_EQ(rate.per_second(kStart + 200s, kStart), 0.0);
}

TEST(RateWindow, AFreshStartIsNotReadAsSlow) {
  RateWindow rate(60s);
  for (int i = 0; i < 10; ++i) rate.add(kStart + std::chrono::seconds(i), 5);
  // 50 events in the 10 s watched: 5/s, not 50/60.
  EXPECT_NEAR(rate.per_second(kStart + 10s, kStart), 5.0, 0.01);
  // Events that began late are still spread over the time watched.
  EXPECT_NEAR(rate.per_second(kStart + 10s, kStart - 10s), 2.5, 0.01);
  // A burst within the first second reads as its count.
  RateWindow burst(60s);
  burst.add(kStart, 7);
  EXPECT_NEAR(burst.per_second(kStart + 100ms, kStart), 7.0, 0.01);
}

TEST(TopModel, CountsFollowEachJobThroughItsLife) {
  TopModel model;
  model.apply(status("a", "echo", JobState::kQueued), kStart);
  model.apply(status("b", "echo", JobState::kQueued), kStart);
  model.apply(status("c", "weather", JobState::kQueued), kStart);
  model.apply(status("a", "echo", JobState::kRunning, 10), kStart + 1s);
  model.apply(status("b", "echo", JobState::kRunning), kStart + 1s);
  model.apply(status("a", "echo", JobState::kCompleted, 100), kStart + 2s);
  model.apply(status("b", "echo", JobState::kFailed), kStart + 2s);
  const auto summaries = model.summaries(kStart + 2s);
  ASSERT_EQ(summaries.size(), 2U);
  const TypeSummary& echo = summaries[0];
  EXPECT_EQ(echo.job_type, "echo");
  EXPECT_EQ(echo.counts[state_index(JobState::kQueued)], 0U);
  EXPECT_EQ(echo.counts[state_index(JobState::kRunning)], 0U);
  EXPECT_EQ(echo.counts[state_index(JobState::kCompleted)], 1U);
  EXPECT_EQ(echo.counts[state_index(JobState::kFailed)], 1U);
  EXPECT_NEAR(echo.submitted_per_second, 1.0, 0.01);  // 2 in the 2 s since the first
  EXPECT_NEAR(echo.completed_per_second, 0.5, 0.01);
  EXPECT_NEAR(echo.failed_per_second, 0.5, 0.01);
  EXPECT_EQ(summaries[1].counts[state_index(JobState::kQueued)], 1U);
  EXPECT_EQ(model.updates(), 7U);
}

TEST(TopModel, AStaleOrRepeatedStatusChangesNothing) {
  TopModel model;
  EXPECT_TRUE(model.apply(status("a", "echo", JobState::kRunning, 50), kStart));
  EXPECT_FALSE(model.apply(status("a", "echo", JobState::kRunning, 50), kStart));
  // A late "queued" neither moves the job back nor its count.
  model.apply(status("a", "echo", JobState::kQueued, 20), kStart);
  const JobRow* row = model.find("a");
  ASSERT_NE(row, nullptr);
  EXPECT_EQ(row->status.state, JobState::kRunning);
  EXPECT_EQ(row->status.progress_percent, 50);
  const auto summary = model.summaries(kStart)[0];
  EXPECT_EQ(summary.counts[state_index(JobState::kRunning)], 1U);
  EXPECT_EQ(summary.counts[state_index(JobState::kQueued)], 0U);
}

TEST(TopModel, ListingsAreNotCountedAsRatesAndKeepTheirOrder) {
  TopModel model;
  // Newest first, as GET /v1/jobs answers.
  model.apply_listing(
      {status("new", "echo", JobState::kCompleted, 100), status("mid", "echo", JobState::kRunning),
       status("old", "echo", JobState::kCompleted, 100)},
      kStart);
  EXPECT_THAT(ids(model.table_window(10)), ElementsAre("new", "mid", "old"));
  const auto summary = model.summaries(kStart)[0];
  EXPECT_EQ(summary.counts[state_index(JobState::kCompleted)], 2U);
  EXPECT_EQ(summary.completed_per_second, 0.0);
  EXPECT_EQ(model.updates(), 0U);
  // A job the stream brings later goes on top; the listed one it updates
  // keeps its place.
  model.apply(status("newer", "echo", JobState::kQueued), kStart + 1s);
  model.apply(status("mid", "echo", JobState::kCompleted, 100), kStart + 1s);
  EXPECT_THAT(ids(model.table_window(10)), ElementsAre("newer", "new", "mid", "old"));
  EXPECT_EQ(model.find("mid")->history.size(), 2U);
}

TEST(TopModel, FiltersByTypeAndState) {
  TopModel model;
  model.apply(status("a", "echo", JobState::kCompleted), kStart);
  model.apply(status("b", "weather", JobState::kCompleted), kStart);
  model.apply(status("c", "echo", JobState::kFailed), kStart);
  model.apply(status("d", "echo", JobState::kCompleted), kStart);
  model.set_filter({.job_type = "echo", .state = JobState::kCompleted});
  EXPECT_THAT(ids(model.table_window(10)), ElementsAre("d", "a"));
  model.set_filter({.job_type = "", .state = JobState::kFailed});
  EXPECT_THAT(ids(model.table_window(10)), ElementsAre("c"));
  model.set_filter({.job_type = "weather", .state = std::nullopt});
  EXPECT_THAT(ids(model.table_window(10)), ElementsAre("b"));
  model.set_filter({});
  EXPECT_EQ(model.table_window(10).total, 4U);
  // Counts are of every job, whatever the table shows.
  EXPECT_EQ(model.summaries(kStart)[0].counts[state_index(JobState::kCompleted)], 2U);
}

TEST(TopModel, TheSelectionSticksToItsJobAndScrollsIntoView) {
  TopModel model;
  for (int i = 0; i < 10; ++i) {
    model.apply(status("j" + std::to_string(i), "echo", JobState::kQueued), kStart);
  }
  // Unmoved, the selection is the newest row.
  EXPECT_EQ(model.selected()->status.job_id, "j9");
  model.move_selection(2);
  EXPECT_EQ(model.selected()->status.job_id, "j7");
  // New jobs arrive above it: it stays on j7.
  model.apply(status("j10", "echo", JobState::kQueued), kStart);
  EXPECT_EQ(model.selected()->status.job_id, "j7");
  // Scrolling: a window of 3 rows keeps the selection in view.
  model.move_selection(4);  // j3, the 8th row
  const TableWindow window = model.table_window(3);
  EXPECT_EQ(window.total, 11U);
  EXPECT_EQ(window.selected, 7U);
  EXPECT_THAT(ids(window), ElementsAre("j5", "j4", "j3"));
  model.move_selection(-100);
  EXPECT_EQ(model.selected()->status.job_id, "j10");
  EXPECT_THAT(ids(model.table_window(3)), ElementsAre("j10", "j9", "j8"));
  model.select_last();
  EXPECT_EQ(model.selected()->status.job_id, "j0");
}

TEST(TopModel, OldEndedJobsAreEvictedFirst) {
  TopModel model(ModelSettings{.max_jobs = 3});
  model.apply(status("running", "echo", JobState::kRunning), kStart);
  model.apply(status("done1", "echo", JobState::kCompleted), kStart);
  model.apply(status("done2", "echo", JobState::kCompleted), kStart);
  model.apply(status("done3", "echo", JobState::kCompleted), kStart);
  EXPECT_EQ(model.job_count(), 3U);
  EXPECT_NE(model.find("running"), nullptr);  // older, but still alive
  EXPECT_EQ(model.find("done1"), nullptr);
}

TEST(TopModel, AlertsOnConnectionPoolsAndFailures) {
  TopModel model(ModelSettings{.failure_threshold = 0.25, .failure_min_samples = 4});
  EXPECT_THAT(model.alerts(kStart).at(0).text, HasSubstr("cannot reach the server"));
  model.set_connection(true, "", 0, kStart);
  EXPECT_TRUE(model.alerts(kStart).empty());

  model.set_job_types({{.job_type = "echo", .pools = 1}, {.job_type = "weather", .pools = 0}});
  model.apply(status("w", "weather", JobState::kQueued), kStart);
  auto alerts = model.alerts(kStart);
  ASSERT_EQ(alerts.size(), 1U);
  EXPECT_EQ(alerts[0].kind, AlertKind::kNoReadyPool);
  EXPECT_EQ(alerts[0].text, "no ready pool for weather: 1 queued jobs wait");

  // 1 failure in 4 ended jobs is 25%: not over the threshold.
  for (int i = 0; i < 3; ++i) {
    model.apply(status("ok" + std::to_string(i), "echo", JobState::kCompleted), kStart);
  }
  model.apply(status("bad0", "echo", JobState::kFailed), kStart);
  EXPECT_EQ(model.alerts(kStart).size(), 1U);
  model.apply(status("bad1", "echo", JobState::kFailed), kStart);
  alerts = model.alerts(kStart);
  ASSERT_EQ(alerts.size(), 2U);
  EXPECT_EQ(alerts[1].kind, AlertKind::kFailureRate);
  EXPECT_THAT(alerts[1].text, HasSubstr("echo: 40% of jobs failed in the last 60s (2 of 5)"));
  // A minute later the failures have aged out of the window.
  EXPECT_EQ(model.alerts(kStart + 61s).size(), 1U);

  model.set_connection(false, "Couldn't connect to server", 3, kStart);
  alerts = model.alerts(kStart);
  EXPECT_EQ(alerts[0].kind, AlertKind::kConnection);
  EXPECT_EQ(alerts[0].text,
            "lost connection to the server: Couldn't connect to server (reconnecting, attempt 3)");
  // While it is down the pools are unknown, not missing.
  for (const auto& alert : alerts) EXPECT_NE(alert.kind, AlertKind::kNoReadyPool);
}

TEST(TopStyle, NoColorAndTheTerminalChooseTheDepth) {
  EXPECT_EQ(choose_depth("", false, true, 256), ColourDepth::k256);
  EXPECT_EQ(choose_depth("", false, true, 8), ColourDepth::kBasic);
  EXPECT_EQ(choose_depth("1", false, true, 256), ColourDepth::kNone);
  EXPECT_EQ(choose_depth("", true, true, 256), ColourDepth::kNone);
  EXPECT_EQ(choose_depth("", false, false, 0), ColourDepth::kNone);
}

TEST(TopStyle, EachStateReadsApartAtEveryDepth) {
  const JobState states[] = {JobState::kQueued, JobState::kRunning, JobState::kCompleted,
                             JobState::kFailed, JobState::kCancelled};
  for (const ColourDepth depth : {ColourDepth::kNone, ColourDepth::kBasic, ColourDepth::k256}) {
    for (size_t i = 0; i < std::size(states); ++i) {
      for (size_t j = i + 1; j < std::size(states); ++j) {
        EXPECT_NE(style_for(role_for(states[i]), depth), style_for(role_for(states[j]), depth))
            << to_string(states[i]) << " and " << to_string(states[j]) << " at depth "
            << static_cast<int>(depth);
      }
    }
  }
  // Without colour nothing names a colour; with 256 the colours are xterm's.
  for (int role = 0; role < kRoleCount; ++role) {
    const Style none = style_for(static_cast<Role>(role), ColourDepth::kNone);
    EXPECT_EQ(none.foreground, -1);
    EXPECT_EQ(none.background, -1);
    const Style basic = style_for(static_cast<Role>(role), ColourDepth::kBasic);
    EXPECT_LT(basic.foreground, 8);
    EXPECT_LT(basic.background, 8);
  }
  EXPECT_EQ(style_for(Role::kFailed, ColourDepth::k256).foreground, 203);
  EXPECT_EQ(style_for(Role::kFailed, ColourDepth::kNone).attrs, kReverse);
}

TEST(TopLayout, ANarrowTerminalDropsTheLeastImportantColumnsFirst) {
  const std::vector<ColumnSpec> columns = {
      {"JOB", 8, 0, false}, {"TYPE", 10, 1, false}, {"ATT", 3, 3, true}, {"MSG", 10, 2, false}};
  EXPECT_EQ(table_width(columns), 35);
  EXPECT_THAT(fit_columns(columns, 35), ElementsAre(true, true, true, true));
  EXPECT_THAT(fit_columns(columns, 34), ElementsAre(true, true, false, true));
  EXPECT_THAT(fit_columns(columns, 20), ElementsAre(true, true, false, false));
  EXPECT_THAT(fit_columns(columns, 5), ElementsAre(true, false, false, false));
  EXPECT_EQ(progress_bar(50, 10), "[#####.....]  50%");
  EXPECT_EQ(progress_bar(100, 4), "[####] 100%");
  EXPECT_EQ(progress_bar(-3, 4), "[....]   0%");
}

TEST(TopWire, TheSubmitFormFollowsThePluginsSchema) {
  const auto fields = form_fields(R"({"type":"object","properties":{
      "city":{"title":"City","type":"string","description":"where"},
      "units":{"type":"string","enum":["metric","imperial"],"default":"metric"},
      "days":{"type":"integer"},
      "tags":{"type":"array"}},
      "required":["city"]})");
  ASSERT_EQ(fields.size(), 4U);
  EXPECT_EQ(fields[0].name, "city");  // the schema's order, not sorted
  EXPECT_EQ(fields[0].title, "City");
  EXPECT_TRUE(fields[0].required);
  EXPECT_THAT(fields[1].choices, ElementsAre("metric", "imperial"));
  EXPECT_EQ(fields[1].initial, "metric");
  EXPECT_FALSE(fields[2].required);

  EXPECT_EQ(build_payload(fields, {"Austin", "metric", "3", R"(["a"])"}).json,
            R"({"city":"Austin","units":"metric","days":3,"tags":["a"]})");
  // An empty answer leaves the property out; a string is taken as typed.
  EXPECT_EQ(build_payload(fields, {"3", "", "", ""}).json, R"({"city":"3"})");
  const BuiltPayload wrong = build_payload(fields, {"Austin", "", "three", ""});
  EXPECT_TRUE(wrong.json.empty());
  EXPECT_EQ(wrong.error, "days: not integer JSON: three");
  EXPECT_TRUE(form_fields("not json").empty());
  EXPECT_TRUE(form_fields(R"({"type":"object"})").empty());
}

TEST(TopWire, CountsTheDeadLettersNotReplayedPerType) {
  const auto counts =
      count_dead_letters(R"({"dead_letters":[{"job_id":"a","job_type":"echo","replayed_as":null},)"
                         R"({"job_id":"b","job_type":"echo","replayed_as":"c"},)"
                         R"({"job_id":"d","job_type":"quote","replayed_as":null},)"
                         R"({"job_id":"e","job_type":"echo"}]})");
  ASSERT_TRUE(counts.has_value());
  EXPECT_EQ(*counts, (std::map<std::string, int64_t>{{"echo", 2}, {"quote", 1}}));
  EXPECT_FALSE(count_dead_letters(R"({"error":{"code":"forbidden"}})").has_value());
}

TEST(TopWireTest, ANewJobsIdIsReadFromItsAnswerOrIsEmpty) {
  EXPECT_EQ(new_job_id(R"({"job_id":"7d1c","status":{"state":"queued"}})"), "7d1c");
  EXPECT_EQ(new_job_id(R"({"job_id":42})"), "");
  EXPECT_EQ(new_job_id(R"(["job_id"])"), "");
  EXPECT_EQ(new_job_id("not json"), "");
}

TEST(TopWire, DescribesAStoredHistoryOldestFirst) {
  const auto lines = describe_history(
      R"({"job_id":"j","events":[)"
      R"({"at":"2026-12-06T17:21:40.648Z","kind":"submitted","job_type":"echo","attempt":0,)"
      R"("worker":null,"error_code":null,"related_job_id":null,"detail":""},)"
      R"({"at":"2026-12-06T17:21:41.002Z","kind":"retry","job_type":"echo","attempt":1,)"
      R"("worker":"host/42","error_code":"flaky","related_job_id":null,"detail":"try again"}]})");
  ASSERT_EQ(lines.size(), 2U);
  EXPECT_EQ(lines[0], "17:21:40.648  submitted");
  EXPECT_EQ(lines[1], "17:21:41.002  retry  attempt 1  host/42  flaky  try again");
  EXPECT_EQ(describe_history(R"({"job_id":"j","events":[]})"),
            std::vector<std::string>{"(no events stored)"});
  EXPECT_EQ(describe_history("<html>"), std::vector<std::string>{"(unreadable answer)"});
}

TEST(TopWire, ReadsTheApisAnswers) {
  const auto types = parse_job_types(
      R"({"job_types":[{"job_type":"echo","name":"Echo","version":"1.0.0","description":"d",
          "payload_schema":{"type":"object"},"abi_version":"1.0","concurrency":4,"pools":2,
          "in_flight":1}]})");
  ASSERT_TRUE(types.has_value());
  ASSERT_EQ(types->size(), 1U);
  EXPECT_EQ((*types)[0].pools, 2);
  EXPECT_EQ((*types)[0].in_flight, 1);
  EXPECT_EQ((*types)[0].payload_schema, R"({"type":"object"})");
  EXPECT_FALSE(parse_job_types("{}").has_value());

  const auto page = parse_listing(
      R"({"jobs":[{"job_id":"6f1c1e1e-1111-4111-8111-111111111111","state":"running",
          "progress_percent":5,"updated_at":"2026-11-01T12:00:00Z","message":"m",
          "job_type":"echo"}],"next_cursor":"abc"})");
  ASSERT_TRUE(page.has_value());
  ASSERT_EQ(page->jobs.size(), 1U);
  EXPECT_EQ(page->jobs[0].state, JobState::kRunning);
  EXPECT_EQ(page->next_cursor, "abc");

  EXPECT_EQ(error_text(400, R"({"error":{"code":"invalid_payload","message":"bad payload",
                "details":[{"field":"/city","message":"required"}]}})"),
            "HTTP 400: bad payload; /city: required");
  EXPECT_EQ(error_text(502, "gateway"), "HTTP 502: gateway");
}

}  // namespace
}  // namespace dtq::cli::top
