// Functional tier: the real `dtq serve` binary on an ephemeral port, a temp
// data folder and the fake provider. Each job type over HTTP followed by SSE
// to its end; the stream of every job, its filters, its limit and a client
// too slow for it; every client error, its status code and the one error
// shape; the limits (body, head, submit rate, open streams); CORS; garbage
// on the socket; the token file and the logs; 200 watchers on one job;
// SIGKILL mid-run and restart lose and duplicate nothing.
#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "dtq/core/ids.hpp"
#include "dtq/core/time.hpp"
#include "support/eventually.hpp"
#include "support/fake_provider.hpp"

namespace dtq {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kToken = "test-token-0123456789";

struct Reply {
  long code = 0;
  std::string body;
  std::string headers;  // the response's header lines, as received
};

size_t collect(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

std::vector<std::string> default_headers(const std::string& token = kToken) {
  return {"Content-Type: application/json", "Authorization: Bearer " + token};
}

// The key alone, for a request that must carry nothing else.
std::vector<std::string> key_only(const std::string& token = kToken) {
  return {"Authorization: Bearer " + token};
}

// The head lines a raw request needs past the request line: a Host this
// server answers to, and the key.
const std::string kRawHeaders =
    std::string("Host: 127.0.0.1\r\nAuthorization: Bearer ") + kToken + "\r\n";

// With DTQ_OPENAPI_RECORD set, each response is appended there as a JSON
// line, which tests/openapi/validate.py checks against the OpenAPI document
// (the ctest openapi_functional; docs/openapi.md).
void record_for_openapi(const std::string& method, const std::string& url, const Reply& reply,
                        const char* content_type) {
  const char* file = std::getenv("DTQ_OPENAPI_RECORD");
  if (file == nullptr || *file == '\0' || reply.code == 0) return;
  const size_t scheme = url.find("://");
  const size_t path = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  const nlohmann::json line = {{"method", method},
                               {"path", path == std::string::npos ? "/" : url.substr(path)},
                               {"status", reply.code},
                               {"content_type", content_type ? content_type : ""},
                               {"body", reply.body}};
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  std::ofstream(file, std::ios::app)
      << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

Reply http(const std::string& method, const std::string& url, const std::string& body = "",
           std::vector<std::string> headers = default_headers()) {
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
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &reply.headers);
  if (method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  if (curl_easy_perform(curl) == CURLE_OK)
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.code);
  char* content_type = nullptr;
  curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &content_type);
  record_for_openapi(method, url, reply, content_type);
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  return reply;
}

// The whole event stream of a job, until the server ends it.
Reply events(const std::string& base, const std::string& job_id) {
  return http("GET", base + "/v1/jobs/" + job_id + "/events", "", key_only());
}

// A header's value in a reply ("" when absent); names compare without case.
std::string header(const Reply& reply, const std::string& name) {
  std::istringstream lines(reply.headers);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.size() > name.size() && line[name.size()] == ':' &&
        strncasecmp(line.c_str(), name.c_str(), name.size()) == 0) {
      std::string value = line.substr(name.size() + 1);
      while (!value.empty() && (value.front() == ' ')) value.erase(0, 1);
      while (!value.empty() && (value.back() == '\r' || value.back() == ' ')) value.pop_back();
      return value;
    }
  }
  return {};
}

// The body is {"error":{"code","message","details":[...]}} with `code`.
::testing::AssertionResult IsError(const Reply& reply, long status, const std::string& code) {
  if (reply.code != status) {
    return ::testing::AssertionFailure()
           << "status " << reply.code << ", not " << status << ": " << reply.body;
  }
  const auto body = nlohmann::json::parse(reply.body, nullptr, false);
  if (body.is_discarded() || !body.is_object() || body.size() != 1 || !body.contains("error")) {
    return ::testing::AssertionFailure() << "not the error shape: " << reply.body;
  }
  const auto& error = body["error"];
  if (!error.is_object() || error.size() != 3 || !error["code"].is_string() ||
      !error["message"].is_string() || error["message"].get<std::string>().empty() ||
      !error["details"].is_array()) {
    return ::testing::AssertionFailure() << "not the error shape: " << reply.body;
  }
  for (const auto& detail : error["details"]) {
    if (!detail.is_object() || !detail["field"].is_string() || !detail["message"].is_string()) {
      return ::testing::AssertionFailure() << "a detail is not {field, message}: " << reply.body;
    }
  }
  if (error["code"] != code) {
    return ::testing::AssertionFailure()
           << "error code " << error["code"] << ", not " << code << ": " << reply.body;
  }
  return ::testing::AssertionSuccess();
}

std::string detail_fields(const Reply& reply) {
  const auto body = nlohmann::json::parse(reply.body, nullptr, false);
  if (body.is_discarded()) return "(not JSON)";
  std::string fields;
  for (const auto& detail : body["error"]["details"])
    fields += detail["field"].get<std::string>() + ";";
  return fields;
}

int port_of(const std::string& url) {
  return std::stoi(url.substr(url.rfind(':') + 1));
}

int connect_to(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    throw std::runtime_error("cannot connect to port " + std::to_string(port));
  }
  return fd;
}

void send_all(int fd, const std::string& bytes) {
  for (size_t sent = 0; sent < bytes.size();) {
    const ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;  // the server hung up: what it answered is still readable
    sent += static_cast<size_t>(n);
  }
}

// Reads until `done(received)` holds, the peer closes (then `*ended` is
// set, when given), or `timeout` passes.
std::string receive(
    int fd, std::chrono::milliseconds timeout,
    const std::function<bool(const std::string&)>& done = [](const std::string&) { return false; },
    bool* ended = nullptr) {
  std::string received;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char chunk[65536];
  while (!done(received)) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd waiting{fd, POLLIN, 0};
    if (poll(&waiting, 1, static_cast<int>(left.count())) <= 0) break;
    const ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    if (n == 0 && ended != nullptr) *ended = true;
    if (n <= 0) break;
    received.append(chunk, static_cast<size_t>(n));
  }
  return received;
}

std::string json_field(const std::string& body, const std::string& name) {
  const std::string key = "\"" + name + "\":\"";
  const size_t at = body.find(key);
  if (at == std::string::npos) return {};
  const size_t start = at + key.size();
  return body.substr(start, body.find('"', start) - start);
}

struct ServeOptions {
  std::vector<std::string> flags;  // extra `serve` flags
  fs::path plugin_dir = DTQ_PLUGIN_DIR;
  std::string submit_rate = "100000";
  bool token_from_env = true;  // DTQ_API_TOKEN=kToken; else the data folder's token file
  std::string log_level = "warn";
  fs::path stderr_file;  // where serve's stderr goes; empty: this process's
};

class ServeProcess {
 public:
  ServeProcess(const fs::path& data, const std::string& provider_url,
               const ServeOptions& options = {}) {
    std::vector<std::string> args = {
        DTQ_CLI,           "--plugin-dir",  options.plugin_dir.string(),
        "--data-dir",      data.string(),   "--log-level",
        options.log_level, "serve",         "--listen",
        "127.0.0.1:0",     "--submit-rate", options.submit_rate};
    args.insert(args.end(), options.flags.begin(), options.flags.end());
    int out[2];
    if (pipe(out) != 0) throw std::runtime_error("pipe");
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], STDOUT_FILENO);
      close(out[0]);
      close(out[1]);
      if (!options.stderr_file.empty()) {
        const int err = open(options.stderr_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(err, STDERR_FILENO);
      }
      setenv("DTQ_HTTP_BASE_URL", provider_url.c_str(), 1);
      if (options.token_from_env) {
        setenv("DTQ_API_TOKEN", kToken, 1);
      } else {
        unsetenv("DTQ_API_TOKEN");
      }
      std::vector<char*> argv;
      for (auto& arg : args) argv.push_back(arg.data());
      argv.push_back(nullptr);
      execv(DTQ_CLI, argv.data());
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
  int port() const { return port_of(url_); }
  bool running() const { return pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == 0; }
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
  // Replaces the server with one started with `options`, on the same data.
  void restart(const ServeOptions& options) {
    server_.reset();
    server_ =
        std::make_unique<ServeProcess>(data_, testing::shared_fake_provider().base_url(), options);
  }
  void TearDown() override {
    server_.reset();
    fs::remove_all(data_);
  }
  std::string submit(const std::string& type, const std::string& payload) {
    const Reply reply = http("POST", url() + "/v1/jobs",
                             R"({"job_type":")" + type + R"(","payload":)" + payload + "}");
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
  const Reply status =
      http("GET", url() + "/v1/jobs/" + submit("weather", jobs[0].second) + "/status");
  EXPECT_EQ(status.code, 200);
  EXPECT_THAT(status.body, HasSubstr(R"("progress_percent":)"));
}

// The shipped plugins and the poison fixture, whose jobs segfault, abort,
// exit and hang: each ends dead-lettered, and serve keeps serving the rest.
TEST_F(ApiTest, APoisonPluginNeverTakesServeDown) {
  const fs::path plugins = data_ / "plugins";
  fs::create_directories(plugins);
  for (const auto& entry : fs::directory_iterator(DTQ_PLUGIN_DIR)) {
    if (entry.path().extension() == ".so")
      fs::create_symlink(entry.path(), plugins / entry.path().filename());
  }
  fs::create_symlink(fs::path(DTQ_TEST_PLUGIN_DIR) / "poison.so", plugins / "poison.so");
  ServeOptions options;
  options.plugin_dir = plugins;
  options.flags = {"--max-attempts", "2"};
  restart(options);

  std::vector<std::string> poison;
  for (const char* action : {"segv", "abort", "exit", "hang"}) {
    poison.push_back(submit("poison", std::string(R"({"do":")") + action + R"("})"));
  }
  const std::string weather = submit("weather", R"({"city":"Austin","country_code":"US"})");
  EXPECT_THAT(events(url(), weather).body, HasSubstr(R"("state":"completed")"));
  for (const auto& id : poison) {
    const Reply stream = events(url(), id);
    EXPECT_THAT(stream.body, HasSubstr(R"("state":"failed")")) << stream.body;
    EXPECT_THAT(stream.body, ::testing::AnyOf(HasSubstr(R"("error_code":"plugin_crashed")"),
                                              HasSubstr(R"("error_code":"timeout")")))
        << stream.body;
  }
  EXPECT_TRUE(server_->running()) << "a plugin took dtq serve down";
  EXPECT_THAT(events(url(), submit("quote", R"({"max_length":200})")).body,
              HasSubstr(R"("state":"completed")"));

  // The crash loop shows: on the job type, in /readyz (still 200: the other
  // types serve) and in the metrics; until a poison job completes.
  const std::string types = http("GET", url() + "/v1/job-types").body;
  EXPECT_THAT(types, HasSubstr(R"("isolation":"process")"));
  EXPECT_THAT(types, HasSubstr(R"("crash_looping":true)"));
  const Reply degraded = http("GET", url() + "/readyz");
  EXPECT_EQ(degraded.code, 200);
  EXPECT_THAT(degraded.body, HasSubstr(R"("status":"degraded")"));
  EXPECT_THAT(degraded.body, HasSubstr(R"("job_type":"poison")"));
  const std::string metrics = http("GET", url() + "/metrics").body;
  EXPECT_THAT(metrics, HasSubstr(R"(dtq_plugin_runner_crashes_total{job_type="poison"} 6)"));
  EXPECT_THAT(metrics, HasSubstr(R"(dtq_plugin_crash_looping{job_type="poison"} 1)"));
  EXPECT_THAT(events(url(), submit("poison", R"({"do":"ok"})")).body,
              HasSubstr(R"("state":"completed")"));
  EXPECT_THAT(http("GET", url() + "/readyz").body, HasSubstr(R"("status":"ready")"));
}

// Hot drop-in: a library moved into the plugin folder of a running serve is
// checked, registered and served within seconds; a refused one changes
// nothing; a removed one stops being offered.
TEST_F(ApiTest, APluginDroppedIntoTheFolderIsServedWithinSeconds) {
  const fs::path plugins = data_ / "plugins";
  fs::create_directories(plugins);
  fs::create_symlink(fs::path(DTQ_PLUGIN_DIR) / "weather.so", plugins / "weather.so");
  ServeOptions options;
  options.plugin_dir = plugins;
  options.log_level = "info";
  options.stderr_file = data_ / "serve.log";
  restart(options);
  const auto offered = [&](const std::string& type) {
    return http("GET", url() + "/v1/job-types").body.find(R"("job_type":")" + type + '"') !=
           std::string::npos;
  };
  const auto within = [](std::chrono::seconds limit, const auto& done) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > until) return false;
      std::this_thread::sleep_for(100ms);
    }
    return true;
  };
  ASSERT_FALSE(offered("echo"));

  // Installed the documented way: copied beside, then renamed into place.
  fs::copy_file(fs::path(DTQ_TEST_PLUGIN_DIR) / "echo.so", plugins / ".echo.so.part");
  fs::rename(plugins / ".echo.so.part", plugins / "echo.so");
  ASSERT_TRUE(within(10s, [&] { return offered("echo"); }))
      << "echo.so was not picked up within 10 s";
  EXPECT_THAT(events(url(), submit("echo", R"({"message":"hot"})")).body,
              HasSubstr(R"("state":"completed")"));

  // A new version, moved over the old file: the old pool finishes its job,
  // the new plugin serves.
  const std::string slow = submit("echo", R"({"sleep_ms":1500})");
  fs::copy_file(fs::path(DTQ_TEST_PLUGIN_DIR) / "echo_v2.so", plugins / ".echo.so.part");
  fs::rename(plugins / ".echo.so.part", plugins / "echo.so");
  EXPECT_TRUE(within(10s, [&] {
    return http("GET", url() + "/v1/job-types").body.find(R"("version":"2.0.0")") !=
           std::string::npos;
  })) << "echo 2.0.0 did not replace 1.0.0 within 10 s";
  EXPECT_THAT(events(url(), slow).body, HasSubstr(R"("state":"completed")"));
  EXPECT_THAT(events(url(), submit("echo", R"({"message":"v2"})")).body,
              HasSubstr(R"("state":"completed")"));

  fs::copy_file(fs::path(DTQ_TEST_PLUGIN_DIR) / "bad_abi_major.so", plugins / "bad_abi_major.so");
  EXPECT_TRUE(within(10s, [&] {
    std::ifstream log(data_ / "serve.log");
    const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
    return text.find("refused") != std::string::npos &&
           text.find("ABI major version mismatch") != std::string::npos;
  }));
  EXPECT_TRUE(offered("echo"));
  EXPECT_TRUE(offered("weather"));

  fs::remove(plugins / "echo.so");
  EXPECT_TRUE(within(10s, [&] { return !offered("echo"); }))
      << "echo was still offered 10 s after removal";
  EXPECT_NE(http("POST", url() + "/v1/jobs", R"({"job_type":"echo","payload":{}})").code, 202);
  EXPECT_THAT(events(url(), submit("weather", R"({"city":"Austin","country_code":"US"})")).body,
              HasSubstr(R"("state":"completed")"));
  EXPECT_TRUE(server_->running());
}

