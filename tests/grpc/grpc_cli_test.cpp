// gRPC tier, functional: the real `dtq` client verbs against the real `dtq
// serve --rest=off --grpc-listen 127.0.0.1:0` (the echo test plugin, a temp
// data folder), through --server grpc://HOST:PORT. REST's job routes being
// off, every verb that works here went over the gRPC JobService: submit
// (and --watch), status, jobs, cancel, job-types, pause and resume, the
// dead-letter verbs; refusals keep REST's messages and exit codes, and name
// the gRPC code; a wrong key and no server at all are told apart.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "dtq/core/ids.hpp"
#include "job_client.hpp"
#include "support/eventually.hpp"

namespace dtq {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kToken = "grpc-cli-test-token-0123456789";

// `dtq serve` with gRPC, and REST's job routes off unless `rest`: reads
// LISTENING and GRPC_LISTENING.
class ServeProcess {
 public:
  ServeProcess(const fs::path& data, const fs::path& plugins, bool rest) {
    std::vector<std::string> args = {
        DTQ_CLI,         "--plugin-dir", plugins.string(), "--data-dir", data.string(),
        "--log-level",   "warn",         "serve",          "--listen",   "127.0.0.1:0",
        "--grpc-listen", "127.0.0.1:0",  "--submit-rate",  "0"};
    if (!rest) args.emplace_back("--rest=off");
    int out[2];
    if (pipe(out) != 0) throw std::runtime_error("pipe");
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], STDOUT_FILENO);
      close(out[0]);
      close(out[1]);
      setenv("DTQ_API_TOKEN", kToken, 1);  // NOLINT(concurrency-mt-unsafe): the child, one thread
      std::vector<char*> argv;
      for (auto& arg : args) argv.push_back(arg.data());
      argv.push_back(nullptr);
      execv(DTQ_CLI, argv.data());
      _exit(127);
    }
    close(out[1]);
    stdout_fd_ = out[0];
    const std::string first = read_line();
    if (first.rfind("LISTENING ", 0) != 0)
      throw std::runtime_error("serve did not start: " + first);
    url_ = first.substr(10);
    const std::string second = read_line();
    if (second.rfind("GRPC_LISTENING ", 0) != 0) {
      throw std::runtime_error("serve printed no GRPC_LISTENING line: " + second);
    }
    grpc_ = "grpc://" + second.substr(15);
  }
  ~ServeProcess() {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    close(stdout_fd_);
  }
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  [[nodiscard]] const std::string& url() const { return url_; }
  [[nodiscard]] const std::string& grpc() const { return grpc_; }

 private:
  std::string read_line() const {
    std::string line;
    char c = 0;
    while (read(stdout_fd_, &c, 1) == 1 && c != '\n') line.push_back(c);
    return line;
  }

  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string url_;
  std::string grpc_;
};

struct Ran {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string slurp(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class GrpcCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    folder_ = fs::temp_directory_path() / ("dtq-grpc-cli-" + new_uuid4());
    fs::create_directories(folder_ / "plugins");
    fs::copy_file(fs::path(DTQ_TEST_PLUGIN_DIR) / "echo.so", folder_ / "plugins" / "echo.so");
    serve_ = std::make_unique<ServeProcess>(folder_ / "data", folder_ / "plugins", rest_);
  }
  void TearDown() override {
    serve_.reset();
    fs::remove_all(folder_);
  }

