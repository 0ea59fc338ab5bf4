// Functional tier: the real `dtq serve` binary on an ephemeral port, a temp
// data folder and the fake provider. Each job type over HTTP followed by SSE
// to its end; every client error and its status code; 200 watchers on one
// job; SIGKILL mid-run and restart lose and duplicate nothing.
#include <curl/curl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <set>
#include <thread>

#include "dtq/core/ids.hpp"
#include "support/fake_provider.hpp"

namespace dtq {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

constexpr const char* kToken = "test-token-0123456789";

struct Reply {
  long code = 0;
  std::string body;
};

size_t collect(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

Reply http(const std::string& method, const std::string& url, const std::string& body = "",
           std::vector<std::string> headers = {"Content-Type: application/json",
                                               std::string("Authorization: Bearer ") + kToken}) {
  CURL* curl = curl_easy_init();
  Reply reply;
  curl_slist* list = nullptr;
  for (const auto& header : headers) list = curl_slist_append(list, header.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
  if (method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  if (curl_easy_perform(curl) == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.code);
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  return reply;
}

// The whole event stream of a job, until the server ends it.
Reply events(const std::string& base, const std::string& job_id) {
  return http("GET", base + "/v1/jobs/" + job_id + "/events", "", {});
}

std::string json_field(const std::string& body, const std::string& name) {
  const std::string key = "\"" + name + "\":\"";
  const size_t at = body.find(key);
  if (at == std::string::npos) return {};
  const size_t start = at + key.size();
  return body.substr(start, body.find('"', start) - start);
}

class ServeProcess {
 public:
  ServeProcess(const fs::path& data, const std::string& provider_url) {
    int out[2];
    if (pipe(out) != 0) throw std::runtime_error("pipe");
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], STDOUT_FILENO);
      close(out[0]);
      close(out[1]);
      setenv("DTQ_HTTP_BASE_URL", provider_url.c_str(), 1);
      setenv("DTQ_API_TOKEN", kToken, 1);
      execl(DTQ_CLI, DTQ_CLI, "--plugin-dir", DTQ_PLUGIN_DIR, "--data-dir", data.c_str(), "--log-level", "warn",
            "serve", "--listen", "127.0.0.1:0", "--submit-rate", "100000", nullptr);
      _exit(127);
    }
    close(out[1]);
    std::string line;
    char c = 0;
    while (read(out[0], &c, 1) == 1 && c != '\n') line.push_back(c);
    stdout_fd_ = out[0];
    if (line.rfind("LISTENING ", 0) != 0) throw std::runtime_error("serve did not start: " + line);
    url_ = line.substr(10);
  }
  ~ServeProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(stdout_fd_);
  }
  const std::string& url() const { return url_; }
  void kill_now() {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  int terminate() {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string url_;
};

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::shared_fake_provider().reset();
    data_ = fs::temp_directory_path() / ("dtq-api-" + new_uuid4());
    server_ = std::make_unique<ServeProcess>(data_, testing::shared_fake_provider().base_url());
  }
  void TearDown() override {
    server_.reset();
    fs::remove_all(data_);
  }
  std::string submit(const std::string& type, const std::string& payload) {
    const Reply reply = http("POST", url() + "/v1/jobs", R"({"job_type":")" + type + R"(","payload":)" + payload + "}");
    EXPECT_EQ(reply.code, 202) << reply.body;
    return json_field(reply.body, "job_id");
  }
  const std::string& url() const { return server_->url(); }

  fs::path data_;
  std::unique_ptr<ServeProcess> server_;
};

TEST_F(ApiTest, EachJobTypeRunsToCompletionFollowedOverSse) {
  const std::vector<std::pair<std::string, std::string>> jobs = {
      {"weather", R"({"city":"Austin","country_code":"US","units":"metric"})"},
      {"quote", R"({"max_length":200})"},
      {"exchange_rate", R"({"base":"USD","target":"EUR","amount":1.0})"},
      {"github_user", R"({"username":"octocat"})"}};
  for (const auto& [type, payload] : jobs) {
    const std::string id = submit(type, payload);
    ASSERT_TRUE(is_uuid(id)) << type;
    const Reply stream = events(url(), id);
    EXPECT_EQ(stream.code, 200);
    EXPECT_THAT(stream.body, HasSubstr("event: status\ndata: {")) << type;
    EXPECT_THAT(stream.body, HasSubstr(R"("state":"completed")")) << type << stream.body;
    const Reply job = http("GET", url() + "/v1/jobs/" + id);
    EXPECT_EQ(job.code, 200);
    EXPECT_THAT(job.body, HasSubstr(R"("result":{)")) << job.body;
    EXPECT_THAT(job.body, HasSubstr(R"("final_state":"completed")")) << job.body;
  }
  const Reply status = http("GET", url() + "/v1/jobs/" + submit("weather", jobs[0].second) + "/status");
  EXPECT_EQ(status.code, 200);
  EXPECT_THAT(status.body, HasSubstr(R"("progress_percent":)"));
}

TEST_F(ApiTest, WeatherStreamShowsTheMilestonesInOrder) {
  const Reply stream = events(url(), submit("weather", R"({"city":"Austin","country_code":"US"})"));
  size_t at = 0;
  for (const char* progress : {"\"progress_percent\":20", "\"progress_percent\":50", "\"progress_percent\":80",
                               "\"progress_percent\":100"}) {
    const size_t found = stream.body.find(progress, at);
    ASSERT_NE(found, std::string::npos) << progress << " in " << stream.body;
    at = found;
  }
}