TEST_F(ApiTest, WeatherStreamShowsTheMilestonesInOrder) {
  // A slow city lookup: the watcher is connected before the job reports 20.
  testing::shared_fake_provider().add_fault(
      R"({"path":"/v1/search","kind":"latency","delay_ms":500})");
  const Reply stream = events(url(), submit("weather", R"({"city":"Austin","country_code":"US"})"));
  size_t at = 0;
  for (const char* progress : {"\"progress_percent\":20", "\"progress_percent\":50",
                               "\"progress_percent\":80", "\"progress_percent\":100"}) {
    const size_t found = stream.body.find(progress, at);
    ASSERT_NE(found, std::string::npos) << progress << " in " << stream.body;
    at = found;
  }
}

TEST_F(ApiTest, ClientMistakesGetTheirStatusAndTheErrorShape) {
  const std::string jobs = url() + "/v1/jobs";
  const std::string good =
      R"({"job_type":"weather","payload":{"city":"Austin","country_code":"US"}})";
  const std::string json_type = "Content-Type: application/json";
  const std::string bearer = std::string("Authorization: Bearer ") + kToken;

  // 401: no token, a wrong one, another scheme; the challenge names Bearer.
  const Reply anonymous = http("POST", jobs, good, {json_type});
  EXPECT_TRUE(IsError(anonymous, 401, "unauthorized"));
  EXPECT_EQ(header(anonymous, "WWW-Authenticate"), "Bearer");
  EXPECT_TRUE(IsError(http("POST", jobs, good, {json_type, "Authorization: Bearer wrong"}), 401,
                      "unauthorized"));
  EXPECT_TRUE(IsError(http("POST", jobs, good, {json_type, "Authorization: Basic dXNlcjpwdw=="}),
                      401, "unauthorized"));
  EXPECT_TRUE(IsError(
      http("POST", jobs, good, {json_type, std::string("Authorization: Bearer ") + kToken + "x"}),
      401, "unauthorized"));
  EXPECT_TRUE(IsError(http("POST", url() + "/v1/jobs/" + new_uuid4() + "/cancel", "", {}), 401,
                      "unauthorized"));

  // 415: a body that is not JSON by its type, or no type at all.
  EXPECT_TRUE(IsError(http("POST", jobs, good, {"Content-Type: text/plain", bearer}), 415,
                      "unsupported_media_type"));
  EXPECT_TRUE(
      IsError(http("POST", jobs, good, {"Content-Type:", bearer}), 415, "unsupported_media_type"));

  // 400: malformed JSON, a body of the wrong form, an invalid payload with
  // the plugin's field-level details.
  EXPECT_TRUE(IsError(http("POST", jobs, "{nope"), 400, "malformed_json"));
  EXPECT_TRUE(IsError(http("POST", jobs, ""), 400, "malformed_json"));
  EXPECT_TRUE(
      IsError(http("POST", jobs, "{\"job_type\":\"weather\",\"payload\":{\"city\":\"\xff\"}}"), 400,
              "malformed_json"));
  const Reply not_object = http("POST", jobs, "[1,2]");
  EXPECT_TRUE(IsError(not_object, 400, "invalid_request"));
  EXPECT_EQ(detail_fields(not_object), ";");
  const Reply no_type = http("POST", jobs, R"({"payload":{}})");
  EXPECT_TRUE(IsError(no_type, 400, "invalid_request"));
  EXPECT_EQ(detail_fields(no_type), "/job_type;");
  const Reply bad_payload = http("POST", jobs, R"({"job_type":"weather","payload":"Austin"})");
  EXPECT_TRUE(IsError(bad_payload, 400, "invalid_request"));
  EXPECT_EQ(detail_fields(bad_payload), "/payload;");
  const Reply invalid = http("POST", jobs, R"({"job_type":"weather","payload":{"city":""}})");
  EXPECT_TRUE(IsError(invalid, 400, "invalid_payload"));
  EXPECT_THAT(detail_fields(invalid), HasSubstr("/city;"));
  EXPECT_THAT(invalid.body, HasSubstr(R"({"field":"/city","message":")"));

  // 404: an unknown job type; an unknown job on every route that takes one.
  EXPECT_TRUE(
      IsError(http("POST", jobs, R"({"job_type":"nope","payload":{}})"), 404, "unknown_job_type"));
  const std::string unknown = url() + "/v1/jobs/" + new_uuid4();
  EXPECT_TRUE(IsError(http("GET", unknown), 404, "unknown_job"));
  EXPECT_TRUE(IsError(http("GET", unknown + "/status"), 404, "unknown_job"));
  EXPECT_TRUE(IsError(http("GET", unknown + "/events"), 404, "unknown_job"));
  EXPECT_TRUE(IsError(http("POST", unknown + "/cancel", ""), 404, "unknown_job"));

  // 400: a malformed id, on every route that takes one.
  for (const std::string id :
       {"not-a-uuid", "00000000-0000-0000-0000-00000000000g", "%00", "a%2Fb"}) {
    const std::string job = url() + "/v1/jobs/" + id;
    EXPECT_TRUE(IsError(http("GET", job), 400, "malformed_id")) << id;
    EXPECT_TRUE(IsError(http("GET", job + "/status"), 400, "malformed_id")) << id;
    EXPECT_TRUE(IsError(http("GET", job + "/events"), 400, "malformed_id")) << id;
    EXPECT_TRUE(IsError(http("POST", job + "/cancel", ""), 400, "malformed_id")) << id;
  }

  // 400: bad listing arguments, named in the details.
  const Reply zero = http("GET", url() + "/v1/jobs?limit=0");
  EXPECT_TRUE(IsError(zero, 400, "invalid_argument"));
  EXPECT_EQ(detail_fields(zero), "limit;");
  EXPECT_TRUE(IsError(http("GET", url() + "/v1/jobs?limit=501"), 400, "invalid_argument"));
  EXPECT_TRUE(IsError(http("GET", url() + "/v1/jobs?limit=ten"), 400, "invalid_argument"));
  const Reply sleeping = http("GET", url() + "/v1/jobs?state=sleeping");
  EXPECT_TRUE(IsError(sleeping, 400, "invalid_argument"));
  EXPECT_EQ(detail_fields(sleeping), "state;");
  EXPECT_TRUE(IsError(http("GET", url() + "/v1/jobs?cursor=garbage"), 400, "invalid_argument"));
  EXPECT_TRUE(IsError(http("GET", url() + "/v1/jobs?cursor=%FF%FE"), 400, "invalid_argument"));

  // 404 for no route, 405 with Allow for a route without that method.
  EXPECT_TRUE(IsError(http("GET", url() + "/nowhere"), 404, "not_found"));
  EXPECT_TRUE(IsError(http("GET", url() + "/v1/nothing"), 404, "not_found"));
  EXPECT_TRUE(IsError(http("GET", url() + "/%FF%FE"), 404, "not_found"));
  const Reply delete_jobs = http("DELETE", jobs);
  EXPECT_TRUE(IsError(delete_jobs, 405, "method_not_allowed"));
  EXPECT_EQ(header(delete_jobs, "Allow"), "GET, POST");
  const Reply get_cancel = http("GET", unknown + "/cancel");
  EXPECT_TRUE(IsError(get_cancel, 405, "method_not_allowed"));
  EXPECT_EQ(header(get_cancel, "Allow"), "POST");
  EXPECT_TRUE(IsError(http("POST", url() + "/healthz", "{}"), 405, "method_not_allowed"));

  EXPECT_EQ(http("GET", url() + "/healthz").code, 200);
  EXPECT_EQ(http("GET", url() + "/readyz").code, 200);
  const Reply metrics = http("GET", url() + "/metrics");
  EXPECT_EQ(metrics.code, 200);
  EXPECT_THAT(metrics.body, HasSubstr("dtq_http_requests_total{code=\"401\",route=\"/v1/jobs\"}"));
  EXPECT_THAT(metrics.body, Not(HasSubstr("code=\"500\"")));
}

TEST_F(ApiTest, BodiesOverTheLimitGet413AndItIsConfigurable) {
  // The default limit, 1 MiB: refused from its Content-Length, before the
  // body is read.
  const std::string jobs = url() + "/v1/jobs";
  EXPECT_TRUE(IsError(http("POST", jobs, std::string(2 << 20, ' ')), 413, "payload_too_large"));
  const std::string padded =
      R"({"job_type":"quote","payload":{"max_length":200}})" + std::string(900 << 10, ' ');
  EXPECT_EQ(http("POST", jobs, padded).code, 202);

  restart({.flags = {"--body-limit", "2048"}});
  const std::string small = url() + "/v1/jobs";
  const std::string fits =
      R"({"job_type":"quote","payload":{"max_length":200}})" + std::string(1900, ' ');
  EXPECT_EQ(http("POST", small, fits).code, 202);
  EXPECT_TRUE(IsError(http("POST", small, fits + std::string(200, ' ')), 413, "payload_too_large"));
  // Chunked, so no Content-Length says so in advance: counted when read.
  const int fd = connect_to(server_->port());
  const std::string chunk(3000, ' ');
  std::ostringstream request;
  request << "POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
          << "Authorization: Bearer " << kToken << "\r\nTransfer-Encoding: chunked\r\n\r\n"
          << std::hex << chunk.size() << "\r\n"
          << chunk << "\r\n0\r\n\r\n";
  send_all(fd, request.str());
  const std::string answer =
      receive(fd, 5s, [](const std::string& got) { return got.find("}}") != std::string::npos; });
  close(fd);
  EXPECT_THAT(answer, HasSubstr("HTTP/1.1 413"));
  EXPECT_THAT(answer, HasSubstr(R"({"error":{"code":"payload_too_large")"));
}

TEST_F(ApiTest, HeadsOverTheLimitGet431) {
  // 16 KiB for the request line and headers, however they arrive.
  const Reply big =
      http("GET", url() + "/healthz", "", {"X-Padding: " + std::string(20 << 10, 'a')});
  EXPECT_TRUE(IsError(big, 431, "headers_too_large"));
  std::vector<std::string> many;
  for (int i = 0; i < 1000; ++i) many.push_back("X-Header-" + std::to_string(i) + ": value");
  EXPECT_TRUE(IsError(http("GET", url() + "/healthz", "", many), 431, "headers_too_large"));
  EXPECT_TRUE(IsError(http("GET", url() + "/v1/jobs?cursor=" + std::string(20 << 10, 'a')), 431,
                      "headers_too_large"));
  // A head that never ends is cut off at the limit, not buffered.
  const int fd = connect_to(server_->port());
  send_all(fd, "GET /healthz HTTP/1.1\r\nX-Endless: " + std::string(4 << 20, 'a'));
  const std::string answer =
      receive(fd, 5s, [](const std::string& got) { return got.find("}}") != std::string::npos; });
  close(fd);
  EXPECT_THAT(answer, HasSubstr("HTTP/1.1 431"));
  EXPECT_EQ(http("GET", url() + "/healthz", "", {"X-Padding: " + std::string(8 << 10, 'a')}).code,
            200);
}

TEST_F(ApiTest, SubmitsPastTheRateGet429) {
  restart({.submit_rate = "5"});
  const std::string payload = R"({"job_type":"quote","payload":{"max_length":200}})";
  int accepted = 0;
  int limited = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) {
    const Reply reply = http("POST", url() + "/v1/jobs", payload);
    if (reply.code == 202) ++accepted;
    if (IsError(reply, 429, "rate_limited")) ++limited;
  }
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // One second of burst, then five a second.
  EXPECT_GE(accepted, 5);
  EXPECT_LE(accepted, 5 + static_cast<int>(elapsed * 5) + 1) << "in " << elapsed << " s";
  EXPECT_GT(limited, 0);
  EXPECT_EQ(accepted + limited, 20);
  // Refused writes do not spend the budget: unauthenticated ones are 401.
  EXPECT_TRUE(IsError(http("POST", url() + "/v1/jobs", payload, {"Content-Type: application/json"}),
                      401, "unauthorized"));
  std::this_thread::sleep_for(1100ms);
  EXPECT_EQ(http("POST", url() + "/v1/jobs", payload).code, 202);
  // Counted by outcome; each accepted submit's wait on the backends timed.
  const std::string metrics = http("GET", url() + "/metrics").body;
  EXPECT_THAT(metrics, HasSubstr("dtq_api_submits_total{outcome=\"accepted\"} " +
                                 std::to_string(accepted + 1)));
  EXPECT_THAT(metrics, HasSubstr("dtq_api_submits_total{outcome=\"rate_limited\"} " +
                                 std::to_string(limited)));
  EXPECT_THAT(metrics, HasSubstr("dtq_api_backend_duration_seconds_count{operation=\"submit\"} " +
                                 std::to_string(accepted + 1)));
}