  // The real `dtq ARGS --server SERVER` with DTQ_API_KEY=key (none when
  // empty); what it printed and its exit code.
  Ran dtq(std::vector<std::string> args, const std::string& server = "",
          const std::string& key = kToken) const {
    args.insert(args.begin(), DTQ_CLI);
    args.emplace_back("--server");
    args.push_back(server.empty() ? serve_->grpc() : server);
    const fs::path out = folder_ / ("out-" + new_uuid4());
    const fs::path err = folder_ / ("err-" + new_uuid4());
    const pid_t pid = fork();
    if (pid == 0) {
      const int out_fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      const int err_fd = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      dup2(out_fd, STDOUT_FILENO);
      dup2(err_fd, STDERR_FILENO);
      unsetenv("DTQ_API_TOKEN");  // NOLINT(concurrency-mt-unsafe): the child, one thread
      if (key.empty()) {
        unsetenv("DTQ_API_KEY");  // NOLINT(concurrency-mt-unsafe)
      } else {
        setenv("DTQ_API_KEY", key.c_str(), 1);  // NOLINT(concurrency-mt-unsafe)
      }
      std::vector<char*> argv;
      for (auto& arg : args) argv.push_back(arg.data());
      argv.push_back(nullptr);
      execv(DTQ_CLI, argv.data());
      _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    Ran run{WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), slurp(out),
            slurp(err)};
    while (!run.out.empty() && run.out.back() == '\n') run.out.pop_back();
    return run;
  }

  std::string submit(const std::string& payload) {
    const Ran run = dtq({"submit", "echo", payload});
    EXPECT_EQ(run.exit_code, 0) << run.err;
    EXPECT_TRUE(is_uuid(run.out)) << run.out;
    return run.out;
  }

  // `dtq status ID` as JSON, once its state is `state`.
  nlohmann::json status_once(const std::string& id, const std::string& state) {
    nlohmann::json job;
    EXPECT_TRUE(testing::eventually([&] {
      const Ran run = dtq({"status", id});
      if (run.exit_code != 0) return false;
      job = nlohmann::json::parse(run.out, nullptr, false);
      return job.is_object() && job["status"].value("state", "") == state;
    })) << job.dump();
    return job;
  }

  bool rest_ = false;  // REST's job routes beside gRPC
  fs::path folder_;
  std::unique_ptr<ServeProcess> serve_;
};

// The job client that `dtq top` follows every job with, over both
// transports of one server.
class WatchJobsTest : public GrpcCliTest {
 protected:
  WatchJobsTest() { rest_ = true; }
};