TEST_F(ApiTest, ClientMistakesGetTheirStatusAndTheErrorShape) {
  const std::string jobs = url() + "/v1/jobs";
  const std::string good = R"({"job_type":"weather","payload":{"city":"Austin","country_code":"US"}})";
  EXPECT_EQ(http("POST", jobs, good, {"Content-Type: application/json"}).code, 401);
  EXPECT_EQ(http("POST", jobs, good, {"Content-Type: application/json", "Authorization: Bearer wrong"}).code, 401);
  EXPECT_EQ(http("POST", jobs, good, {"Content-Type: text/plain", std::string("Authorization: Bearer ") + kToken}).code,
            415);
  const Reply malformed = http("POST", jobs, "{nope");
  EXPECT_EQ(malformed.code, 400);
  EXPECT_THAT(malformed.body, HasSubstr(R"("error":{"code":"malformed_json")"));
  const Reply invalid = http("POST", jobs, R"({"job_type":"weather","payload":{"city":""}})");
  EXPECT_EQ(invalid.code, 400);
  EXPECT_THAT(invalid.body, HasSubstr(R"("field":"/city")"));
  EXPECT_EQ(http("POST", jobs, R"({"job_type":"nope","payload":{}})").code, 404);
  EXPECT_EQ(http("POST", jobs, R"({"payload":{}})").code, 400);
  EXPECT_EQ(http("POST", jobs, std::string(2 << 20, ' ')).code, 413);
  EXPECT_EQ(http("GET", url() + "/v1/jobs/not-a-uuid/status").code, 400);
  EXPECT_EQ(http("GET", url() + "/v1/jobs/" + new_uuid4() + "/status").code, 404);
  EXPECT_EQ(http("GET", url() + "/v1/jobs/" + new_uuid4()).code, 404);
  EXPECT_EQ(http("GET", url() + "/v1/jobs/" + new_uuid4() + "/events").code, 404);
  EXPECT_EQ(http("POST", url() + "/v1/jobs/" + new_uuid4() + "/cancel", "").code, 404);
  EXPECT_EQ(http("GET", url() + "/v1/jobs?limit=0").code, 400);
  EXPECT_EQ(http("GET", url() + "/v1/jobs?state=sleeping").code, 400);
  EXPECT_EQ(http("GET", url() + "/v1/jobs?cursor=garbage").code, 400);
  EXPECT_EQ(http("GET", url() + "/nowhere").code, 404);
  EXPECT_EQ(http("GET", url() + "/healthz").code, 200);
  EXPECT_EQ(http("GET", url() + "/readyz").code, 200);
  const Reply metrics = http("GET", url() + "/metrics");
  EXPECT_EQ(metrics.code, 200);
  EXPECT_THAT(metrics.body, HasSubstr("dtq_http_requests_total{code=\"401\",route=\"/v1/jobs\"}"));
}

TEST_F(ApiTest, ListsNewestFirstWithCursorPaging) {
  std::set<std::string> submitted;
  for (int i = 0; i < 5; ++i) submitted.insert(submit("quote", R"({"max_length":200})"));
  // Ordered by last update: once the jobs ended, the order is stable.
  for (const auto& id : submitted) events(url(), id);
  std::set<std::string> seen;
  std::string cursor;
  for (int page = 0; page < 10; ++page) {
    const Reply reply = http("GET", url() + "/v1/jobs?job_type=quote&limit=2&cursor=" + cursor);
    ASSERT_EQ(reply.code, 200) << reply.body;
    for (size_t at = 0; (at = reply.body.find("\"job_id\":\"", at)) != std::string::npos; ++at) {
      seen.insert(reply.body.substr(at + 10, 36));
    }
    cursor = json_field(reply.body, "next_cursor");
    if (cursor.empty()) break;
  }
  EXPECT_EQ(seen, submitted);
  EXPECT_EQ(http("GET", url() + "/v1/job-types").code, 200);
}

TEST_F(ApiTest, TwoHundredWatchersOnOneJobAllSeeItEnd) {
  // Slow provider: every watcher is connected before the job ends.
  testing::shared_fake_provider().add_fault(R"({"path":"/v1/forecast","kind":"latency","delay_ms":1500})");
  const std::string id = submit("weather", R"({"city":"Austin","country_code":"US"})");
  std::atomic<int> completed{0};
  std::vector<std::thread> watchers;
  for (int i = 0; i < 200; ++i) {
    watchers.emplace_back([&] {
      const Reply stream = events(url(), id);
      if (stream.code == 200 && stream.body.find(R"("state":"completed")") != std::string::npos) ++completed;
    });
  }
  for (auto& watcher : watchers) watcher.join();
  EXPECT_EQ(completed.load(), 200);
}

TEST_F(ApiTest, KilledMidRunAndRestartedLosesAndDuplicatesNothing) {
  testing::shared_fake_provider().add_fault(R"({"path":"/v1/forecast","kind":"latency","delay_ms":300,"times":-1})");
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) ids.push_back(submit("weather", R"({"city":"Austin","country_code":"US"})"));
  std::this_thread::sleep_for(200ms);
  server_->kill_now();
  server_ = std::make_unique<ServeProcess>(data_, testing::shared_fake_provider().base_url());
  for (const auto& id : ids) {
    const Reply stream = events(url(), id);
    EXPECT_THAT(stream.body, HasSubstr(R"("state":"completed")")) << id;
    const Reply job = http("GET", url() + "/v1/jobs/" + id);
    EXPECT_THAT(job.body, HasSubstr(R"("final_state":"completed")")) << id;
  }
  // One row per job: listing shows each id exactly once.
  const Reply list = http("GET", url() + "/v1/jobs?limit=500");
  for (const auto& id : ids) {
    size_t count = 0;
    for (size_t at = 0; (at = list.body.find(id, at)) != std::string::npos; ++at) ++count;
    EXPECT_EQ(count, 1U) << id;
  }
  EXPECT_EQ(server_->terminate(), 0);
}

}  // namespace
}  // namespace dtq