TEST_F(ApiTest, ASubmitRateOfZeroIsNoLimit) {
  // As on the gRPC face, which shares the flag.
  restart({.submit_rate = "0"});
  const std::string payload = R"({"job_type":"quote","payload":{"max_length":200}})";
  for (int i = 0; i < 10; ++i) ASSERT_EQ(http("POST", url() + "/v1/jobs", payload).code, 202);
}

TEST_F(ApiTest, EventStreamsPastTheLimitGet429) {
  restart({.flags = {"--max-streams", "2"}});
  testing::shared_fake_provider().add_fault(
      R"({"path":"/v1/forecast","kind":"latency","delay_ms":4000})");
  const std::string id = submit("weather", R"({"city":"Austin","country_code":"US"})");
  const std::string request = "GET /v1/jobs/" + id + "/events HTTP/1.1\r\n" + kRawHeaders + "\r\n";
  const auto open_stream = [&] {
    const int fd = connect_to(server_->port());
    send_all(fd, request);
    const std::string head = receive(fd, 5s, [](const std::string& got) {
      return got.find("event: status") != std::string::npos;
    });
    EXPECT_THAT(head, HasSubstr("HTTP/1.1 200")) << head;
    return fd;
  };
  const int first = open_stream();
  const int second = open_stream();
  EXPECT_TRUE(IsError(http("GET", url() + "/v1/jobs/" + id + "/events", "", key_only()), 429,
                      "too_many_streams"));
  EXPECT_THAT(http("GET", url() + "/metrics").body, HasSubstr("dtq_api_event_streams 2"));
  // A client that hangs up gives its slot back (noticed within a second or so).
  close(first);
  bool reopened = false;
  for (int attempt = 0; attempt < 30 && !reopened; ++attempt) {
    std::this_thread::sleep_for(100ms);
    const int fd = connect_to(server_->port());
    send_all(fd, request);
    reopened = receive(fd, 2s, [](const std::string& got) {
                 return got.find("\r\n\r\n") != std::string::npos;
               }).starts_with("HTTP/1.1 200");
    close(fd);
  }
  EXPECT_TRUE(reopened);
  close(second);
}

// Opens GET `target` on a raw socket (the stream of every job never ends,
// so curl would wait for its timeout) and reads until its headers are in.
int open_event_stream(int port, const std::string& target, std::string& head) {
  const int fd = connect_to(port);
  send_all(fd, "GET " + target + " HTTP/1.1\r\n" + kRawHeaders + "\r\n");
  head = receive(fd, 5s,
                 [](const std::string& got) { return got.find("\r\n\r\n") != std::string::npos; });
  return fd;
}

// The statuses in the `data:` lines of what an event stream sent so far.
std::vector<nlohmann::json> statuses_in(const std::string& received) {
  std::vector<nlohmann::json> statuses;
  constexpr std::string_view kData = "\ndata: ";
  for (size_t at = received.find(kData); at != std::string::npos;
       at = received.find(kData, at + 1)) {
    const size_t start = at + kData.size();
    const size_t end = received.find('\n', start);
    if (end == std::string::npos) break;  // not all in yet
    auto status = nlohmann::json::parse(received.substr(start, end - start), nullptr, false);
    if (!status.is_discarded()) statuses.push_back(std::move(status));
  }
  return statuses;
}

bool reached_terminal(const std::string& received, const std::string& job_id) {
  for (const auto& status : statuses_in(received)) {
    const std::string state = status.value("state", "");
    if (status.value("job_id", "") == job_id &&
        (state == "completed" || state == "failed" || state == "cancelled")) {
      return true;
    }
  }
  return false;
}

TEST_F(ApiTest, OneStreamCarriesEveryJobUpToItsEnd) {
  std::string head;
  const int fd = open_event_stream(server_->port(), "/v1/events", head);
  ASSERT_THAT(head, HasSubstr("HTTP/1.1 200")) << head;
  EXPECT_THAT(head, HasSubstr("text/event-stream")) << head;
  const std::string weather = submit("weather", R"({"city":"Austin","country_code":"US"})");
  const std::string quote = submit("quote", R"({"max_length":200})");
  const std::string received = receive(fd, 20s, [&](const std::string& got) {
    return reached_terminal(got, weather) && reached_terminal(got, quote);
  });
  close(fd);
  EXPECT_THAT(received, HasSubstr("event: status\ndata: {"));
  EXPECT_TRUE(reached_terminal(received, weather)) << received;
  EXPECT_TRUE(reached_terminal(received, quote)) << received;
  std::map<std::string, std::string> types;
  for (const auto& status : statuses_in(received)) {
    types[status.value("job_id", "")] = status.value("job_type", "");
  }
  EXPECT_EQ(types[weather], "weather");
  EXPECT_EQ(types[quote], "quote");
}

TEST_F(ApiTest, TheStreamOfEveryJobFiltersByTypeAndState) {
  std::string head;
  const int weather_only = open_event_stream(server_->port(), "/v1/events?job_type=weather", head);
  ASSERT_THAT(head, HasSubstr("HTTP/1.1 200")) << head;
  const int completed_only = open_event_stream(server_->port(), "/v1/events?state=completed", head);
  ASSERT_THAT(head, HasSubstr("HTTP/1.1 200")) << head;
  const std::string quote = submit("quote", R"({"max_length":200})");
  const std::string weather = submit("weather", R"({"city":"Austin","country_code":"US"})");
  // The quote job ends first: once the weather job has, nothing of the
  // quote job is still on its way.
  EXPECT_THAT(events(url(), quote).body, HasSubstr(R"("state":"completed")"));
  const std::string received = receive(
      weather_only, 20s, [&](const std::string& got) { return reached_terminal(got, weather); });
  close(weather_only);
  EXPECT_TRUE(reached_terminal(received, weather)) << received;
  EXPECT_THAT(received, Not(HasSubstr(quote)));

  const std::string ended = receive(completed_only, 20s, [&](const std::string& got) {
    return reached_terminal(got, weather) && reached_terminal(got, quote);
  });
  close(completed_only);
  const auto statuses = statuses_in(ended);
  EXPECT_EQ(statuses.size(), 2U) << ended;
  for (const auto& status : statuses) EXPECT_EQ(status.value("state", ""), "completed") << ended;

  EXPECT_TRUE(IsError(http("GET", url() + "/v1/events?state=finished", "", key_only()), 400,
                      "invalid_argument"));
  EXPECT_TRUE(IsError(http("POST", url() + "/v1/events"), 405, "method_not_allowed"));
}

TEST_F(ApiTest, StreamsOfEveryJobCountAgainstTheLimit) {
  restart({.flags = {"--max-streams", "2"}});
  std::string head;
  const int first = open_event_stream(server_->port(), "/v1/events", head);
  EXPECT_THAT(head, HasSubstr("HTTP/1.1 200")) << head;
  const int second = open_event_stream(server_->port(), "/v1/events?job_type=quote", head);
  EXPECT_THAT(head, HasSubstr("HTTP/1.1 200")) << head;
  const int third = open_event_stream(server_->port(), "/v1/events", head);
  close(third);
  EXPECT_THAT(head, HasSubstr("HTTP/1.1 429")) << head;
  EXPECT_THAT(head, HasSubstr("too_many_streams")) << head;
  // A client that hangs up gives its slot back (noticed within a second or so).
  close(first);
  bool reopened = false;
  for (int attempt = 0; attempt < 30 && !reopened; ++attempt) {
    std::this_thread::sleep_for(100ms);
    const int fd = open_event_stream(server_->port(), "/v1/events", head);
    reopened = head.starts_with("HTTP/1.1 200");
    close(fd);
  }
  EXPECT_TRUE(reopened);
  close(second);
}

TEST_F(ApiTest, AClientThatStopsReadingTheStreamOfEveryJobIsDropped) {
  // A small receive window, never read: the server's send buffer fills and
  // the statuses of hundreds of jobs wait for it, past the hub's bound.
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  const int window = 4096;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &window, sizeof window);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(server_->port()));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  send_all(fd, "GET /v1/events HTTP/1.1\r\n" + kRawHeaders + "\r\n");
  std::string last;
  for (int i = 0; i < 600; ++i) last = submit("quote", R"({"max_length":200})");
  EXPECT_THAT(events(url(), last).body, HasSubstr(R"("state":"completed")"));
  // Dropped: what was sent drains, then the connection ends.
  bool ended = false;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  char chunk[65536];
  while (!ended && std::chrono::steady_clock::now() < deadline) {
    pollfd waiting{fd, POLLIN, 0};
    if (poll(&waiting, 1, 1000) <= 0) continue;
    ended = recv(fd, chunk, sizeof chunk, 0) <= 0;
  }
  close(fd);
  EXPECT_TRUE(ended);
  std::string head;
  const int again = open_event_stream(server_->port(), "/v1/events", head);
  EXPECT_THAT(head, HasSubstr("HTTP/1.1 200")) << head;
  close(again);
}

TEST_F(ApiTest, TheServerStopsCleanlyWithAStreamOfEveryJobOpen) {
  std::string head;
  const int fd = open_event_stream(server_->port(), "/v1/events", head);
  ASSERT_THAT(head, HasSubstr("HTTP/1.1 200")) << head;
  EXPECT_EQ(server_->terminate(), 0);
  close(fd);
}

TEST_F(ApiTest, CorsIsOffUnlessAnOriginIsAllowed) {
  const std::string origin = "Origin: https://ui.example";
  const Reply plain = http("GET", url() + "/healthz", "", {origin});
  EXPECT_EQ(plain.code, 200);
  EXPECT_EQ(header(plain, "Access-Control-Allow-Origin"), "");
  const Reply preflight_off =
      http("OPTIONS", url() + "/v1/jobs", "", {origin, "Access-Control-Request-Method: POST"});
  EXPECT_TRUE(IsError(preflight_off, 405, "method_not_allowed"));
  EXPECT_EQ(header(preflight_off, "Access-Control-Allow-Origin"), "");

  restart({.flags = {"--cors-origin", "https://ui.example"}});
  const Reply allowed = http("GET", url() + "/v1/job-types", "", {origin, key_only()[0]});
  EXPECT_EQ(allowed.code, 200);
  EXPECT_EQ(header(allowed, "Access-Control-Allow-Origin"), "https://ui.example");
  EXPECT_EQ(header(allowed, "Vary"), "Origin");
  // Errors too, so that the page can read them.
  const Reply refused =
      http("POST", url() + "/v1/jobs", "{}", {origin, "Content-Type: application/json"});
  EXPECT_TRUE(IsError(refused, 401, "unauthorized"));
  EXPECT_EQ(header(refused, "Access-Control-Allow-Origin"), "https://ui.example");
  const Reply preflight = http("OPTIONS", url() + "/v1/jobs", "",
                               {origin, "Access-Control-Request-Method: POST",
                                "Access-Control-Request-Headers: authorization, content-type"});
  EXPECT_EQ(preflight.code, 204);
  EXPECT_EQ(header(preflight, "Access-Control-Allow-Origin"), "https://ui.example");
  EXPECT_THAT(header(preflight, "Access-Control-Allow-Methods"), HasSubstr("POST"));
  EXPECT_THAT(header(preflight, "Access-Control-Allow-Headers"), HasSubstr("Authorization"));
  EXPECT_EQ(header(preflight, "Access-Control-Max-Age"), "600");
  // Any other origin gets nothing that would let a browser read the answer.
  const Reply other =
      http("GET", url() + "/v1/job-types", "", {"Origin: https://evil.example", key_only()[0]});
  EXPECT_EQ(other.code, 200);
  EXPECT_EQ(header(other, "Access-Control-Allow-Origin"), "");
  const Reply other_preflight =
      http("OPTIONS", url() + "/v1/jobs", "", {"Origin: https://evil.example"});
  EXPECT_EQ(header(other_preflight, "Access-Control-Allow-Origin"), "");
}

TEST_F(ApiTest, Http11ConnectionsStayOpenBetweenRequests) {
  CURL* curl = curl_easy_init();
  std::string body;
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  long connects = -1;
  for (int i = 0; i < 3; ++i) {
    curl_easy_setopt(curl, CURLOPT_URL, (url() + "/healthz").c_str());
    ASSERT_EQ(curl_easy_perform(curl), CURLE_OK);
    curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &connects);
    EXPECT_EQ(connects, i == 0 ? 1 : 0) << "request " << i;
  }
  curl_easy_cleanup(curl);
}

// RFC 9112 §9.3.2: requests sent back to back on one connection, without
// waiting, are each answered, in order: here 20 reads and a submit with a
// body among them, in one write and then split across writes.
TEST_F(ApiTest, PipelinedRequestsAreEachAnsweredInOrder) {
  const std::string body = R"({"job_type":"quote","payload":{"max_length":200}})";
  const std::string submit_request =
      "POST /v1/jobs HTTP/1.1\r\nContent-Type: application/json\r\n" + kRawHeaders +
      "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  const std::string unknown_id = new_uuid4();
  std::string pipeline;
  for (int i = 0; i < 20; ++i) {
    pipeline += i == 10 ? submit_request
                        : "GET /v1/jobs/" + (i % 2 == 0 ? std::string("not-a-uuid") : unknown_id) +
                              "/status HTTP/1.1\r\n" + kRawHeaders + "\r\n";
  }
  const auto answers_in = [](const std::string& received) {
    std::vector<std::string> codes;
    for (size_t at = received.find("HTTP/1.1 "); at != std::string::npos;
         at = received.find("HTTP/1.1 ", at + 1)) {
      codes.push_back(received.substr(at + 9, 3));
    }
    return codes;
  };
  std::vector<std::string> expected;
  for (int i = 0; i < 20; ++i) expected.push_back(i == 10 ? "202" : i % 2 == 0 ? "400" : "404");
  // Handlers on the reactors (the default), then on threads of their own,
  // whose answers come back to the reactor while the rest waits.
  for (const std::string threads : {"0", "32"}) {
    if (threads != "0") restart({.flags = {"--handler-threads", threads}});
    for (const size_t split : {pipeline.size(), size_t{7}, pipeline.size() / 2 + 3}) {
      const int fd = connect_to(server_->port());
      send_all(fd, pipeline.substr(0, split));
      if (split < pipeline.size()) {
        std::this_thread::sleep_for(50ms);  // the rest in a read of its own
        send_all(fd, pipeline.substr(split));
      }
      const std::string received = receive(fd, 10s, [&](const std::string& so_far) {
        return answers_in(so_far).size() == expected.size() && so_far.ends_with("}");
      });
      close(fd);
      EXPECT_EQ(answers_in(received), expected)
          << threads << " handler threads, split at " << split << ":\n"
          << received;
    }
  }
}