TEST_F(GrpcCliTest, JobVerbsWorkOverGrpcWhenRestIsOff) {
  // REST's job routes are off: the same verb over REST is refused.
  const Ran over_rest = dtq({"job-types"}, serve_->url());
  EXPECT_EQ(over_rest.exit_code, 2) << over_rest.err;
  EXPECT_THAT(over_rest.err, HasSubstr("HTTP 404"));

  const Ran types = dtq({"job-types"});
  ASSERT_EQ(types.exit_code, 0) << types.err;
  EXPECT_THAT(types.out, HasSubstr("JOB TYPE"));
  EXPECT_THAT(types.out, HasSubstr("echo            1.0.0     Test plugin that does what"));

  // submit, then status with the result, as REST's body.
  const std::string id = submit(R"({"message":"over grpc","progress":[40]})");
  const nlohmann::json job = status_once(id, "completed");
  EXPECT_EQ(job["job_id"], id);
  EXPECT_EQ(job["status"]["job_type"], "echo");
  EXPECT_EQ(job["status"]["progress_percent"], 100);
  EXPECT_EQ(job["result"]["final_state"], "completed");
  EXPECT_EQ(job["result"]["input"]["message"], "over grpc");
  EXPECT_TRUE(job["result"]["output"].is_object()) << job.dump();

  // A status read over gRPC keeps the priority and the run_at REST shows.
  const Ran delayed = dtq({"submit", "--priority", "high", "--delay", "1h", "echo", "{}"});
  ASSERT_EQ(delayed.exit_code, 0) << delayed.err;
  const nlohmann::json waiting_job = status_once(delayed.out, "scheduled");
  EXPECT_EQ(waiting_job["status"]["priority"], "high") << waiting_job.dump();
  EXPECT_TRUE(waiting_job["status"]["run_at"].is_string()) << waiting_job.dump();

  // submit --watch: the progress stream (WatchJob), then the output.
  const Ran watched = dtq({"submit", "--watch", "echo", R"({"message":"watched"})"});
  ASSERT_EQ(watched.exit_code, 0) << watched.err;
  EXPECT_THAT(watched.out, HasSubstr("watched"));
  EXPECT_THAT(watched.err, HasSubstr("(echo)"));

  // jobs: the table, filtered.
  const Ran listed = dtq({"jobs", "--state", "completed", "--type", "echo"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_THAT(listed.out, HasSubstr(id));
  EXPECT_THAT(listed.out, HasSubstr("completed"));
  const Ran one = dtq({"jobs", "--limit", "1"});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_THAT(one.out, HasSubstr("more: dtq jobs --cursor "));
  EXPECT_EQ(dtq({"jobs", "--state", "later"}).exit_code, 2);

  // cancel: a running job is cancelled; an ended one is a conflict (2).
  const std::string slow = submit(R"({"sleep_ms":60000})");
  status_once(slow, "running");
  const Ran cancelled = dtq({"cancel", slow});
  ASSERT_EQ(cancelled.exit_code, 0) << cancelled.err;
  EXPECT_EQ(nlohmann::json::parse(cancelled.out)["job_id"], slow);
  status_once(slow, "cancelled");
  // history: the stored events (GetJobHistory) in REST's JSON.
  const Ran history = dtq({"history", slow});
  ASSERT_EQ(history.exit_code, 0) << history.err;
  const auto events = nlohmann::json::parse(history.out)["events"];
  ASSERT_TRUE(events.is_array()) << history.out;
  std::vector<std::string> kinds;
  for (const auto& event : events) kinds.push_back(event["kind"].get<std::string>());
  EXPECT_THAT(kinds, ::testing::Contains("started")) << history.out;
  EXPECT_THAT(kinds, ::testing::Contains("cancel_requested")) << history.out;
  EXPECT_TRUE(events[0]["error_code"].is_null()) << history.out;
  const Ran again = dtq({"cancel", id});
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_THAT(again.err, HasSubstr("(gRPC FAILED_PRECONDITION)"));

  // Refusals: REST's messages and exit codes, the field errors listed.
  const Ran invalid = dtq({"submit", "echo", R"({"sleep_ms":"soon"})"});
  EXPECT_EQ(invalid.exit_code, 2);
  EXPECT_THAT(invalid.err, HasSubstr("(gRPC INVALID_ARGUMENT)"));
  EXPECT_THAT(invalid.err, HasSubstr("/sleep_ms: must be a non-negative integer"));
  const Ran unknown_type = dtq({"submit", "nosuch", "{}"});
  EXPECT_EQ(unknown_type.exit_code, 2);
  EXPECT_THAT(unknown_type.err, HasSubstr("(gRPC NOT_FOUND)"));
  const Ran unknown_job = dtq({"status", new_uuid4()});
  EXPECT_EQ(unknown_job.exit_code, 2);
  EXPECT_THAT(unknown_job.err, HasSubstr("(gRPC NOT_FOUND)"));
  EXPECT_EQ(dtq({"status", "not-an-id"}).exit_code, 2);

  // pause and resume (an admin key: the operator's).
  ASSERT_EQ(dtq({"pause", "echo"}).exit_code, 0);
  EXPECT_THAT(dtq({"job-types"}).out, HasSubstr("[paused]"));
  const std::string waiting = submit(R"({"message":"after the pause"})");
  EXPECT_EQ(status_once(waiting, "queued")["status"]["state"], "queued");
  ASSERT_EQ(dtq({"resume", "echo"}).exit_code, 0);
  EXPECT_THAT(dtq({"job-types"}).out, Not(HasSubstr("[paused]")));
  status_once(waiting, "completed");
}

TEST_F(GrpcCliTest, DeadLetterVerbsWorkOverGrpc) {
  const std::string failing = R"({"fail":{"code":"nope","retryable":false}})";
  const std::string first = submit(failing);
  const std::string second = submit(failing);
  status_once(first, "failed");
  status_once(second, "failed");
  Ran listed;
  // Dead-lettered just after the failed status is written.
  ASSERT_TRUE(testing::eventually([&] {
    listed = dtq({"dead-letters", "--type", "echo"});
    return listed.exit_code == 0 && listed.out.find(first) != std::string::npos &&
           listed.out.find(second) != std::string::npos;
  })) << listed.out
      << listed.err;
  EXPECT_THAT(listed.out, HasSubstr("FAILED AT"));
  EXPECT_THAT(listed.out, HasSubstr("nope"));

  const Ran replayed = dtq({"replay", first});
  ASSERT_EQ(replayed.exit_code, 0) << replayed.err;
  ASSERT_TRUE(is_uuid(replayed.out)) << replayed.out;
  EXPECT_THAT(dtq({"dead-letters"}).out, HasSubstr("(replayed as " + replayed.out + ")"));
  const Ran twice = dtq({"replay", first});
  EXPECT_EQ(twice.exit_code, 2);
  EXPECT_THAT(twice.err, HasSubstr("(gRPC FAILED_PRECONDITION)"));

  const Ran retried = dtq({"retry", second});
  ASSERT_EQ(retried.exit_code, 0) << retried.err;
  EXPECT_TRUE(is_uuid(retried.out)) << retried.out;

  const Ran deleted = dtq({"delete-dead-letter", second});
  ASSERT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_EQ(deleted.out, "deleted " + second);
  EXPECT_THAT(dtq({"dead-letters", "--type", "echo"}).out, Not(HasSubstr(second)));
  EXPECT_EQ(dtq({"delete-dead-letter", second}).exit_code, 2);

  // --type: every one not replayed yet: the replay and the retry, which
  // failed for good too.
  ASSERT_TRUE(testing::eventually([&] {
    listed = dtq({"dead-letters", "--type", "echo"});
    return listed.out.find(replayed.out) != std::string::npos &&
           listed.out.find(retried.out) != std::string::npos;
  })) << listed.out
      << listed.err;
  const Ran all = dtq({"replay", "--type", "echo"});
  EXPECT_EQ(all.exit_code, 0) << all.err;
  EXPECT_EQ(all.out, "replayed 2");
}

TEST_F(GrpcCliTest, AWrongKeyAndNoServerAreToldApart) {
  const Ran wrong = dtq({"submit", "echo", "{}"}, "", "not-a-key-of-this-server");
  EXPECT_EQ(wrong.exit_code, 2);
  EXPECT_THAT(wrong.err, HasSubstr("(gRPC UNAUTHENTICATED)"));
  EXPECT_THAT(wrong.err, HasSubstr("authorization: Bearer KEY"));
  const Ran none = dtq({"dead-letters"}, "", "");
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_THAT(none.err, HasSubstr("(gRPC UNAUTHENTICATED)"));

  // A read key cannot pause (PERMISSION_DENIED, REST's 403).
  const std::string create = std::string(DTQ_CLI) + " --data-dir " + (folder_ / "data").string() +
                             " keys create --name reader --scope read 2>/dev/null";
  FILE* made = popen(create.c_str(), "r");
  std::string reader;
  char chunk[256];
  for (size_t n; (n = fread(chunk, 1, sizeof chunk, made)) > 0;) reader.append(chunk, n);
  ASSERT_EQ(pclose(made), 0);
  while (!reader.empty() && reader.back() == '\n') reader.pop_back();
  EXPECT_EQ(dtq({"job-types"}, "", reader).exit_code, 0);
  const Ran forbidden = dtq({"pause", "echo"}, "", reader);
  EXPECT_EQ(forbidden.exit_code, 2);
  EXPECT_THAT(forbidden.err, HasSubstr("(gRPC PERMISSION_DENIED)"));

  // Nobody there: not reached (1), as over REST.
  const Ran nobody = dtq({"job-types"}, "grpc://127.0.0.1:1");
  EXPECT_EQ(nobody.exit_code, 1);
  EXPECT_THAT(nobody.err, HasSubstr("cannot reach the server"));
  EXPECT_THAT(nobody.err, HasSubstr("grpc://127.0.0.1:1"));
}

TEST_F(GrpcCliTest, SubmitBatchWorksOverGrpc) {
  const fs::path file = folder_ / "jobs.jsonl";
  std::ofstream(file) << R"({"job_type":"echo","payload":{"message":"a"}})"
                      << "\n"
                      << R"({"job_type":"nope","payload":{}})"
                      << "\n"
                      << R"({"job_type":"echo","payload":{"message":"b"},"priority":"high",)"
                      << R"("delay_seconds":3600})"
                      << "\n";
  const Ran run = dtq({"submit", "--batch", file.string()});
  EXPECT_EQ(run.exit_code, 1) << run.err;
  std::vector<nlohmann::json> lines;
  std::istringstream printed(run.out);
  for (std::string line; std::getline(printed, line);) lines.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(lines.size(), 3U) << run.out;
  // As REST answers them.
  EXPECT_EQ(lines[0]["line"], 1);
  const std::string id = lines[0].value("job_id", "");
  EXPECT_EQ(lines[0]["status_url"], "/v1/jobs/" + id + "/status");
  EXPECT_EQ(lines[1]["error"]["code"], "unknown_job_type");
  EXPECT_EQ(lines[1]["http_status"], 404);
  EXPECT_EQ(lines[2]["state"], "scheduled");
  EXPECT_EQ(status_once(id, "completed")["result"]["input"]["message"], "a");
  status_once(lines[2].value("job_id", ""), "scheduled");
}

// watch_jobs() says when the server follows every job, before any change
// comes (WatchJobs' headers over gRPC, the first bytes of GET /v1/events
// over REST): a job submitted from that moment is seen from its first
// status. `dtq top` reads its listings then; read as the connection
// opened, a job submitted before the server subscribed was in neither.
TEST_F(WatchJobsTest, TheWatchOfEveryJobSaysWhenTheServerFollowsThem) {
  for (const std::string& server : {serve_->grpc(), serve_->url()}) {
    SCOPED_TRACE(server);
    const auto watcher = cli::make_job_client(server, kToken);
    std::atomic<bool> stop{false};
    std::promise<void> watching;
    std::mutex mutex;
    std::set<std::string> seen;  // job ids with a status in the stream
    cli::ApiReply ended;
    std::thread stream([&] {
      ended = watcher->watch_jobs(
          [&](std::string_view data) {
            const auto status = nlohmann::json::parse(data, nullptr, false);
            const std::lock_guard lock(mutex);
            if (status.is_object()) seen.insert(status.value("job_id", ""));
            return true;
          },
          &stop, [&] { watching.set_value(); });
    });
    const bool followed = watching.get_future().wait_for(10s) == std::future_status::ready;
    std::string id;
    bool seen_it = false;
    if (followed) {
      const cli::ApiReply submitted =
          cli::make_job_client(server, kToken)->submit("echo", "{}", {});
      id = nlohmann::json::parse(submitted.body, nullptr, false).value("job_id", "");
      seen_it = testing::eventually([&] {
        const std::lock_guard lock(mutex);
        return seen.contains(id);
      });
    }
    stop = true;
    stream.join();
    EXPECT_TRUE(followed) << "no word that the server follows the jobs";
    EXPECT_TRUE(is_uuid(id)) << id;
    EXPECT_TRUE(seen_it) << "job " << id << " never came in the stream";
    EXPECT_EQ(ended.code, 200) << ended.body << ended.transport;
  }
}

}  // namespace
}  // namespace dtq
