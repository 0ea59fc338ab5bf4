// Job verbs that talk to a dtq API server: submit (with --watch, or a file
// of jobs with --batch), status,
// jobs, cancel, job-types, and pause/resume of a job type (an admin key: the
// pause lives in the server — the engine of `dtq serve`, or Redis behind
// `dtq api` — so it goes through the API, also on one machine). The server is --server (default:
// the local `dtq serve`): an http(s):// URL speaks REST, grpc://HOST:PORT the gRPC JobService
// (a server run with --rest=off; job_client.hpp), with the same output and exit codes. The API
// key comes from $DTQ_API_KEY, else $DTQ_API_TOKEN (an operator key). Keys are made with
// `dtq keys create`.
#include <simdjson.h>

#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>
#include <vector>

#include "commands.hpp"
#include "dtq/core/job_service.hpp"
#include "dtq/core/retention.hpp"
#include "job_client.hpp"
#include "progress_bar.hpp"

namespace dtq::cli {
namespace {

constexpr const char* kDefaultServer = "http://127.0.0.1:8080";

struct ClientOptions {
  std::string server = kDefaultServer;
};

std::string resolve_key() {
  for (const char* variable : {"DTQ_API_KEY", "DTQ_API_TOKEN"}) {
    // NOLINTNEXTLINE(concurrency-mt-unsafe): read before any thread starts
    if (const char* key = std::getenv(variable); key != nullptr && *key != '\0') return key;
  }
  return {};
}

std::string field(simdjson::dom::element element, const char* name) {
  std::string_view value;
  if (element[name].get(value)) return {};
  return std::string(value);
}

int64_t number(simdjson::dom::element element, const char* name) {
  int64_t value = 0;
  if (element[name].get(value)) return 0;
  return value;
}

// Prints why a request failed — the server's {"error":{...}} when it sent
// one — and returns the exit code: 2 for the caller's mistake, 1 otherwise.
int report(const ApiReply& reply) {
  if (reply.code == 0) {
    std::cerr << "dtq: cannot reach the server: " << reply.transport << "\n";
    return 1;
  }
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  std::string_view message;
  if (!parser.parse(simdjson::padded_string(reply.body)).get(root) &&
      !root["error"]["message"].get(message)) {
    std::cerr << "dtq: " << message << " ("
              << (reply.protocol.empty() ? "HTTP " + std::to_string(reply.code) : reply.protocol)
              << ")\n";
    simdjson::dom::array details;
    if (!root["error"]["details"].get(details)) {
      for (auto detail : details) {
        const std::string name = field(detail, "field");
        std::cerr << "  " << (name.empty() ? "(payload)" : name) << ": " << field(detail, "message")
                  << "\n";
      }
    }
  } else {
    std::cerr << "dtq: HTTP " << reply.code << ": " << reply.body << "\n";
  }
  return reply.code >= 400 && reply.code < 500 ? 2 : 1;
}

bool ok(const ApiReply& reply) {
  return reply.code >= 200 && reply.code < 300;
}

// Follows the job's event stream to its end with a progress bar, then
// prints the output (completed) or the error; returns the exit code.
int watch(JobClient& client, const std::string& job_id) {
  ProgressBar bar(stderr);
  std::string state;
  std::string error;
  simdjson::dom::parser parser;
  const ApiReply stream = client.watch_job(job_id, [&](std::string_view data) {
    simdjson::dom::element status;
    if (parser.parse(simdjson::padded_string(data)).get(status)) return true;
    state = field(status, "state");
    bar.update(static_cast<int>(number(status, "progress_percent")),
               state + ": " + field(status, "message"));
    error = field(status, "error_code") + ": " + field(status, "error_message");
    return !(state == "completed" || state == "failed" || state == "cancelled");
  });
  bar.close();
  if (stream.code != 200 || !stream.transport.empty()) return report(stream);
  if (state != "completed") {
    std::cerr << (state.empty() ? "the stream ended early" : state + ": " + error) << "\n";
    return 1;
  }
  const ApiReply job = client.job(job_id);
  if (!ok(job)) return report(job);
  simdjson::dom::element root;
  simdjson::dom::element output;
  if (parser.parse(simdjson::padded_string(job.body)).get(root) ||
      root["result"]["output"].get(output)) {
    std::cout << job.body << "\n";
  } else {
    std::cout << simdjson::minify(output) << "\n";
  }
  return 0;
}

// What every job verb shares: the --server flag, a client with the key,
// where the exit code goes.
struct ClientVerbs {
  std::shared_ptr<ClientOptions> options = std::make_shared<ClientOptions>();
  int& exit_code;