// Reads until the server ends the connection or `timeout` passes; `ended`
// says which.
std::string receive_to_end(int fd, std::chrono::milliseconds timeout, bool& ended) {
  ended = false;
  return receive(
      fd, timeout, [](const std::string&) { return false; }, &ended);
}

// RFC 9112 §9.6: a request that asks to close (`Connection: close`, or
// HTTP/1.0 without keep-alive) is the connection's last. The server answers
// it, then closes (the client sees the end right after the answer, not at
// its own timeout), and answers nothing sent after it on that connection;
// an event stream asked to close is sent whole, then closed.
TEST_F(ApiTest, ARequestThatAsksToCloseIsTheConnectionsLast) {
  const std::string get_unknown =
      "GET /v1/jobs/" + new_uuid4() + "/status HTTP/1.1\r\n" + kRawHeaders;
  const std::string asks_close = "Connection: close\r\n\r\n";
  const std::string health_10 = "GET /healthz HTTP/1.0\r\n" + kRawHeaders;
  struct Case {
    std::string name;
    std::string requests;
    std::vector<std::string> answers;  // the status lines, in order
  };
  const std::vector<Case> cases = {
      {"close", get_unknown + asks_close, {"HTTP/1.1 404"}},
      {"close, then a pipelined request",
       get_unknown + asks_close + "GET /healthz HTTP/1.1\r\n" + kRawHeaders + "\r\n",
       {"HTTP/1.1 404"}},
      {"kept, close, kept",
       get_unknown + "\r\n" + get_unknown + asks_close + get_unknown + "\r\n",
       {"HTTP/1.1 404", "HTTP/1.1 404"}},
      {"HTTP/1.0", health_10 + "\r\n" + health_10 + "\r\n", {"HTTP/1.0 200"}},
      {"HTTP/1.0 keep-alive, then without",
       health_10 + "Connection: keep-alive\r\n\r\n" + health_10 + "\r\n" + health_10 + "\r\n",
       {"HTTP/1.0 200", "HTTP/1.0 200"}},
  };
  const auto status_lines = [](const std::string& received) {
    std::vector<std::string> lines;
    for (size_t at = received.find("HTTP/1."); at != std::string::npos;
         at = received.find("HTTP/1.", at + 1)) {
      lines.push_back(received.substr(at, 12));
    }
    return lines;
  };
  // Handlers on the reactors (the default), then on threads of their own.
  for (const std::string threads : {"0", "32"}) {
    if (threads != "0") restart({.flags = {"--handler-threads", threads}});
    for (const auto& [name, requests, answers] : cases) {
      const int fd = connect_to(server_->port());
      send_all(fd, requests);
      bool ended = false;
      const std::string received = receive_to_end(fd, 10s, ended);
      close(fd);
      EXPECT_TRUE(ended) << threads << " handler threads, " << name << ": not closed";
      EXPECT_EQ(status_lines(received), answers) << threads << " handler threads, " << name << ":\n"
                                                 << received;
    }
    const std::string id = submit("quote", R"({"max_length":200})");
    const int fd = connect_to(server_->port());
    send_all(fd, "GET /v1/jobs/" + id + "/events HTTP/1.1\r\n" + kRawHeaders + asks_close);
    bool ended = false;
    const std::string stream = receive_to_end(fd, 20s, ended);
    close(fd);
    EXPECT_TRUE(ended) << threads << " handler threads: the stream was not closed";
    EXPECT_TRUE(reached_terminal(stream, id)) << threads << " handler threads:\n" << stream;
  }
}

// Requests no client should send: each gets a 4xx (or 501 for a transfer
// coding the server does not know) in the error shape, or nothing yet when
// it is unfinished; never a 500, never a crash.
TEST_F(ApiTest, GarbageOnTheSocketNeverGetsA500NorStopsTheServer) {
  const std::string bearer = std::string("Authorization: Bearer ") + kToken + "\r\n";
  const std::string submit_head =
      "POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" + bearer;
  const std::string body = R"({"job_type":"quote","payload":{"max_length":200}})";
  const std::string valid =
      submit_head + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  std::vector<std::string> inputs = {
      "\r\n\r\n",
      "GARBAGE\r\n\r\n",
      "GET\r\n\r\n",
      "GET / HTTP/9.9\r\n\r\n",
      "GET / FTP/1.1\r\n\r\n",
      std::string("\0\1\2\3\xff\xfe\r\n\r\n", 10),
      "GET /\xff\xfe HTTP/1.1\r\n\r\n",
      "GET /v1/jobs?limit=%zz&cursor=%ff%fe%&& HTTP/1.1\r\n\r\n",
      "GET /v1/jobs/%00%00/status HTTP/1.1\r\n\r\n",
      "GET /healthz HTTP/1.1\r\nHost: :::::\r\n\r\n",
      "GET /healthz HTTP/1.1\r\nHost: a:99999999999\r\n\r\n",
      "GET /healthz HTTP/1.1\r\nDate: yesterday\r\n\r\n",
      "GET /healthz HTTP/1.1\r\nCache-Control: max-age=abc\r\n\r\n",
      "GET /healthz HTTP/1.1\r\nCookie: a\r\n\r\n",
      "GET /healthz HTTP/1.1\r\nAccept: ;;;=\r\n\r\n",
      "GET /healthz HTTP/1.1\r\nConnection: ;;\r\n\r\n",
      "GET /healthz HTTP/1.1\r\nAuthorization: Bearer \xff\xfe\r\n\r\n",
      "POST /v1/jobs HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
      "POST /v1/jobs HTTP/1.1\r\nContent-Length: abc\r\n\r\n{}",
      "POST /v1/jobs HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
      "POST /v1/jobs HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n",
      "POST /v1/jobs HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}",
      "POST /v1/jobs HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n{}",
      "POST /v1/jobs HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
      "POST /v1/jobs HTTP/1.1\r\nContent-Type: ;;;//\r\nContent-Length: 2\r\n\r\n{}",
      submit_head + "Content-Length: 2\r\n\r\n\xff\xfe",
      submit_head + "Content-Length: 20000\r\n\r\n" + std::string(20000, '['),
      submit_head + "Content-Length: 40\r\n\r\n{\"job_type\":\"quote\",\"payload\":{\"max_l",
      "GET /healthz HTTP/1.1\r\nX-Big: " + std::string(2 << 20, 'a') + "\r\n\r\n",
  };
  // Seeded, so that a failure can be replayed: the valid request truncated,
  // with bytes flipped, and random bytes.
  std::mt19937 random(20240601);
  for (int i = 0; i < 60; ++i) inputs.push_back(valid.substr(0, random() % valid.size()));
  for (int i = 0; i < 60; ++i) {
    std::string mutated = valid;
    for (int flips = 0; flips < 3; ++flips)
      mutated[random() % mutated.size()] = static_cast<char>(random());
    inputs.push_back(mutated);
  }
  for (int i = 0; i < 60; ++i) {
    std::string noise(random() % 3000, '\0');
    for (char& c : noise) c = static_cast<char>(random());
    inputs.push_back(noise + "\r\n\r\n");
  }

  // All at once, then whatever came back within a second and a half:
  // unfinished requests get nothing.
  std::vector<int> sockets;
  for (const auto& input : inputs) {
    sockets.push_back(connect_to(server_->port()));
    send_all(sockets.back(), input);
  }
  std::vector<std::string> answers(sockets.size());
  std::vector<bool> done(sockets.size(), false);
  const auto deadline = std::chrono::steady_clock::now() + 1500ms;
  while (std::chrono::steady_clock::now() < deadline) {
    std::vector<pollfd> waiting;
    std::vector<size_t> which;
    for (size_t i = 0; i < sockets.size(); ++i) {
      if (done[i]) continue;
      waiting.push_back({sockets[i], POLLIN, 0});
      which.push_back(i);
    }
    if (waiting.empty() || poll(waiting.data(), waiting.size(), 100) < 0) break;
    for (size_t k = 0; k < waiting.size(); ++k) {
      if (waiting[k].revents == 0) continue;
      const size_t i = which[k];
      char chunk[4096];
      const ssize_t n = recv(sockets[i], chunk, sizeof chunk, MSG_DONTWAIT);
      if (n <= 0) {
        done[i] = true;
        continue;
      }
      answers[i].append(chunk, static_cast<size_t>(n));
      if (answers[i].find("\r\n\r\n") != std::string::npos) done[i] = true;
    }
  }
  int answered = 0;
  for (size_t i = 0; i < sockets.size(); ++i) {
    close(sockets[i]);
    const std::string& answer = answers[i];
    if (answer.empty()) continue;
    ++answered;
    EXPECT_THAT(answer, ::testing::ContainsRegex("^HTTP/1.[01] (2|4|501)"))
        << "input " << i << ": " << answer;
    EXPECT_THAT(answer, HasSubstr("Content-Type: application/json"))
        << "input " << i << ": " << answer;
  }
  EXPECT_GT(answered, 100);
  EXPECT_TRUE(server_->running());
  EXPECT_EQ(http("GET", url() + "/healthz").code, 200);
  EXPECT_EQ(http("POST", url() + "/v1/jobs", body).code, 202);
  EXPECT_THAT(http("GET", url() + "/metrics").body, Not(HasSubstr("code=\"500\"")));
}

// What a file holds once `done(text)` says so, or all it holds at the deadline.
std::string read_when(const fs::path& file, const std::function<bool(const std::string&)>& done) {
  std::string text;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    std::stringstream read;
    read << std::ifstream(file).rdbuf();
    text = read.str();
    if (done(text)) break;
    std::this_thread::sleep_for(20ms);  // polling a file another process writes
  }
  return text;
}

// The value after `label` on its line of `text`; empty when absent.
std::string value_after(const std::string& text, const std::string& label) {
  const size_t at = text.find(label);
  if (at == std::string::npos) return {};
  const size_t start = at + label.size();
  return text.substr(start, text.find_first_of(" \n", start) - start);
}