  void add_server(CLI::App* command) const {
    command
        ->add_option("--server", options->server,
                     "API server: an http(s):// URL (REST), or grpc://HOST:PORT (gRPC)")
        ->capture_default_str();
  }
  [[nodiscard]] std::unique_ptr<JobClient> client() const {
    return make_job_client(options->server, resolve_key());
  }
};

// `dtq submit --batch FILE`: one job per line of FILE ("-": standard input),
// each {job_type, payload, ...} as POST /v1/jobs:batch takes it, sent
// kMaxBatchJobs at a time. Prints one JSON line per job, in the file's
// order: {"line": N} and the server's result for it (job_id..., or error).
// 0 when every job was accepted, 1 when one was refused; a batch the
// server refused whole stops the run with report()'s code.
int submit_batch_file(JobClient& client, const std::string& path) {
  using nlohmann::ordered_json;
  std::ifstream file;
  std::istream* in = &std::cin;
  if (path != "-") {
    file.open(path);
    if (!file) {
      std::cerr << "dtq: cannot read " << path << "\n";
      return 2;
    }
    in = &file;
  }
  // The lines read since the last batch, in order: their number, and the
  // job's text or the refusal of a line that is no job.
  struct Pending {
    size_t line;
    std::string job;
    std::optional<ordered_json> refusal;
  };
  std::vector<Pending> pending;
  size_t jobs = 0;  // of `pending`, those to send
  bool refused = false;
  const auto print = [&](size_t line, const ordered_json& result) {
    ordered_json out = {{"line", line}};
    out.update(result);
    std::cout << out.dump(-1, ' ', false, ordered_json::error_handler_t::replace) << "\n";
    if (!result.contains("job_id")) refused = true;
  };
  const auto send = [&]() -> int {
    ordered_json answer = {{"results", ordered_json::array()}};
    if (jobs > 0) {
      std::string body = R"({"jobs":[)";
      for (const Pending& read : pending) {
        if (!read.refusal) body += (body.back() == '[' ? "" : ",") + read.job;
      }
      const ApiReply reply = client.submit_batch(body + "]}");
      if (!ok(reply)) return report(reply);
      answer = ordered_json::parse(reply.body, nullptr, false);
      if (answer.is_discarded() || !answer.contains("results") ||
          answer["results"].size() != jobs) {
        std::cerr << "dtq: an answer without one result per job: " << reply.body << "\n";
        return 1;
      }
    }
    size_t next = 0;
    for (const Pending& read : pending) {
      print(read.line, read.refusal ? *read.refusal : answer["results"][next++]);
    }
    pending.clear();
    jobs = 0;
    return 0;
  };
  std::string text;
  for (size_t line = 1; std::getline(*in, text); ++line) {
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    // Checked here: a line that is not JSON would make the server refuse
    // its whole batch.
    const ordered_json job = ordered_json::parse(text, nullptr, false);
    if (job.is_discarded() || !job.is_object()) {
      pending.push_back({.line = line,
                         .job = {},
                         .refusal = ordered_json{{"error",
                                                  {{"code", "invalid_request"},
                                                   {"message", "not a JSON object"},
                                                   {"details", ordered_json::array()}}}}});
      continue;
    }
    pending.push_back({.line = line, .job = std::move(text), .refusal = std::nullopt});
    if (++jobs == kMaxBatchJobs) {
      if (const int failed = send(); failed != 0) return failed;
    }
  }
  if (const int failed = send(); failed != 0) return failed;
  return refused ? 1 : 0;
}

void add_submit_command(CLI::App& app, const ClientVerbs& verbs) {
  auto submit_type = std::make_shared<std::string>();
  auto submit_payload = std::make_shared<std::string>();
  auto submit_watch = std::make_shared<bool>(false);
  auto submit_priority = std::make_shared<std::string>("normal");
  auto submit_delay = std::make_shared<std::string>();
  auto submit_run_at = std::make_shared<std::string>();
  auto submit_batch = std::make_shared<std::string>();
  auto* submit = app.add_subcommand(
      "submit", "Submit a job; prints its id (or, with --watch, its result); or --batch FILE");
  auto* type = submit->add_option("type", *submit_type, "Job type");
  auto* payload = submit->add_option("payload", *submit_payload, "Payload as a JSON object");
  auto* watch_flag =
      submit->add_flag("--watch", *submit_watch, "Show live progress until the job ends");
  auto* priority_option =
      submit
          ->add_option(
              "--priority", *submit_priority,
              "high, normal or low: the job's class in its type's queue (docs/operators.md)")
          ->check(CLI::IsMember({"high", "normal", "low"}))
          ->capture_default_str();
  auto* delay = submit->add_option(
      "--delay", *submit_delay,
      "Run the job this long from now (90s, 15m, 12h, 7d; at most 365 days): scheduled until then");
  auto* run_at =
      submit
          ->add_option(
              "--run-at", *submit_run_at,
              "Run the job at this RFC 3339 time (2026-12-24T18:00:00Z): scheduled until then")
          ->excludes(delay);
  submit
      ->add_option("--batch", *submit_batch,
                   "Submit the jobs of FILE (- for standard input), one JSON object "
                   "{job_type, payload, ...} per line, 1,000 per request; prints one JSON line "
                   "per job")
      ->excludes(type)
      ->excludes(payload)
      ->excludes(watch_flag)
      ->excludes(priority_option)
      ->excludes(delay)
      ->excludes(run_at);
  verbs.add_server(submit);
  submit->callback([=, &exit_code = verbs.exit_code] {
    auto api = verbs.client();
    if (!submit_batch->empty()) return void(exit_code = submit_batch_file(*api, *submit_batch));
    if (submit_type->empty() || submit_payload->empty()) {
      std::cerr << "dtq submit: give TYPE and PAYLOAD, or --batch FILE\n";
      return void(exit_code = 2);
    }
    // Checked by the option already.
    const JobPriority priority =
        parse_job_priority(*submit_priority).value_or(JobPriority::kNormal);
    simdjson::dom::parser parser;
    simdjson::dom::element parsed;
    if (parser.parse(simdjson::padded_string(*submit_payload)).get(parsed)) {
      std::cerr << "dtq: the payload is not valid JSON\n";
      return void(exit_code = 2);
    }
    SubmitWhen when{.run_at = *submit_run_at, .delay_seconds = std::nullopt};
    if (!submit_delay->empty()) {
      auto delay_for = parse_retention(*submit_delay);
      if (!delay_for.ok()) {
        std::cerr << "dtq: --delay: " << delay_for.status().message() << "\n";
        return void(exit_code = 2);
      }
      when.delay_seconds = delay_for->count();
    }
    const ApiReply reply = api->submit(*submit_type, *submit_payload, when, priority);
    if (!ok(reply)) return void(exit_code = report(reply));
    simdjson::dom::element root;
    if (parser.parse(simdjson::padded_string(reply.body)).get(root))
      return void(exit_code = report(reply));
    const std::string job_id = field(root, "job_id");
    if (field(root, "state") == "scheduled") {
      std::cerr << "job " << job_id << " scheduled for " << field(root, "run_at") << "\n";
    }
    if (!*submit_watch) {
      std::cout << job_id << "\n";
      return void(exit_code = 0);
    }
    std::cerr << "job " << job_id << " (" << *submit_type << ")\n";
    exit_code = watch(*api, job_id);
  });
}

void add_status_command(CLI::App& app, const ClientVerbs& verbs) {
  auto status_id = std::make_shared<std::string>();
  auto* status =
      app.add_subcommand("status", "Print a job's status (and its result once it has one)");
  status->add_option("job_id", *status_id, "Job id")->required();
  verbs.add_server(status);
  status->callback([=, &exit_code = verbs.exit_code] {
    const ApiReply reply = verbs.client()->job(*status_id);
    if (!ok(reply)) return void(exit_code = report(reply));
    std::cout << reply.body << "\n";
    exit_code = 0;
  });
}

void add_history_command(CLI::App& app, const ClientVerbs& verbs) {
  auto history_id = std::make_shared<std::string>();
  auto* history = app.add_subcommand(
      "history",
      "Print a job's stored history: every state change, attempt and retry, oldest first");
  history->add_option("job_id", *history_id, "Job id")->required();
  verbs.add_server(history);
  history->callback([=, &exit_code = verbs.exit_code] {
    const ApiReply reply = verbs.client()->history(*history_id);
    if (!ok(reply)) return void(exit_code = report(reply));
    std::cout << reply.body << "\n";
    exit_code = 0;
  });
}

void add_cancel_command(CLI::App& app, const ClientVerbs& verbs) {
  auto cancel_id = std::make_shared<std::string>();
  auto* cancel = app.add_subcommand("cancel", "Cancel a queued or running job");
  cancel->add_option("job_id", *cancel_id, "Job id")->required();
  verbs.add_server(cancel);
  cancel->callback([=, &exit_code = verbs.exit_code] {
    const ApiReply reply = verbs.client()->cancel(*cancel_id);
    if (!ok(reply)) return void(exit_code = report(reply));
    std::cout << reply.body << "\n";
    exit_code = 0;
  });
}

void add_jobs_command(CLI::App& app, const ClientVerbs& verbs) {
  struct ListOptions {
    std::string state;
    std::string job_type;
    size_t limit = 20;
    std::string cursor;
  };
  auto list_options = std::make_shared<ListOptions>();
  auto* jobs = app.add_subcommand("jobs", "List jobs, newest first");
  jobs->add_option("--state", list_options->state, "Only jobs in this state");
  jobs->add_option("--type", list_options->job_type, "Only this job type");
  jobs->add_option("--limit", list_options->limit, "At most this many")->capture_default_str();
  jobs->add_option("--cursor", list_options->cursor, "Continue after a previous page");
  verbs.add_server(jobs);
  jobs->callback([=, &exit_code = verbs.exit_code] {
    const ApiReply reply = verbs.client()->list_jobs({.state = list_options->state,
                                                      .job_type = list_options->job_type,
                                                      .limit = list_options->limit,
                                                      .cursor = list_options->cursor});
    if (!ok(reply)) return void(exit_code = report(reply));
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    simdjson::dom::array list;
    if (parser.parse(simdjson::padded_string(reply.body)).get(root) || root["jobs"].get(list)) {
      return void(exit_code = report(reply));
    }
    std::cout << std::left << std::setw(38) << "JOB ID" << std::setw(16) << "TYPE" << std::setw(11)
              << "STATE" << std::setw(6) << "%" << std::setw(26) << "UPDATED"
              << "MESSAGE\n";
    for (auto job : list) {
      std::cout << std::left << std::setw(38) << field(job, "job_id") << std::setw(16)
                << field(job, "job_type") << std::setw(11) << field(job, "state") << std::setw(6)
                << number(job, "progress_percent") << std::setw(26) << field(job, "updated_at")
                << field(job, "message") << "\n";
    }
    if (const std::string next = field(root, "next_cursor"); !next.empty()) {
      std::cout << "more: dtq jobs --cursor " << next << "\n";
    }
    exit_code = 0;
  });
}

void add_job_types_command(CLI::App& app, const ClientVerbs& verbs) {
  auto* types = app.add_subcommand("job-types", "List the job types the server accepts");
  verbs.add_server(types);
  types->callback([=, &exit_code = verbs.exit_code] {
    const ApiReply reply = verbs.client()->job_types();
    if (!ok(reply)) return void(exit_code = report(reply));
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    simdjson::dom::array list;
    if (parser.parse(simdjson::padded_string(reply.body)).get(root) ||
        root["job_types"].get(list)) {
      return void(exit_code = report(reply));
    }
    std::cout << std::left << std::setw(16) << "JOB TYPE" << std::setw(10) << "VERSION"
              << "DESCRIPTION\n";
    for (auto type : list) {
      bool paused = false;
      if (type["paused"].get(paused) != simdjson::SUCCESS) paused = false;
      std::cout << std::left << std::setw(16) << field(type, "job_type") << std::setw(10)
                << field(type, "version") << field(type, "description")
                << (paused ? " [paused]" : "") << "\n";
    }
    exit_code = 0;
  });
}

// pause TYPE / resume TYPE: POST /v1/job-types/{type}:pause (or :resume), or
// gRPC's PauseJobType (ResumeJobType).
void add_pause_commands(CLI::App& app, const ClientVerbs& verbs) {
  for (const bool pausing : {true, false}) {
    auto job_type = std::make_shared<std::string>();
    auto* command = app.add_subcommand(
        pausing ? "pause" : "resume",
        pausing ? "Pause a job type: its pools take no new jobs until resumed (admin key)"
                : "Resume a paused job type (admin key)");
    command->add_option("job_type", *job_type, "Job type")->required();
    verbs.add_server(command);
    command->callback([=, &exit_code = verbs.exit_code] {
      const ApiReply reply = verbs.client()->set_paused(*job_type, pausing);
      if (!ok(reply)) return void(exit_code = report(reply));
      std::cout << *job_type << (pausing ? " paused" : " resumed") << "\n";
      exit_code = 0;
    });
  }
}

}  // namespace

int report_reply(const ApiReply& reply) {
  return report(reply);
}

std::string resolve_api_key() {
  return resolve_key();
}

void add_client_commands(CLI::App& app, CommonOptions& /*common*/, int& exit_code) {
  const ClientVerbs verbs{.exit_code = exit_code};
  add_submit_command(app, verbs);
  add_status_command(app, verbs);
  add_history_command(app, verbs);
  add_cancel_command(app, verbs);
  add_jobs_command(app, verbs);
  add_job_types_command(app, verbs);
  add_pause_commands(app, verbs);
}

}  // namespace dtq::cli