TEST_F(ApiTest, AFirstStartMakesAnAdminKeyShownOnceStoredHashedAndNeverLogged) {
  const fs::path log = data_.parent_path() / (data_.filename().string() + ".log");
  restart({.token_from_env = false, .log_level = "debug", .stderr_file = log});
  const std::string started = read_when(
      log, [](const std::string& text) { return text.find("  keys:") != std::string::npos; });
  const std::string key = value_after(started, "  key:   ");
  ASSERT_TRUE(key.starts_with("dtq_")) << started;
  EXPECT_THAT(started, HasSubstr("/#key=" + key));
  const fs::path key_file = data_ / "api-keys.jsonl";
  struct stat info {};
  ASSERT_EQ(stat(key_file.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0600U);
  std::stringstream stored;
  stored << std::ifstream(key_file).rdbuf();
  EXPECT_THAT(stored.str(), Not(HasSubstr(key.substr(21))));  // not even the secret part

  // The key in use on every kind of request: accepted, refused, malformed.
  const std::string payload = R"({"job_type":"quote","payload":{"max_length":200}})";
  const Reply submitted = http("POST", url() + "/v1/jobs", payload, default_headers(key));
  ASSERT_EQ(submitted.code, 202);
  const std::string id = json_field(submitted.body, "job_id");
  EXPECT_THAT(http("GET", url() + "/v1/jobs/" + id + "/events", "", key_only(key)).body,
              HasSubstr(R"("state":"completed")"));
  EXPECT_TRUE(IsError(http("POST", url() + "/v1/jobs/" + id + "/cancel", "", default_headers(key)),
                      409, "conflict"));
  EXPECT_EQ(http("POST", url() + "/v1/jobs", payload, default_headers(key + "0")).code, 401);
  EXPECT_EQ(http("POST", url() + "/v1/jobs", payload, default_headers(key.substr(1))).code, 401);
  EXPECT_EQ(http("POST", url() + "/v1/jobs", "{", default_headers(key)).code, 400);
  EXPECT_EQ(http("GET", url() + "/v1/jobs?cursor=" + key, "", default_headers(key)).code, 400);
  const int fd = connect_to(server_->port());
  send_all(fd,
           "POST /v1/jobs HTTP/1.1\r\nAuthorization: Bearer " + key + "\r\nDate: never\r\n\r\n");
  EXPECT_THAT(
      receive(fd, 5s, [](const std::string& got) { return got.find("}}") != std::string::npos; }),
      HasSubstr("HTTP/1.1 400"));
  close(fd);
  EXPECT_EQ(server_->terminate(), 0);

  // A second start makes no key and shows none; the first one still works.
  const fs::path second_log = log.string() + ".2";
  restart({.token_from_env = false, .log_level = "debug", .stderr_file = second_log});
  const std::string second = read_when(second_log, [](const std::string& text) {
    return text.find("  keys:") != std::string::npos;
  });
  EXPECT_THAT(second, Not(HasSubstr("  key:"))) << second;
  EXPECT_EQ(http("GET", url() + "/v1/jobs/" + id, "", key_only(key)).code, 200);
  EXPECT_EQ(server_->terminate(), 0);

  // Only the two start-up lines that hand the key over show it.
  std::ifstream lines(log);
  std::string line;
  int shown = 0;
  while (std::getline(lines, line)) {
    if (line.find(key) == std::string::npos) continue;
    ++shown;
    EXPECT_TRUE(line.starts_with("  key: ") || line.starts_with("  UI: ")) << line;
  }
  EXPECT_EQ(shown, 2);
  std::stringstream second_text;
  second_text << std::ifstream(second_log).rdbuf();
  EXPECT_THAT(second_text.str(), Not(HasSubstr(key)));
  fs::remove(log);
  fs::remove(second_log);
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
}

TEST_F(ApiTest, JobTypesListEachPluginWithItsSchemaAndItsPool) {
  const Reply reply = http("GET", url() + "/v1/job-types");
  ASSERT_EQ(reply.code, 200) << reply.body;
  const auto body = nlohmann::json::parse(reply.body, nullptr, false);
  ASSERT_TRUE(body.contains("job_types")) << reply.body;
  std::set<std::string> types;
  for (const auto& type : body["job_types"]) {
    types.insert(type.value("job_type", ""));
    EXPECT_EQ(type.value("abi_version", ""), "1.0");
    EXPECT_EQ(type["payload_schema"].value("type", ""), "object") << type.dump();
    EXPECT_GT(type.value("concurrency", 0), 0) << type.dump();
    EXPECT_EQ(type.value("pools", 0), 1)
        << "the engine in dtq serve runs every pool: " << type.dump();
    EXPECT_TRUE(type.contains("in_flight")) << type.dump();
  }
  EXPECT_EQ(types, (std::set<std::string>{"exchange_rate", "github_user", "quote", "weather"}));
  // The plugin's property order survives (forms show fields in it):
  // exchange_rate declares base, target, then amount.
  const size_t target = reply.body.find("\"target\":{");
  const size_t amount = reply.body.find("\"amount\":{");
  ASSERT_NE(target, std::string::npos);
  ASSERT_NE(amount, std::string::npos);
  EXPECT_LT(target, amount);
}

TEST_F(ApiTest, TwoHundredWatchersOnOneJobAllSeeItEnd) {
  // Slow provider: every watcher is connected before the job ends.
  testing::shared_fake_provider().add_fault(
      R"({"path":"/v1/forecast","kind":"latency","delay_ms":1500})");
  const std::string id = submit("weather", R"({"city":"Austin","country_code":"US"})");
  std::atomic<int> completed{0};
  std::vector<std::thread> watchers;
  for (int i = 0; i < 200; ++i) {
    watchers.emplace_back([&] {
      const Reply stream = events(url(), id);
      if (stream.code == 200 && stream.body.find(R"("state":"completed")") != std::string::npos)
        ++completed;
    });
  }
  for (auto& watcher : watchers) watcher.join();
  EXPECT_EQ(completed.load(), 200);
}

// `dtq keys ARGS...` on `data`'s key file: what it printed on stdout (the
// key, for create), and its exit code.
std::pair<std::string, int> dtq_keys(const fs::path& data, const std::string& args) {
  const std::string command =
      std::string(DTQ_CLI) + " --data-dir " + data.string() + " keys " + args + " 2>/dev/null";
  FILE* out = popen(command.c_str(), "r");
  std::string printed;
  char chunk[4096];
  for (size_t n; (n = fread(chunk, 1, sizeof chunk, out)) > 0;) printed.append(chunk, n);
  const int status = pclose(out);
  while (!printed.empty() && printed.back() == '\n') printed.pop_back();
  return {printed, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

std::string make_key(const fs::path& data, const std::string& scope) {
  const auto [key, code] = dtq_keys(data, "create --name test-" + scope + " --scope " + scope);
  EXPECT_EQ(code, 0);
  EXPECT_TRUE(key.starts_with("dtq_")) << key;
  return key;
}

TEST_F(ApiTest, EveryReadRouteNeedsAReadKeyAndWritesASubmitKey) {
  const std::string id = submit("quote", R"({"max_length":200})");
  const std::vector<std::string> reads = {
      "/v1/jobs",   "/v1/jobs/" + id, "/v1/jobs/" + id + "/status", "/v1/jobs/" + id + "/events",
      "/v1/events", "/v1/job-types"};
  const std::string reader = make_key(data_, "read");
  for (const auto& path : reads) {
    const Reply anonymous = http("GET", url() + path, "", {});
    EXPECT_TRUE(IsError(anonymous, 401, "unauthorized")) << path;
    EXPECT_EQ(header(anonymous, "WWW-Authenticate"), "Bearer") << path;
    EXPECT_TRUE(IsError(http("GET", url() + path, "", key_only(reader + "0")), 401, "unauthorized"))
        << path;
    // A cookie is never a key, whatever it holds.
    EXPECT_TRUE(
        IsError(http("GET", url() + path, "", {"Cookie: key=" + reader}), 401, "unauthorized"))
        << path;
  }
  for (const auto& path : {"/v1/jobs", "/v1/job-types"}) {
    EXPECT_EQ(http("GET", url() + path, "", key_only(reader)).code, 200) << path;
  }
  EXPECT_THAT(http("GET", url() + "/v1/jobs/" + id + "/events", "", key_only(reader)).body,
              HasSubstr(R"("state":"completed")"));
  std::string head;
  const int stream = connect_to(server_->port());
  send_all(stream, "GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + reader +
                       "\r\n\r\n");
  EXPECT_THAT(
      receive(stream, 5s,
              [](const std::string& got) { return got.find("\r\n\r\n") != std::string::npos; }),
      HasSubstr("HTTP/1.1 200"));
  close(stream);

  // A read key writes nothing: 403, not 401, so the client knows the key is good.
  const std::string payload = R"({"job_type":"quote","payload":{"max_length":200}})";
  EXPECT_TRUE(IsError(http("POST", url() + "/v1/jobs", payload, default_headers(reader)), 403,
                      "forbidden"));
  EXPECT_TRUE(
      IsError(http("POST", url() + "/v1/jobs/" + id + "/cancel", "", default_headers(reader)), 403,
              "forbidden"));
  const std::string submitter = make_key(data_, "submit");
  EXPECT_EQ(http("POST", url() + "/v1/jobs", payload, default_headers(submitter)).code, 202);
  EXPECT_EQ(http("GET", url() + "/v1/jobs", "", key_only(submitter)).code, 200);
}

TEST_F(ApiTest, ProbesTheUiAndMetricsAreOpenUnlessMetricsNeedAKey) {
  const fs::path ui = data_.parent_path() / (data_.filename().string() + "-ui");
  fs::create_directories(ui);
  std::ofstream(ui / "index.html") << "<!doctype html><title>dtq</title>";
  restart({.flags = {"--ui-dir", ui.string()}});
  for (const auto& path : {"/healthz", "/readyz", "/metrics", "/", "/index.html", "/jobs/x"}) {
    EXPECT_EQ(http("GET", url() + path, "", {}).code, 200) << path;
  }
  restart({.flags = {"--ui-dir", ui.string(), "--metrics-key"}});
  EXPECT_TRUE(IsError(http("GET", url() + "/metrics", "", {}), 401, "unauthorized"));
  EXPECT_EQ(http("GET", url() + "/metrics", "", key_only(make_key(data_, "read"))).code, 200);
  EXPECT_EQ(http("GET", url() + "/healthz", "", {}).code, 200);
  EXPECT_EQ(http("GET", url() + "/", "", {}).code, 200);
  fs::remove_all(ui);
}

TEST_F(ApiTest, OpenReadsServeReadsWithoutAKeyButNotWrites) {
  restart({.flags = {"--open-reads"}});
  const std::string id = submit("quote", R"({"max_length":200})");
  EXPECT_EQ(http("GET", url() + "/v1/jobs", "", {}).code, 200);
  EXPECT_EQ(http("GET", url() + "/v1/jobs/" + id + "/status", "", {}).code, 200);
  EXPECT_THAT(http("GET", url() + "/v1/jobs/" + id + "/events", "", {}).body,
              HasSubstr(R"("state":"completed")"));
  EXPECT_TRUE(IsError(http("POST", url() + "/v1/jobs", R"({"job_type":"quote","payload":{}})",
                           {"Content-Type: application/json"}),
                      401, "unauthorized"));
}

TEST_F(ApiTest, AHostNotServedIsRefusedExceptByTheProbes) {
  const std::string evil = "Host: rebound.example";
  EXPECT_TRUE(
      IsError(http("GET", url() + "/v1/jobs", "", {evil, key_only()[0]}), 403, "forbidden_host"));
  EXPECT_TRUE(IsError(http("POST", url() + "/v1/jobs", R"({"job_type":"quote","payload":{}})",
                           {evil, "Content-Type: application/json", key_only()[0]}),
                      403, "forbidden_host"));
  EXPECT_EQ(http("GET", url() + "/healthz", "", {evil}).code, 200);
  EXPECT_EQ(http("GET", url() + "/readyz", "", {evil}).code, 200);
  for (const auto& good :
       {"Host: localhost", "Host: LOCALHOST:8080", "Host: 127.0.0.1", "Host: [::1]:80"}) {
    EXPECT_EQ(http("GET", url() + "/v1/jobs", "", {good, key_only()[0]}).code, 200) << good;
  }
  restart({.flags = {"--public-host", "dtq.example"}});
  EXPECT_EQ(http("GET", url() + "/v1/jobs", "", {"Host: dtq.example", key_only()[0]}).code, 200);
  EXPECT_EQ(http("GET", url() + "/v1/jobs", "", {"Host: localhost", key_only()[0]}).code, 200);
  restart({.flags = {"--allowed-hosts", "only.example"}});
  EXPECT_EQ(http("GET", url() + "/v1/jobs", "", {"Host: only.example", key_only()[0]}).code, 200);
  EXPECT_EQ(http("GET", url() + "/v1/jobs", "", {"Host: localhost", key_only()[0]}).code, 403);
}

TEST_F(ApiTest, KeysAreCreatedListedAndRevokedAndARevokedKeyIsRefusedAtOnce) {
  const std::string key = make_key(data_, "submit");
  const std::string id = key.substr(4, 16);
  const auto [listed, listed_code] = dtq_keys(data_, "list");
  EXPECT_EQ(listed_code, 0);
  EXPECT_THAT(listed, HasSubstr(id));
  EXPECT_THAT(listed, HasSubstr("submit"));
  EXPECT_THAT(listed, HasSubstr("live"));
  EXPECT_THAT(listed, Not(HasSubstr(key.substr(21))));
  EXPECT_EQ(http("GET", url() + "/v1/jobs", "", key_only(key)).code, 200);

  EXPECT_EQ(dtq_keys(data_, "revoke " + id).second, 0);
  EXPECT_TRUE(IsError(http("GET", url() + "/v1/jobs", "", key_only(key)), 401, "unauthorized"));
  EXPECT_THAT(dtq_keys(data_, "list").first, HasSubstr("revoked"));
  EXPECT_NE(dtq_keys(data_, "revoke 0000000000000000").second, 0);
  EXPECT_NE(dtq_keys(data_, "create --name x --scope root").second, 0);

  // --replace: a new key of the same name revokes the old ones.
  const std::string first = make_key(data_, "read");
  const auto [second, code] = dtq_keys(data_, "create --name test-read --scope read --replace");
  EXPECT_EQ(code, 0);
  EXPECT_EQ(http("GET", url() + "/v1/jobs", "", key_only(first)).code, 401);
  EXPECT_EQ(http("GET", url() + "/v1/jobs", "", key_only(second)).code, 200);
}

TEST_F(ApiTest, KilledMidRunAndRestartedLosesAndDuplicatesNothing) {
  testing::shared_fake_provider().add_fault(
      R"({"path":"/v1/forecast","kind":"latency","delay_ms":300,"times":-1})");
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i)
    ids.push_back(submit("weather", R"({"city":"Austin","country_code":"US"})"));
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

// Dead letters and retries over REST: github_user fails for good for a
// user the fake GitHub does not know, so its jobs end dead-lettered.
constexpr const char* kUnknownUser = R"({"username":"no-such-user-dtq"})";

// The dead letters listed at `query`, once there are `count` of them.
nlohmann::json dead_letters_once(const std::string& base, const std::string& query, size_t count) {
  nlohmann::json letters;
  // Dead-lettered just after the failed status is written.
  EXPECT_TRUE(testing::eventually([&] {
    const Reply listed = http("GET", base + "/v1/dead-letters" + query, "", key_only());
    if (listed.code != 200) return false;
    letters = nlohmann::json::parse(listed.body)["dead_letters"];
    return letters.size() == count;
  })) << letters.dump();
  return letters;
}

TEST_F(ApiTest, DeadLettersAreListedReplayedAndDeletedAndFailedJobsRetried) {
  const std::string first = submit("github_user", kUnknownUser);
  const std::string second = submit("github_user", kUnknownUser);
  const std::string fine = submit("quote", R"({"max_length":200})");
  EXPECT_THAT(events(url(), first).body, HasSubstr(R"("state":"failed")"));
  EXPECT_THAT(events(url(), second).body, HasSubstr(R"("state":"failed")"));
  EXPECT_THAT(events(url(), fine).body, HasSubstr(R"("state":"completed")"));

  // Listed newest first with the error, the attempts, the payload, when.
  nlohmann::json letters = dead_letters_once(url(), "?job_type=github_user", 2);
  ASSERT_EQ(letters.size(), 2U);
  // The two ran at once: either may have failed first.
  EXPECT_EQ((std::set<std::string>{letters[0]["job_id"], letters[1]["job_id"]}),
            (std::set<std::string>{first, second}));
  EXPECT_GE(letters[0]["failed_at"], letters[1]["failed_at"]);
  for (const auto& letter : letters) {
    EXPECT_EQ(letter["job_type"], "github_user");
    EXPECT_EQ(letter["error"]["code"], "user_not_found");
    EXPECT_GE(letter["attempts"].get<int>(), 1);
    EXPECT_EQ(letter["payload"], nlohmann::json::parse(kUnknownUser));
    EXPECT_FALSE(letter["failed_at"].get<std::string>().empty());
    EXPECT_TRUE(letter["replayed_as"].is_null());
  }
  EXPECT_EQ(dead_letters_once(url(), "", 2).size(), 2U);  // every type
  EXPECT_EQ(dead_letters_once(url(), "?job_type=github_user&limit=1", 1)[0], letters[0]);
  EXPECT_EQ(dead_letters_once(url(), "?job_type=quote", 0).size(), 0U);
  EXPECT_TRUE(IsError(http("GET", url() + "/v1/dead-letters?job_type=No%20Such", "", key_only()),
                      400, "invalid_argument"));
  EXPECT_TRUE(IsError(http("GET", url() + "/v1/dead-letters?limit=0", "", key_only()), 400,
                      "invalid_argument"));

  // A read key lists and changes nothing (403: the key is good, its scope small).
  const std::string reader = make_key(data_, "read");
  const std::string submitter = make_key(data_, "submit");
  EXPECT_EQ(http("GET", url() + "/v1/dead-letters", "", key_only(reader)).code, 200);
  for (const auto& key : {reader, submitter}) {
    EXPECT_TRUE(
        IsError(http("POST", url() + "/v1/dead-letters/" + first + ":replay", "", key_only(key)),
                403, "forbidden"));
    EXPECT_TRUE(IsError(
        http("POST", url() + "/v1/dead-letters:replay?job_type=github_user", "", key_only(key)),
        403, "forbidden"));
    EXPECT_TRUE(IsError(http("DELETE", url() + "/v1/dead-letters/" + first, "", key_only(key)), 403,
                        "forbidden"));
    EXPECT_TRUE(IsError(http("POST", url() + "/v1/jobs/" + first + ":retry", "", key_only(key)),
                        403, "forbidden"));
  }
  EXPECT_TRUE(IsError(http("POST", url() + "/v1/dead-letters/" + first + ":replay", "", {}), 401,
                      "unauthorized"));

  // Replay one: 202 with the new job, which runs (and fails) again; once only.
  const Reply replayed =
      http("POST", url() + "/v1/dead-letters/" + first + ":replay", "", key_only());
  ASSERT_EQ(replayed.code, 202) << replayed.body;
  const auto replay = nlohmann::json::parse(replayed.body);
  const std::string rerun = replay["job_id"];
  EXPECT_EQ(replay["replay_of"], first);
  EXPECT_EQ(replay["status_url"], "/v1/jobs/" + rerun + "/status");
  EXPECT_NE(rerun, first);
  EXPECT_THAT(events(url(), rerun).body, HasSubstr(R"("state":"failed")"));
  EXPECT_TRUE(IsError(http("POST", url() + "/v1/dead-letters/" + first + ":replay", "", key_only()),
                      409, "conflict"));
  EXPECT_TRUE(IsError(http("POST", url() + "/v1/dead-letters/not-a-uuid:replay", "", key_only()),
                      400, "malformed_id"));
  EXPECT_TRUE(
      IsError(http("POST", url() + "/v1/dead-letters/" + new_uuid4() + ":replay", "", key_only()),
              404, "unknown_job"));
  letters = dead_letters_once(url(), "?job_type=github_user", 3);
  ASSERT_EQ(letters.size(), 3U);
  EXPECT_EQ(letters[0]["job_id"], rerun);  // the replay's own dead letter, the newest
  for (const auto& letter : letters) {
    EXPECT_EQ(letter["replayed_as"],
              letter["job_id"] == first ? nlohmann::json(rerun) : nlohmann::json())
        << letter.dump();
  }

  // Delete: gone; a second delete is 404.
  const Reply deleted = http("DELETE", url() + "/v1/dead-letters/" + second, "", key_only());
  EXPECT_EQ(deleted.code, 200) << deleted.body;
  EXPECT_EQ(nlohmann::json::parse(deleted.body)["job_id"], second);
  EXPECT_TRUE(IsError(http("DELETE", url() + "/v1/dead-letters/" + second, "", key_only()), 404,
                      "unknown_job"));
  EXPECT_TRUE(IsError(http("DELETE", url() + "/v1/dead-letters/nope", "", key_only()), 400,
                      "malformed_id"));
  EXPECT_EQ(dead_letters_once(url(), "?job_type=github_user", 2).size(), 2U);

  // Retry: a failed job (dead letter deleted or not) runs again, as a new
  // job with its trace; anything but a failed job is 409.
  const Reply retried = http("POST", url() + "/v1/jobs/" + second + ":retry", "", key_only());
  ASSERT_EQ(retried.code, 202) << retried.body;
  const std::string again = json_field(retried.body, "job_id");
  EXPECT_EQ(json_field(retried.body, "retry_of"), second);
  const std::string queued = http("GET", url() + "/v1/jobs/" + again + "/status").body;
  EXPECT_EQ(json_field(queued, "trace_id"),
            json_field(http("GET", url() + "/v1/jobs/" + second + "/status").body, "trace_id"));
  EXPECT_THAT(events(url(), again).body, HasSubstr(R"("state":"failed")"));
  EXPECT_TRUE(IsError(http("POST", url() + "/v1/jobs/" + fine + ":retry", "", key_only()), 409,
                      "conflict"));
  EXPECT_TRUE(IsError(http("POST", url() + "/v1/jobs/" + new_uuid4() + ":retry", "", key_only()),
                      404, "unknown_job"));
  EXPECT_TRUE(
      IsError(http("POST", url() + "/v1/jobs/x:retry", "", key_only()), 400, "malformed_id"));

  // Replay all of a type: the two not replayed yet (the rerun's and the
  // retry's), then none.
  dead_letters_once(url(), "?job_type=github_user", 3);
  const Reply all =
      http("POST", url() + "/v1/dead-letters:replay?job_type=github_user", "", key_only());
  ASSERT_EQ(all.code, 200) << all.body;
  EXPECT_EQ(nlohmann::json::parse(all.body),
            nlohmann::json::parse(R"({"job_type":"github_user","replayed":2})"));
  // Each is marked replayed (its replay, failing again, is a dead letter of its own).
  for (const auto& letter : dead_letters_once(url(), "?job_type=github_user", 5)) {
    if (letter["job_id"] == rerun || letter["job_id"] == again) {
      EXPECT_TRUE(letter["replayed_as"].is_string()) << letter.dump();
    }
  }
  EXPECT_TRUE(IsError(http("POST", url() + "/v1/dead-letters:replay", "", key_only()), 400,
                      "invalid_argument"));
  // GET on a custom method is 405 with what it allows.
  const Reply wrong = http("GET", url() + "/v1/dead-letters/" + first + ":replay", "", key_only());
  EXPECT_EQ(wrong.code, 405);
  EXPECT_EQ(header(wrong, "Allow"), "POST, DELETE");
}

// The CLI's dead-letter verbs on the data folder of a running serve: the
// same JobService, so the same outcomes as the routes above. Their stdout
// (libraries may warn on stderr) and exit code.
// `environment`: assignments for the command's shell ("NAME=value ").
std::pair<std::string, int> dtq_verb(const fs::path& data, const std::string& args,
                                     const std::string& environment = "") {
  const std::string command = environment + std::string(DTQ_CLI) + " --data-dir " + data.string() +
                              " " + args + " 2>/dev/null";
  FILE* out = popen(command.c_str(), "r");
  std::string printed;
  char chunk[4096];
  for (size_t n; (n = fread(chunk, 1, sizeof chunk, out)) > 0;) printed.append(chunk, n);
  const int status = pclose(out);
  while (!printed.empty() && printed.back() == '\n') printed.pop_back();
  return {printed, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

TEST_F(ApiTest, TheCliListsReplaysDeletesAndRetriesOnTheDataFolder) {
  const std::string first = submit("github_user", kUnknownUser);
  const std::string second = submit("github_user", kUnknownUser);
  dead_letters_once(url(), "?job_type=github_user", 2);
  const auto listed = dtq_verb(data_, "dead-letters --type github_user");
  EXPECT_EQ(listed.second, 0) << listed.first;
  EXPECT_THAT(listed.first, HasSubstr(first));
  EXPECT_THAT(listed.first, HasSubstr("user_not_found"));

  // Retry: a new job, run by serve.
  const auto retried = dtq_verb(data_, "retry " + first);
  ASSERT_EQ(retried.second, 0) << retried.first;
  ASSERT_TRUE(is_uuid(retried.first)) << retried.first;
  EXPECT_THAT(events(url(), retried.first).body, HasSubstr(R"("state":"failed")"));
  EXPECT_EQ(dtq_verb(data_, "retry " + new_uuid4()).second, 2);

  // Delete one; a second delete is refused.
  const auto deleted = dtq_verb(data_, "delete-dead-letter " + second);
  EXPECT_EQ(deleted.second, 0) << deleted.first;
  EXPECT_EQ(dtq_verb(data_, "delete-dead-letter " + second).second, 2);

  // Replay all: the first and the retry's own dead letter.
  dead_letters_once(url(), "?job_type=github_user", 2);
  const auto all = dtq_verb(data_, "replay --type github_user");
  EXPECT_EQ(all.second, 0) << all.first;
  EXPECT_EQ(all.first, "replayed 2");
  const auto again =
      dead_letters_once(url(), "?job_type=github_user&limit=500", 4);  // + the replays'
  for (const auto& letter : again) {
    if (letter["job_id"] == first) {
      EXPECT_TRUE(letter["replayed_as"].is_string()) << letter.dump();
    }
  }
  EXPECT_EQ(dtq_verb(data_, "replay").second, 2);  // neither a job id nor --type
}

// Pausing a job type (admin): its jobs wait, accepted, until it is resumed.

// The `paused` of `job_type` in GET /v1/job-types.
bool listed_paused(const std::string& base, const std::string& job_type) {
  const Reply reply = http("GET", base + "/v1/job-types", "", key_only());
  EXPECT_EQ(reply.code, 200) << reply.body;
  const auto body = nlohmann::json::parse(reply.body, nullptr, false);
  if (body.is_discarded()) return false;
  for (const auto& type : body["job_types"]) {
    if (type.value("job_type", "") == job_type) return type.at("paused").get<bool>();
  }
  ADD_FAILURE() << job_type << " is not listed: " << reply.body;
  return false;
}

std::string job_state(const std::string& base, const std::string& job_id) {
  const Reply reply = http("GET", base + "/v1/jobs/" + job_id + "/status", "", key_only());
  EXPECT_EQ(reply.code, 200) << reply.body;
  const auto body = nlohmann::json::parse(reply.body, nullptr, false);
  return body.is_discarded() ? "" : body.value("state", "");
}

TEST_F(ApiTest, APausedJobTypeKeepsItsJobsQueuedUntilResumed) {
  EXPECT_FALSE(listed_paused(url(), "quote"));
  const Reply paused = http("POST", url() + "/v1/job-types/quote:pause", "", key_only());
  ASSERT_EQ(paused.code, 200) << paused.body;
  EXPECT_EQ(nlohmann::json::parse(paused.body),
            nlohmann::json::parse(R"({"job_type":"quote","paused":true})"));
  EXPECT_TRUE(listed_paused(url(), "quote"));
  EXPECT_FALSE(listed_paused(url(), "github_user"));

  // Accepted as usual, and held; another type's job runs meanwhile, which
  // gives quote's idle workers every chance to take the held one.
  const std::string held = submit("quote", R"({"max_length":200})");
  const std::string other = submit("github_user", kUnknownUser);
  EXPECT_THAT(events(url(), other).body, HasSubstr(R"("state":"failed")"));
  EXPECT_EQ(job_state(url(), held), "queued");

  const Reply resumed = http("POST", url() + "/v1/job-types/quote:resume", "", key_only());
  ASSERT_EQ(resumed.code, 200) << resumed.body;
  EXPECT_FALSE(listed_paused(url(), "quote"));
  EXPECT_THAT(events(url(), held).body, HasSubstr(R"("state":"completed")"));
}

// The pause is kept in the data folder: after a restart the type is still
// paused before its pool could take a job, and the job held before the
// restart still waits.
TEST_F(ApiTest, APauseSurvivesARestartOfServe) {
  ASSERT_EQ(http("POST", url() + "/v1/job-types/quote:pause", "", key_only()).code, 200);
  const std::string held = submit("quote", R"({"max_length":200})");
  EXPECT_EQ(job_state(url(), held), "queued");

  restart({});
  EXPECT_TRUE(listed_paused(url(), "quote"));
  EXPECT_FALSE(listed_paused(url(), "github_user"));
  const std::string other = submit("github_user", kUnknownUser);
  EXPECT_THAT(events(url(), other).body, HasSubstr(R"("state":"failed")"));
  EXPECT_EQ(job_state(url(), held), "queued");

  ASSERT_EQ(http("POST", url() + "/v1/job-types/quote:resume", "", key_only()).code, 200);
  EXPECT_THAT(events(url(), held).body, HasSubstr(R"("state":"completed")"));
  // Resumed is kept too.
  restart({});
  EXPECT_FALSE(listed_paused(url(), "quote"));
}

TEST_F(ApiTest, PausingNeedsAnAdminKeyAndAHostedJobType) {
  const std::string reader = make_key(data_, "read");
  const std::string submitter = make_key(data_, "submit");
  for (const auto& key : {reader, submitter}) {
    for (const char* verb : {":pause", ":resume"}) {
      EXPECT_TRUE(IsError(http("POST", url() + "/v1/job-types/quote" + verb, "", key_only(key)),
                          403, "forbidden"));
    }
  }
  EXPECT_TRUE(
      IsError(http("POST", url() + "/v1/job-types/quote:pause", "", {}), 401, "unauthorized"));
  EXPECT_FALSE(listed_paused(url(), "quote"));
  EXPECT_TRUE(IsError(http("POST", url() + "/v1/job-types/nope:pause", "", key_only()), 404,
                      "unknown_job_type"));
  EXPECT_TRUE(IsError(http("POST", url() + "/v1/job-types/No%20Such:resume", "", key_only()), 400,
                      "invalid_argument"));
  // The CLI goes through the API, with the key in $DTQ_API_KEY.
  const std::string server = " --server " + url();
  const std::string admin = std::string("DTQ_API_KEY=") + kToken + " ";
  EXPECT_EQ(dtq_verb(data_, "pause quote" + server, admin),
            std::make_pair(std::string("quote paused"), 0));
  EXPECT_TRUE(listed_paused(url(), "quote"));
  EXPECT_EQ(dtq_verb(data_, "resume quote" + server, admin),
            std::make_pair(std::string("quote resumed"), 0));
  EXPECT_FALSE(listed_paused(url(), "quote"));
  EXPECT_EQ(dtq_verb(data_, "pause nope" + server, admin).second, 2);
  EXPECT_EQ(dtq_verb(data_, "pause quote" + server, "DTQ_API_KEY=" + reader + " ").second, 2);
  EXPECT_FALSE(listed_paused(url(), "quote"));
}

// Idempotent submits: the Idempotency-Key header.

// The ids of every job the server lists (fewer than a page here).
std::set<std::string> listed_jobs(const std::string& base) {
  const Reply reply = http("GET", base + "/v1/jobs?limit=100", "", key_only());
  EXPECT_EQ(reply.code, 200) << reply.body;
  std::set<std::string> ids;
  for (size_t at = 0; (at = reply.body.find("\"job_id\":\"", at)) != std::string::npos; ++at) {
    ids.insert(reply.body.substr(at + 10, 36));
  }
  return ids;
}

std::vector<std::string> keyed(const std::string& key, const std::string& token = kToken) {
  auto headers = default_headers(token);
  headers.push_back("Idempotency-Key: " + key);
  return headers;
}

TEST_F(ApiTest, AnIdempotencyKeyMakesRepeatsAnswerTheFirstJob) {
  const std::string body = R"({"job_type":"quote","payload":{"max_length":200}})";
  const Reply first = http("POST", url() + "/v1/jobs", body, keyed("order-17"));
  ASSERT_EQ(first.code, 202) << first.body;
  EXPECT_EQ(header(first, "Idempotent-Replayed"), "");
  const std::string id = json_field(first.body, "job_id");

  // The same request again, the payload written otherwise: the same answer.
  const Reply again =
      http("POST", url() + "/v1/jobs",
           R"({"payload": { "max_length" : 200 }, "job_type": "quote"})", keyed("order-17"));
  ASSERT_EQ(again.code, 202) << again.body;
  EXPECT_EQ(header(again, "Idempotent-Replayed"), "true");
  EXPECT_EQ(nlohmann::json::parse(again.body), nlohmann::json::parse(first.body));

  // Once the job ended, still the same job.
  EXPECT_THAT(events(url(), id).body, HasSubstr(R"("state":"completed")"));
  const Reply after = http("POST", url() + "/v1/jobs", body, keyed("order-17"));
  ASSERT_EQ(after.code, 202) << after.body;
  EXPECT_EQ(json_field(after.body, "job_id"), id);

  // The key reused for another payload or job type: 409, and no job.
  EXPECT_TRUE(
      IsError(http("POST", url() + "/v1/jobs",
                   R"({"job_type":"quote","payload":{"max_length":100}})", keyed("order-17")),
              409, "idempotency_conflict"));
  EXPECT_TRUE(
      IsError(http("POST", url() + "/v1/jobs",
                   R"({"job_type":"weather","payload":{"city":"Oslo"}})", keyed("order-17")),
              409, "idempotency_conflict"));
  // Another key, or none, is another job.
  const Reply other = http("POST", url() + "/v1/jobs", body, keyed("order-18"));
  ASSERT_EQ(other.code, 202) << other.body;
  EXPECT_NE(json_field(other.body, "job_id"), id);
  const std::string unkeyed = submit("quote", R"({"max_length":200})");
  EXPECT_EQ(listed_jobs(url()),
            (std::set<std::string>{id, json_field(other.body, "job_id"), unkeyed}));
}

TEST_F(ApiTest, APriorityIsTakenShownAndCheckedOnSubmit) {
  const Reply high = http("POST", url() + "/v1/jobs",
                          R"({"job_type":"quote","payload":{"max_length":200},"priority":"high"})");
  ASSERT_EQ(high.code, 202) << high.body;
  const std::string id = json_field(high.body, "job_id");
  const Reply status = http("GET", url() + "/v1/jobs/" + id + "/status");
  ASSERT_EQ(status.code, 200) << status.body;
  EXPECT_EQ(json_field(status.body, "priority"), "high");
  const Reply job = http("GET", url() + "/v1/jobs/" + id);
  EXPECT_THAT(job.body, HasSubstr(R"("priority":"high")"));
  // Normal is the default, and the status then has no priority field (the
  // contract's own fields only).
  const std::string plain = submit("quote", R"({"max_length":200})");
  EXPECT_THAT(http("GET", url() + "/v1/jobs/" + plain + "/status").body,
              Not(HasSubstr("priority")));
  EXPECT_EQ(http("POST", url() + "/v1/jobs",
                 R"({"job_type":"quote","payload":{"max_length":200},"priority":"low"})")
                .code,
            202);
  for (const std::string bad : {R"("urgent")", R"("HIGH")", "1", "null"}) {
    const Reply refused =
        http("POST", url() + "/v1/jobs",
             R"({"job_type":"quote","payload":{"max_length":200},"priority":)" + bad + "}");
    EXPECT_TRUE(IsError(refused, 400, "invalid_request")) << bad << ": " << refused.body;
    EXPECT_EQ(detail_fields(refused), "/priority;") << bad;
  }
  // dtq submit --priority, through the API.
  const std::string admin = std::string("DTQ_API_KEY=") + kToken + " ";
  const auto cli = dtq_verb(
      data_, "submit --priority low --server " + url() + R"( quote '{"max_length":200}')", admin);
  ASSERT_EQ(cli.second, 0);
  EXPECT_EQ(json_field(http("GET", url() + "/v1/jobs/" + cli.first + "/status").body, "priority"),
            "low");
  EXPECT_NE(
      dtq_verb(data_, "submit --priority urgent --server " + url() + " quote '{}'", admin).second,
      0);
}

TEST_F(ApiTest, ADelayedJobIsScheduledListedThenRunsWhenDue) {
  const Reply accepted =
      http("POST", url() + "/v1/jobs",
           R"({"job_type":"quote","payload":{"max_length":200},"delay_seconds":2})");
  ASSERT_EQ(accepted.code, 202) << accepted.body;
  EXPECT_EQ(json_field(accepted.body, "state"), "scheduled");
  const std::string id = json_field(accepted.body, "job_id");
  const std::string run_at = json_field(accepted.body, "run_at");
  ASSERT_TRUE(parse_rfc3339(run_at)) << accepted.body;
  const Reply status = http("GET", url() + "/v1/jobs/" + id + "/status");
  ASSERT_EQ(status.code, 200) << status.body;
  EXPECT_EQ(json_field(status.body, "state"), "scheduled");
  EXPECT_EQ(json_field(status.body, "run_at"), run_at);
  const Reply listed = http("GET", url() + "/v1/jobs?state=scheduled");
  ASSERT_EQ(listed.code, 200) << listed.body;
  EXPECT_THAT(listed.body, HasSubstr(id));
  EXPECT_THAT(listed.body, HasSubstr(run_at));
  // The stream follows it from scheduled to its end.
  EXPECT_THAT(events(url(), id).body, HasSubstr(R"("state":"completed")"));
  EXPECT_GE(Clock::now(), *parse_rfc3339(run_at)) << "it ran before it was due";
  EXPECT_THAT(http("GET", url() + "/v1/jobs?state=scheduled").body, Not(HasSubstr(id)));
}

TEST_F(ApiTest, AScheduledJobSurvivesARestartAndACancelledOneNeverRuns) {
  const std::string later = to_rfc3339(Clock::now() + std::chrono::hours(1));
  const Reply waiting =
      http("POST", url() + "/v1/jobs",
           R"({"job_type":"quote","payload":{"max_length":200},"run_at":")" + later + R"("})");
  ASSERT_EQ(waiting.code, 202) << waiting.body;
  const std::string held = json_field(waiting.body, "job_id");
  const Reply soon = http("POST", url() + "/v1/jobs",
                          R"({"job_type":"quote","payload":{"max_length":200},"delay_seconds":2})");
  ASSERT_EQ(soon.code, 202) << soon.body;
  const std::string due = json_field(soon.body, "job_id");
  // Killed (SIGKILL) while both wait.
  restart({});
  EXPECT_EQ(job_state(url(), held), "scheduled");
  EXPECT_THAT(events(url(), due).body, HasSubstr(R"("state":"completed")"));
  const Reply cancelled = http("POST", url() + "/v1/jobs/" + held + "/cancel", "");
  ASSERT_EQ(cancelled.code, 200) << cancelled.body;
  EXPECT_EQ(json_field(cancelled.body, "state"), "cancelled");
  restart({});
  EXPECT_EQ(job_state(url(), held), "cancelled");
  EXPECT_EQ(http("GET", url() + "/v1/jobs/" + held + "/result").code, 404)
      << "a cancelled scheduled job never ran";
}

TEST_F(ApiTest, ABadRunAtOrDelayIs400) {
  const std::string far = to_rfc3339(Clock::now() + std::chrono::hours(24 * 366));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"("run_at":"tomorrow")", "/run_at;"},
      {R"("run_at":12)", "/run_at;"},
      {R"("run_at":")" + far + R"(")", "/run_at;"},
      {R"("delay_seconds":-1)", "/delay_seconds;"},
      {R"("delay_seconds":31536001)", "/delay_seconds;"},
      {R"("delay_seconds":"60")", "/delay_seconds;"},
      {R"("run_at":"2030-01-01T00:00:00Z","delay_seconds":5)", "/run_at;"},
  };
  for (const auto& [fields, named] : cases) {
    const Reply refused =
        http("POST", url() + "/v1/jobs",
             R"({"job_type":"quote","payload":{"max_length":200},)" + fields + "}");
    EXPECT_TRUE(IsError(refused, 400, "invalid_request")) << fields << ": " << refused.body;
    EXPECT_EQ(detail_fields(refused), named) << fields;
  }
  // A time that has passed runs the job now.
  const Reply now =
      http("POST", url() + "/v1/jobs",
           R"({"job_type":"quote","payload":{"max_length":200},"run_at":"2020-01-01T00:00:00Z"})");
  ASSERT_EQ(now.code, 202) << now.body;
  EXPECT_EQ(json_field(now.body, "state"), "");
}

TEST_F(ApiTest, TheCliSubmitsADelayedJobWithDelayOrRunAt) {
  // The client verbs against this serve, with its operator key.
  const auto submit_verb = [&](const std::string& args) {
    return dtq_verb(data_, "submit --server " + url() + " " + args,
                    std::string("DTQ_API_KEY=") + kToken + " ");
  };
  const auto delayed = submit_verb(R"(--delay 1h quote '{"max_length":200}')");
  ASSERT_EQ(delayed.second, 0) << delayed.first;
  ASSERT_TRUE(is_uuid(delayed.first)) << delayed.first;
  EXPECT_EQ(job_state(url(), delayed.first), "scheduled");
  const std::string at = to_rfc3339(Clock::now() + std::chrono::hours(2));
  const auto timed = submit_verb("--run-at " + at + R"( quote '{"max_length":200}')");
  ASSERT_EQ(timed.second, 0) << timed.first;
  EXPECT_EQ(json_field(http("GET", url() + "/v1/jobs/" + timed.first + "/status").body, "run_at"),
            at);
  // Both, or a delay that is not a duration: refused before anything is sent.
  EXPECT_EQ(submit_verb("--delay 3s --run-at " + at + R"( quote '{}')").second, 2);
  EXPECT_EQ(submit_verb(R"(--delay soon quote '{}')").second, 2);
  // Past the 365 days: the server's 400.
  EXPECT_EQ(submit_verb(R"(--delay 400d quote '{}')").second, 2);
}

TEST_F(ApiTest, TheCliPrintsAJobsStoredHistory) {
  const std::string environment = std::string("DTQ_API_KEY=") + kToken + " ";
  const auto submitted = dtq_verb(
      data_, "submit --server " + url() + R"( --delay 1h quote '{"max_length":200}')", environment);
  ASSERT_EQ(submitted.second, 0) << submitted.first;
  const auto history =
      dtq_verb(data_, "history --server " + url() + " " + submitted.first, environment);
  ASSERT_EQ(history.second, 0) << history.first;
  EXPECT_EQ(json_field(history.first, "job_id"), submitted.first);
  EXPECT_NE(history.first.find(R"("kind":"scheduled")"), std::string::npos) << history.first;
  const auto unknown = dtq_verb(
      data_, "history --server " + url() + " 00000000-0000-4000-8000-000000000000", environment);
  EXPECT_NE(unknown.second, 0) << unknown.first;
}

TEST_F(ApiTest, AMalformedIdempotencyKeyIs400) {
  const std::string body = R"({"job_type":"quote","payload":{"max_length":200}})";
  for (const std::string& key : {std::string(256, 'k'), std::string("caf\xc3\xa9")}) {
    const Reply refused = http("POST", url() + "/v1/jobs", body, keyed(key));
    EXPECT_TRUE(IsError(refused, 400, "invalid_idempotency_key")) << key;
    EXPECT_EQ(detail_fields(refused), "Idempotency-Key;");
  }
  // curl sends "Name;" as the header with an empty value.
  auto empty = default_headers();
  empty.push_back("Idempotency-Key;");
  EXPECT_TRUE(
      IsError(http("POST", url() + "/v1/jobs", body, empty), 400, "invalid_idempotency_key"));
  // 255 printable characters, spaces inside too, are a key.
  const std::string longest = "a b" + std::string(252, '~');
  EXPECT_EQ(http("POST", url() + "/v1/jobs", body, keyed(longest)).code, 202);
  EXPECT_EQ(listed_jobs(url()).size(), 1U);
}

TEST_F(ApiTest, IdempotencyKeysAreScopedToTheApiKey) {
  const auto [tenant_a, code_a] = dtq_keys(data_, "create --name tenant-a --scope submit");
  const auto [tenant_b, code_b] = dtq_keys(data_, "create --name tenant-b --scope submit");
  ASSERT_EQ(code_a, 0);
  ASSERT_EQ(code_b, 0);
  const Reply a =
      http("POST", url() + "/v1/jobs", R"({"job_type":"quote","payload":{"max_length":200}})",
           keyed("shared", tenant_a));
  const Reply b =
      http("POST", url() + "/v1/jobs", R"({"job_type":"quote","payload":{"max_length":100}})",
           keyed("shared", tenant_b));
  const Reply operator_key =
      http("POST", url() + "/v1/jobs", R"({"job_type":"quote","payload":{"max_length":50}})",
           keyed("shared"));
  ASSERT_EQ(a.code, 202) << a.body;
  ASSERT_EQ(b.code, 202) << b.body;
  ASSERT_EQ(operator_key.code, 202) << operator_key.body;
  EXPECT_EQ(header(b, "Idempotent-Replayed"), "");
  EXPECT_EQ(listed_jobs(url()).size(), 3U);
  // Each tenant's repeat finds its own job.
  const Reply a_again =
      http("POST", url() + "/v1/jobs", R"({"job_type":"quote","payload":{"max_length":200}})",
           keyed("shared", tenant_a));
  EXPECT_EQ(json_field(a_again.body, "job_id"), json_field(a.body, "job_id"));
}

TEST_F(ApiTest, ConcurrentSubmitsWithOneIdempotencyKeyMakeOneJob) {
  constexpr int kClients = 16;
  const std::string body = R"({"job_type":"quote","payload":{"max_length":200}})";
  std::vector<Reply> replies(kClients);
  std::atomic<int> ready{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      ready.fetch_add(1);
      while (ready.load() < kClients) std::this_thread::yield();
      replies[i] = http("POST", url() + "/v1/jobs", body, keyed("burst"));
    });
  }
  for (auto& client : clients) client.join();
  std::set<std::string> ids;
  int first_answers = 0;
  for (const auto& reply : replies) {
    ASSERT_EQ(reply.code, 202) << reply.body;
    ids.insert(json_field(reply.body, "job_id"));
    if (header(reply, "Idempotent-Replayed").empty()) ++first_answers;
  }
  EXPECT_EQ(ids.size(), 1U);
  EXPECT_EQ(first_answers, 1);
  EXPECT_EQ(listed_jobs(url()), ids);
}

// Batch submits: POST /v1/jobs:batch.

// A batch body of `jobs`, each a JSON object's text.
std::string batch_of(const std::vector<std::string>& jobs) {
  std::string body = R"({"jobs":[)";
  for (size_t i = 0; i < jobs.size(); ++i) body += (i == 0 ? "" : ",") + jobs[i];
  return body + "]}";
}

// How many jobs the server lists in `state`, every page read.
size_t count_jobs(const std::string& base, const std::string& state) {
  size_t count = 0;
  std::string cursor;
  do {
    const Reply reply = http(
        "GET",
        base + "/v1/jobs?limit=500&state=" + state + (cursor.empty() ? "" : "&cursor=" + cursor),
        "", key_only());
    if (reply.code != 200) return 0;
    const auto page = nlohmann::json::parse(reply.body);
    count += page["jobs"].size();
    cursor = page["next_cursor"].is_string() ? page["next_cursor"].get<std::string>() : "";
  } while (!cursor.empty());
  return count;
}

TEST_F(ApiTest, ABatchAnswersEachJobInOrderAndItsAcceptedJobsRun) {
  const std::string quote = R"({"job_type":"quote","payload":{"max_length":200}})";
  const Reply reply = http(
      "POST", url() + "/v1/jobs:batch",
      batch_of({quote, R"({"job_type":"nope","payload":{}})",
                R"({"job_type":"quote","payload":{"max_length":5}})", R"({"job_type":"quote"})",
                R"({"job_type":"quote","payload":{"max_length":200},"priority":"high"})",
                R"({"job_type":"quote","payload":{"max_length":200},"delay_seconds":3600})",
                R"({"job_type":"quote","payload":{"max_length":200},"idempotency_key":"b-1"})",
                R"({"job_type":"quote","payload":{"max_length":300},"idempotency_key":"b-1"})"}));
  ASSERT_EQ(reply.code, 200) << reply.body;
  const auto results = nlohmann::json::parse(reply.body)["results"];
  ASSERT_EQ(results.size(), 8U) << reply.body;
  // An accepted job is answered as POST /v1/jobs's 202 body.
  for (const size_t i : {0U, 4U, 5U, 6U}) {
    EXPECT_TRUE(results[i]["job_id"].is_string()) << i << ": " << results[i];
    EXPECT_TRUE(results[i]["trace_id"].is_string()) << i;
    EXPECT_EQ(results[i]["status_url"],
              "/v1/jobs/" + results[i]["job_id"].get<std::string>() + "/status");
  }
  // A refused one as POST /v1/jobs's error, with its code.
  const auto error_of = [&](size_t i) {
    return Reply{.code = results[i]["http_status"].get<long>(),
                 .body = nlohmann::json{{"error", results[i]["error"]}}.dump()};
  };
  EXPECT_TRUE(IsError(error_of(1), 404, "unknown_job_type"));
  EXPECT_TRUE(IsError(error_of(2), 400, "invalid_payload"));
  EXPECT_EQ(detail_fields(error_of(2)), "/max_length;");
  EXPECT_TRUE(IsError(error_of(3), 400, "invalid_request"));
  EXPECT_EQ(detail_fields(error_of(3)), "/payload;");
  EXPECT_TRUE(IsError(error_of(7), 409, "idempotency_conflict"));
  EXPECT_EQ(results[5]["state"], "scheduled");

  // Each accepted job runs, with what it was given.
  for (const size_t i : {0U, 4U, 6U}) {
    EXPECT_THAT(events(url(), results[i]["job_id"]).body, HasSubstr(R"("state":"completed")")) << i;
  }
  const auto high =
      http("GET", url() + "/v1/jobs/" + results[4]["job_id"].get<std::string>(), "", key_only());
  EXPECT_THAT(high.body, HasSubstr(R"("priority":"high")"));
  // Its history starts as a single submit's does.
  EXPECT_TRUE(testing::eventually([&] {
    return http("GET", url() + "/v1/jobs/" + results[0]["job_id"].get<std::string>() + "/history",
                "", key_only())
               .body.find(R"("kind":"submitted")") != std::string::npos;
  }));
  EXPECT_EQ(listed_jobs(url()).size(), 4U);
  // The key is the Idempotency-Key header's: a single submit repeats it.
  const Reply repeat = http("POST", url() + "/v1/jobs", quote, keyed("b-1"));
  EXPECT_EQ(json_field(repeat.body, "job_id"), results[6]["job_id"]);
  // Counted by job.
  const std::string metrics = http("GET", url() + "/metrics").body;
  EXPECT_THAT(metrics, HasSubstr("dtq_api_submits_total{outcome=\"accepted\"} 4"));
  EXPECT_THAT(metrics, HasSubstr("dtq_api_submits_total{outcome=\"invalid_payload\"} 1"));
}

TEST_F(ApiTest, AThousandJobBatchLosesNothing) {
  std::vector<std::string> jobs;
  for (int i = 0; i < 1000; ++i) {
    jobs.push_back(R"({"job_type":"quote","payload":{"max_length":)" +
                   std::to_string(100 + i % 900) + "}}");
  }
  const Reply reply = http("POST", url() + "/v1/jobs:batch", batch_of(jobs));
  ASSERT_EQ(reply.code, 200) << reply.body.substr(0, 500);
  const auto results = nlohmann::json::parse(reply.body)["results"];
  ASSERT_EQ(results.size(), 1000U);
  std::set<std::string> ids;
  for (const auto& result : results) ids.insert(result.value("job_id", ""));
  EXPECT_EQ(ids.size(), 1000U);
  EXPECT_FALSE(ids.contains(""));
  EXPECT_TRUE(testing::eventually([&] { return count_jobs(url(), "completed") == 1000; }, 120s))
      << count_jobs(url(), "completed") << " completed";
  // In order: the 500th answer is the 500th job's.
  const auto job =
      http("GET", url() + "/v1/jobs/" + results[499]["job_id"].get<std::string>(), "", key_only());
  EXPECT_THAT(job.body, HasSubstr(R"("input":{"max_length":599})"));
  EXPECT_EQ(count_jobs(url(), "failed"), 0U);
}

TEST_F(ApiTest, ABatchNeedsASubmitKey) {
  const std::string body = batch_of({R"({"job_type":"quote","payload":{"max_length":200}})"});
  const std::string batch = url() + "/v1/jobs:batch";
  EXPECT_TRUE(
      IsError(http("POST", batch, body, {"Content-Type: application/json"}), 401, "unauthorized"));
  EXPECT_TRUE(IsError(http("POST", batch, body, default_headers(make_key(data_, "read"))), 403,
                      "forbidden"));
  EXPECT_EQ(http("POST", batch, body, default_headers(make_key(data_, "submit"))).code, 200);
  EXPECT_EQ(listed_jobs(url()).size(), 1U);
}

TEST_F(ApiTest, AMalformedBatchIs400AndAnOversizedOne413) {
  const std::string batch = url() + "/v1/jobs:batch";
  const std::string quote = R"({"job_type":"quote","payload":{"max_length":200}})";
  EXPECT_TRUE(IsError(http("POST", batch, "{"), 400, "malformed_json"));
  for (const std::string body : {R"({"jobs":[]})", R"({"jobs":{}})", R"({})", R"([])"}) {
    EXPECT_TRUE(IsError(http("POST", batch, body), 400, "invalid_request")) << body;
  }
  EXPECT_TRUE(IsError(http("POST", batch, batch_of(std::vector<std::string>(1001, quote))), 400,
                      "invalid_request"));
  EXPECT_TRUE(IsError(http("POST", batch, quote, key_only()), 415, "unsupported_media_type"));
  EXPECT_TRUE(listed_jobs(url()).empty());

  // A batch may be larger than one job (4 MiB by default), and no larger.
  const std::string padded = batch_of({quote}) + std::string(2 << 20, ' ');
  EXPECT_TRUE(IsError(http("POST", url() + "/v1/jobs", padded), 413, "payload_too_large"));
  EXPECT_EQ(http("POST", batch, padded).code, 200);
  EXPECT_TRUE(IsError(http("POST", batch, std::string(5 << 20, ' ')), 413, "payload_too_large"));
  // The limit is the operator's.
  restart({.flags = {"--batch-body-limit", "4096"}});
  const std::string small = url() + "/v1/jobs:batch";
  EXPECT_EQ(http("POST", small, batch_of({quote}) + std::string(3000, ' ')).code, 200);
  EXPECT_TRUE(IsError(http("POST", small, batch_of({quote}) + std::string(5000, ' ')), 413,
                      "payload_too_large"));
}

TEST_F(ApiTest, TheCliSubmitsAFileOfJobsInBatchesOfAThousand) {
  const fs::path file = fs::temp_directory_path() / ("dtq-batch-" + new_uuid4() + ".jsonl");
  {
    std::ofstream out(file);
    for (int i = 0; i < 1001; ++i)
      out << R"({"job_type":"quote","payload":{"max_length":200}})"
          << "\n";
    out << "\n"
        << "not json\n"
        << R"({"job_type":"nope","payload":{}})"
        << "\n";
  }
  const auto ran = dtq_verb(data_, "submit --server " + url() + " --batch " + file.string(),
                            std::string("DTQ_API_KEY=") + kToken + " ");
  fs::remove(file);
  // One job refused: exit 1; one line per job, the blank line skipped.
  EXPECT_EQ(ran.second, 1);
  std::vector<nlohmann::json> lines;
  std::istringstream printed(ran.first);
  for (std::string line; std::getline(printed, line);) lines.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(lines.size(), 1003U) << ran.first.substr(0, 300);
  std::set<std::string> ids;
  for (size_t i = 0; i < 1001; ++i) {
    EXPECT_EQ(lines[i]["line"], i + 1);
    ids.insert(lines[i].value("job_id", ""));
  }
  EXPECT_EQ(ids.size(), 1001U);
  EXPECT_FALSE(ids.contains(""));
  EXPECT_EQ(lines[1001]["line"], 1003);
  EXPECT_EQ(lines[1001]["error"]["code"], "invalid_request");
  EXPECT_EQ(lines[1002]["line"], 1004);
  EXPECT_EQ(lines[1002]["error"]["code"], "unknown_job_type");
  EXPECT_EQ(lines[1002]["http_status"], 404);
  EXPECT_TRUE(testing::eventually([&] { return count_jobs(url(), "completed") == 1001; }, 120s))
      << count_jobs(url(), "completed") << " completed";
  // Neither TYPE and PAYLOAD nor --batch; both: refused before anything is sent.
  EXPECT_EQ(dtq_verb(data_, "submit --server " + url()).second, 2);
  EXPECT_NE(dtq_verb(data_, "submit --server " + url() + " --batch x quote '{}'").second, 0);
}

}  // namespace
}  // namespace dtq
