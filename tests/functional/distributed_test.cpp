// Functional tier, distributed: the real `dtq api` and four single-plugin
// `dtq worker --only TYPE` pools on Redis, RabbitMQ, Kafka and FerretDB
// (each started by its script in scripts/servers/, on loopback ports of its
// own), with the shipped plugins calling the fake provider. 1,000 mixed jobs
// pushed over REST; one pool killed with SIGKILL mid-run and restarted; then
// every status is checked in Redis, exactly 1,000 results in MongoDB (one per
// job), every progress query (RabbitMQ, answered by the workers) answered
// with its own job, the dead pool dropped from the registry, and the
// dead-letter verbs on Kafka. The gRPC JobService of `dtq api`: a job
// submitted, watched, read and listed over it. Also: a process whose backend is unreachable
// or misconfigured refuses to start, saying which and why.
//
// The servers: under ctest the `distributed_servers` fixture
// (distributed_servers.sh) starts them and names their folder in
// DTQ_TEST_DISTRIBUTED_STATE; run by hand, the binary starts its own.
#include <bson/bson.h>
#include <curl/curl.h>
#include <dtq/v1/jobs.grpc.pb.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <mongoc/mongoc.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "dtq/core/ids.hpp"
#include "grpc/grpc_test_util.hpp"
#include "support/eventually.hpp"
#include "support/fake_provider.hpp"

namespace dtq {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;
using ::testing::HasSubstr;

constexpr const char* kToken = "distributed-test-token";
constexpr int kJobs = 1000;
const std::vector<std::string> kTypes = {"weather", "quote", "exchange_rate", "github_user"};

// --- the servers --------------------------------------------------------------

const std::string kServersScript =
    std::string(DTQ_SOURCE_DIR) + "/tests/functional/distributed_servers.sh";
const std::vector<std::string> kServers = {"redis", "rabbitmq", "kafka", "ferretdb"};

// The four servers' URLs, as DTQ_* variables (DTQ_REDIS_URL, …).
class Servers : public ::testing::Environment {
 public:
  static const std::map<std::string, std::string>& env() { return env_; }
  // The folder of the servers' state: <state>/<server>/{port,env,servers}.
  static const fs::path& state() { return state_; }

  void SetUp() override {
    if (const char* state = std::getenv("DTQ_TEST_DISTRIBUTED_STATE");
        state != nullptr && *state != '\0') {
      state_ = state;
    } else {
      own_ = true;
      state_ = fs::temp_directory_path() / ("dtq-distributed-test-" + new_uuid4());
      for (const auto& server : kServers) {
        const std::string line =
            "'" + kServersScript + "' " + server + " start '" + state_.string() + "' >&2";
        ASSERT_EQ(std::system(line.c_str()), 0) << "could not start " << server;
      }
    }
    for (const auto& server : kServers) {
      std::ifstream in(state_ / server / "env");
      ASSERT_TRUE(in) << "no " << (state_ / server / "env")
                      << ": did the distributed_servers fixture run?";
      std::string line;
      while (std::getline(in, line)) {
        const size_t equals = line.find('=');
        if (equals != std::string::npos) env_[line.substr(0, equals)] = line.substr(equals + 1);
      }
    }
    for (const char* name :
         {"DTQ_REDIS_URL", "DTQ_AMQP_URL", "DTQ_KAFKA_BOOTSTRAP", "DTQ_MONGODB_URI"}) {
      ASSERT_EQ(env_.count(name), 1U) << name << " missing from the servers' env files";
    }
  }
  void TearDown() override {
    if (!own_) return;
    for (const auto& server : kServers) {
      const std::string line =
          "'" + kServersScript + "' " + server + " stop '" + state_.string() + "' >&2";
      (void)std::system(line.c_str());
    }
    fs::remove_all(state_);
  }

 private:
  static inline std::map<std::string, std::string> env_;
  static inline fs::path state_;
  bool own_ = false;
};

[[maybe_unused]] auto* const kServersEnvironment = ::testing::AddGlobalTestEnvironment(new Servers);

// host and port out of redis://host:port/db
std::pair<std::string, int> redis_address() {
  std::string url = Servers::env().at("DTQ_REDIS_URL");
  url = url.substr(url.find("://") + 3);
  url = url.substr(0, url.find('/'));
  const size_t colon = url.rfind(':');
  return {url.substr(0, colon), std::stoi(url.substr(colon + 1))};
}

// --- the dtq processes ----------------------------------------------------------

class DtqProcess {
 public:
  // Runs `dtq ARGS` with the servers' variables, the provider's base URL and
  // the token in its environment; stderr goes to `log`. With
  // `wait_listening`, waits for the "LISTENING <url>" line on stdout.
  DtqProcess(std::vector<std::string> args, const fs::path& log, bool wait_listening,
             std::map<std::string, std::string> extra_env = {},
             const fs::path& plugin_dir = DTQ_PLUGIN_DIR) {
    args.insert(args.begin(),
                {DTQ_CLI, "--plugin-dir", plugin_dir.string(), "--log-level", "info"});
    std::map<std::string, std::string> environment = Servers::env();
    environment["DTQ_HTTP_BASE_URL"] = testing::shared_fake_provider().base_url();
    environment["DTQ_API_TOKEN"] = kToken;
    environment["DTQ_CLUSTER_SECRET"] = "distributed-test-cluster-secret";
    for (auto& [name, value] : extra_env) environment[name] = value;
    int out[2];
    if (pipe(out) != 0) throw std::runtime_error("pipe");
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], STDOUT_FILENO);
      close(out[0]);
      close(out[1]);
      const int err = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      dup2(err, STDERR_FILENO);
      for (const auto& [name, value] : environment) {
        if (value.empty()) {
          unsetenv(name.c_str());
        } else {
          setenv(name.c_str(), value.c_str(), 1);
        }
      }
      std::vector<char*> argv;
      for (auto& arg : args) argv.push_back(arg.data());
      argv.push_back(nullptr);
      execv(DTQ_CLI, argv.data());
      _exit(127);
    }
    close(out[1]);
    stdout_fd_ = out[0];
    if (!wait_listening) return;
    std::string line;
    char c = 0;
    while (read(stdout_fd_, &c, 1) == 1 && c != '\n') line.push_back(c);
    if (line.rfind("LISTENING ", 0) != 0)
      throw std::runtime_error("dtq did not start: \"" + line + "\"");
    url_ = line.substr(10);
  }
  ~DtqProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(stdout_fd_);
  }
  DtqProcess(const DtqProcess&) = delete;
  DtqProcess& operator=(const DtqProcess&) = delete;

  const std::string& url() const { return url_; }
  void signal(int number) { kill(pid_, number); }
  // The exit status (128 + signal when killed), or -1 if it did not end within `limit`.
  int wait_exit(std::chrono::milliseconds limit) {
    int status = 0;
    if (!dtq::testing::eventually([&] { return waitpid(pid_, &status, WNOHANG) == pid_; }, limit,
                                  20ms)) {
      return -1;
    }
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  // The next line it prints on stdout (after LISTENING: GRPC_LISTENING …).
  std::string read_line() {
    std::string line;
    char c = 0;
    while (read(stdout_fd_, &c, 1) == 1 && c != '\n') line.push_back(c);
    return line;
  }
  // Everything it printed on stdout, until it closed it.
  std::string read_stdout() {
    std::string out;
    char buffer[4096];
    for (ssize_t n; (n = read(stdout_fd_, buffer, sizeof buffer)) > 0;)
      out.append(buffer, static_cast<size_t>(n));
    return out;
  }

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string url_;
};

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// --- HTTP -----------------------------------------------------------------------

struct Reply {
  long code = 0;
  std::string body;
};

size_t collect(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

Reply http(const std::string& method, const std::string& url, const std::string& body = "") {
  CURL* curl = curl_easy_init();
  Reply reply;
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: application/json");
  headers = curl_slist_append(headers, (std::string("Authorization: Bearer ") + kToken).c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
  if (method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  if (curl_easy_perform(curl) == CURLE_OK)
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.code);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return reply;
}

// Runs `work(i)` for i in [0, count) on `threads` threads.
template <class Work>
void in_parallel(int count, int threads, Work work) {
  std::atomic<int> next{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (int i; (i = next++) < count;) work(i);
    });
  }
  for (auto& thread : pool) thread.join();
}

// Every look is a round trip to a server or process: one per 100 ms.
template <class Predicate>
bool eventually(Predicate done, std::chrono::milliseconds limit) {
  return dtq::testing::eventually(std::move(done), limit, 100ms);
}

// --- looking at the servers directly ----------------------------------------------

// The contract hash job:<id>:status of each job, read with plain hiredis.
class RawRedis {
 public:
  RawRedis() {
    const auto [host, port] = redis_address();
    context_ = redisConnect(host.c_str(), port);
  }
  ~RawRedis() {
    if (context_ != nullptr) redisFree(context_);
  }
  bool ok() const { return context_ != nullptr && context_->err == 0; }

  std::map<std::string, std::string> status(const std::string& job_id) {
    std::map<std::string, std::string> fields;
    auto* reply =
        static_cast<redisReply*>(redisCommand(context_, "HGETALL job:%s:status", job_id.c_str()));
    if (reply == nullptr) return fields;
    for (size_t i = 0; i + 1 < reply->elements; i += 2) {
      fields.emplace(std::string(reply->element[i]->str, reply->element[i]->len),
                     std::string(reply->element[i + 1]->str, reply->element[i + 1]->len));
    }
    freeReplyObject(reply);
    return fields;
  }

  void del(const std::string& key) {
    auto* reply =
        static_cast<redisReply*>(redisCommand(context_, "DEL %b", key.data(), key.size()));
    if (reply != nullptr) freeReplyObject(reply);
  }

  // A string key's value; "(none)" when it is not a string.
  std::string get(const std::string& key) {
    auto* reply =
        static_cast<redisReply*>(redisCommand(context_, "GET %b", key.data(), key.size()));
    std::string value = reply != nullptr && reply->type == REDIS_REPLY_STRING
                            ? std::string(reply->str, reply->len)
                            : "(none)";
    if (reply != nullptr) freeReplyObject(reply);
    return value;
  }

 private:
  redisContext* context_ = nullptr;
};

// dtq.job_results, read with plain libmongoc.
class RawMongo {
 public:
  RawMongo() {
    mongoc_init();
    client_ = mongoc_client_new(Servers::env().at("DTQ_MONGODB_URI").c_str());
    collection_ = mongoc_client_get_collection(client_, "dtq", "job_results");
  }
  ~RawMongo() {
    mongoc_collection_destroy(collection_);
    mongoc_client_destroy(client_);
  }
  // -1 on error.
  int64_t count(const bson_t* filter) {
    bson_error_t error;
    return mongoc_collection_count_documents(collection_, filter, nullptr, nullptr, nullptr,
                                             &error);
  }
  int64_t count_all() {
    bson_t empty = BSON_INITIALIZER;
    const int64_t n = count(&empty);
    bson_destroy(&empty);
    return n;
  }
  // How many documents have one of `ids` and final_state "completed".
  int64_t count_completed(const std::vector<std::string>& ids) {
    bson_t filter = BSON_INITIALIZER;
    bson_t job_id;
    bson_t in;
    BSON_APPEND_DOCUMENT_BEGIN(&filter, "job_id", &job_id);
    BSON_APPEND_ARRAY_BEGIN(&job_id, "$in", &in);
    for (size_t i = 0; i < ids.size(); ++i)
      BSON_APPEND_UTF8(&in, std::to_string(i).c_str(), ids[i].c_str());
    bson_append_array_end(&job_id, &in);
    bson_append_document_end(&filter, &job_id);
    BSON_APPEND_UTF8(&filter, "final_state", "completed");
    const int64_t n = count(&filter);
    bson_destroy(&filter);
    return n;
  }
  bool drop() {
    bson_error_t error;
    if (mongoc_collection_drop(collection_, &error)) return true;
    // 26: NamespaceNotFound, nothing to drop.
    return error.code == 26 || std::string(error.message).find("not found") != std::string::npos;
  }

 private:
  mongoc_client_t* client_ = nullptr;
  mongoc_collection_t* collection_ = nullptr;
};

// --- the test ---------------------------------------------------------------------

std::string payload_for(const std::string& type, int i) {
  static const std::vector<std::string> cities = {"Austin", "Berlin", "Tokyo", "Sydney"};
  static const std::vector<std::string> countries = {"US", "DE", "JP", "AU"};
  if (type == "weather") {
    return R"({"city":")" + cities[i % 4] + R"(","country_code":")" + countries[i % 4] + R"("})";
  }
  if (type == "quote") return R"({"max_length":200})";
  if (type == "exchange_rate")
    return R"({"base":"USD","target":"EUR","amount":)" + std::to_string(1 + i) + "}";
  return i % 2 == 0 ? R"({"username":"octocat"})" : R"({"username":"torvalds"})";
}

class DistributedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::shared_fake_provider().reset();
    logs_ = fs::temp_directory_path() / ("dtq-distributed-logs-" + new_uuid4());
    fs::create_directories(logs_);
  }
  void TearDown() override {
    if (HasFailure()) {
      for (const auto& entry : fs::directory_iterator(logs_)) {
        const std::string text = read_file(entry.path());
        std::cerr << "--- " << entry.path().filename().string() << " (last 3000 bytes) ---\n"
                  << text.substr(text.size() > 3000 ? text.size() - 3000 : 0) << "\n";
      }
    }
    fs::remove_all(logs_);
  }

  std::unique_ptr<DtqProcess> start_worker(const std::string& type) {
    return std::make_unique<DtqProcess>(
        std::vector<std::string>{"worker", "--only", type, "--concurrency",
                                 type == "weather" ? "4" : "8", "--drain-grace-ms", "5000"},
        logs_ / ("worker-" + type + ".log"), false);
  }

  fs::path logs_;
};

TEST_F(DistributedTest, ThousandJobsFourPoolsOneKilledAndRestarted) {
  RawMongo mongo;
  ASSERT_TRUE(mongo.drop());  // "exactly 1,000" counts this run's documents only
  RawRedis redis;
  ASSERT_TRUE(redis.ok());
  // Weather jobs take a while, so the pool is killed with jobs in flight.
  testing::shared_fake_provider().add_fault(
      R"({"path":"/v1/forecast","kind":"latency","delay_ms":300,"times":-1})");

  DtqProcess api({"api", "--listen", "127.0.0.1:0", "--submit-rate", "100000"}, logs_ / "api.log",
                 true);
  std::map<std::string, std::unique_ptr<DtqProcess>> workers;
  for (const auto& type : kTypes) workers[type] = start_worker(type);

  // Every pool registered (Redis registry), and the API ready.
  const auto pools_of = [&]() {
    std::map<std::string, uint32_t> pools;
    const Reply reply = http("GET", api.url() + "/v1/job-types");
    const json body = json::parse(reply.body, nullptr, false);
    if (reply.code != 200 || body.is_discarded()) return pools;
    for (const auto& type : body["job_types"])
      pools[type["job_type"]] = type["pools"].get<uint32_t>();
    return pools;
  };
  ASSERT_TRUE(eventually(
      [&] {
        auto pools = pools_of();
        return pools.size() == 4 &&
               std::all_of(pools.begin(), pools.end(), [](auto& p) { return p.second == 1; });
      },
      60s))
      << http("GET", api.url() + "/v1/job-types").body;
  EXPECT_EQ(http("GET", api.url() + "/readyz").code, 200);

  // Payloads are validated by the owning pool's plugin, over gRPC.
  const Reply invalid =
      http("POST", api.url() + "/v1/jobs", R"({"job_type":"weather","payload":{"city":""}})");
  EXPECT_EQ(invalid.code, 400) << invalid.body;
  EXPECT_THAT(invalid.body, HasSubstr(R"("field":"/city")"));
  EXPECT_EQ(http("POST", api.url() + "/v1/jobs", R"({"job_type":"nope","payload":{}})").code, 404);

  // 1,000 mixed jobs over REST.
  std::vector<std::string> ids(kJobs);
  std::vector<std::string> types(kJobs);
  std::atomic<int> refused{0};
  in_parallel(kJobs, 8, [&](int i) {
    types[i] = kTypes[static_cast<size_t>(i) % kTypes.size()];
    const Reply reply =
        http("POST", api.url() + "/v1/jobs",
             R"({"job_type":")" + types[i] + R"(","payload":)" + payload_for(types[i], i) + "}");
    const json body = json::parse(reply.body, nullptr, false);
    if (reply.code != 202 || body.is_discarded()) {
      if (refused++ < 5) ADD_FAILURE() << "submit " << i << ": " << reply.code << " " << reply.body;
      return;
    }
    ids[i] = body["job_id"];
  });
  ASSERT_EQ(refused.load(), 0);

  const auto terminal_of = [&](const std::string& type) {
    int done = 0;
    RawRedis reader;
    for (int i = 0; i < kJobs; ++i) {
      if (!type.empty() && types[i] != type) continue;
      const std::string state = reader.status(ids[i])["state"];
      if (state == "completed" || state == "failed" || state == "cancelled") ++done;
    }
    return done;
  };
  // The weather pool is SIGKILLed mid-run (once its jobs have made 40
  // forecast calls, with more in flight: each call takes 300 ms) and
  // started again. (Not while jobs are being submitted: with no live
  // weather pool, no worker can validate a weather payload, and the API
  // refuses it.)
  ASSERT_TRUE(eventually(
      [&] { return testing::shared_fake_provider().request_count("/v1/forecast") >= 40; }, 120s))
      << "the weather pool made no progress";
  const size_t weather_calls_at_kill =
      testing::shared_fake_provider().request_count("/v1/forecast");
  workers["weather"]->signal(SIGKILL);
  EXPECT_EQ(workers["weather"]->wait_exit(10s), 128 + SIGKILL);
  const auto killed_at = std::chrono::steady_clock::now();
  const int weather_ended_then = terminal_of("weather");
  EXPECT_LT(weather_ended_then, kJobs / 4) << "weather ran too fast to have been killed mid-run";
  workers["weather"] = start_worker("weather");

  // Progress queries while the jobs run: each answered with its own job.
  std::atomic<bool> querying{true};
  std::atomic<int> queried{0};
  std::atomic<int> mismatched{0};
  std::thread asker([&] {
    for (int i = 0; querying; i = (i + 37) % kJobs) {
      const Reply reply = http("GET", api.url() + "/v1/jobs/" + ids[i] + "/status");
      const json body = json::parse(reply.body, nullptr, false);
      if (reply.code == 200 && !body.is_discarded() && body.value("job_id", "") == ids[i]) {
        ++queried;
      } else if (mismatched++ < 5) {
        ADD_FAILURE() << "status of " << ids[i] << ": " << reply.code << " " << reply.body;
      }
    }
  });

  ASSERT_TRUE(eventually([&] { return terminal_of("") == kJobs; }, 180s))
      << terminal_of("") << " of " << kJobs << " ended (weather " << terminal_of("weather") << ")";
  querying = false;
  asker.join();
  std::cerr << "weather pool killed after " << weather_calls_at_kill << " forecast calls, with "
            << weather_ended_then << " of " << kJobs / 4 << " weather jobs ended; every job ended "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - killed_at)
                   .count()
            << " ms after that; " << queried.load() << " progress queries answered meanwhile"
            << std::endl;
  EXPECT_GT(queried.load(), 0);
  EXPECT_EQ(mismatched.load(), 0);

  // Every status in Redis: the contract hash, completed at 100.
  for (int i = 0; i < kJobs; ++i) {
    auto status = redis.status(ids[i]);
    EXPECT_EQ(status["state"], "completed")
        << types[i] << " " << ids[i] << " " << status["error_code"] << " "
        << status["error_message"];
    EXPECT_EQ(status["progress_percent"], "100") << ids[i];
    EXPECT_EQ(status["job_id"], ids[i]);
    EXPECT_FALSE(status["updated_at"].empty()) << ids[i];
  }
  // Exactly 1,000 results in MongoDB, one per job, none lost, none twice.
  EXPECT_EQ(mongo.count_all(), kJobs);
  EXPECT_EQ(mongo.count_completed(ids), kJobs);

  // Every progress query, through RabbitMQ and whichever worker takes it,
  // answered with its own job.
  std::atomic<int> wrong{0};
  in_parallel(kJobs, 16, [&](int i) {
    const Reply reply = http("GET", api.url() + "/v1/jobs/" + ids[i] + "/status");
    const json body = json::parse(reply.body, nullptr, false);
    if (reply.code != 200 || body.is_discarded() || body.value("job_id", "") != ids[i] ||
        body.value("state", "") != "completed" || body.value("progress_percent", -1) != 100) {
      if (wrong++ < 5)
        ADD_FAILURE() << "status of " << ids[i] << ": " << reply.code << " " << reply.body;
    }
  });
  EXPECT_EQ(wrong.load(), 0);
  // A job nobody knows: 404 through the same path.
  EXPECT_EQ(http("GET", api.url() + "/v1/jobs/" + new_uuid4() + "/status").code, 404);

  // The killed pool stopped beating and left the registry; its successor stays.
  EXPECT_TRUE(eventually([&] { return pools_of()["weather"] == 1; }, 20s)) << pools_of()["weather"];

  // A job that fails for good lands in Kafka's dead letters; the verbs see
  // it and replay it.
  const Reply failing =
      http("POST", api.url() + "/v1/jobs",
           R"({"job_type":"github_user","payload":{"username":"no-such-user-dtq"}})");
  ASSERT_EQ(failing.code, 202) << failing.body;
  const std::string failed_id = json::parse(failing.body)["job_id"];
  ASSERT_TRUE(eventually([&] { return redis.status(failed_id)["state"] == "failed"; }, 60s))
      << redis.status(failed_id)["state"];

  // GET /v1/jobs from the Redis index: the newest job first, filters, and
  // cursor paging that yields every weather job of this run once.
  const auto list_jobs = [&](const std::string& query) {
    const Reply reply = http("GET", api.url() + "/v1/jobs?" + query);
    EXPECT_EQ(reply.code, 200) << query << ": " << reply.body;
    const json body = json::parse(reply.body, nullptr, false);
    return body.is_discarded() ? json::object() : body;
  };
  const json newest = list_jobs("limit=1");
  ASSERT_EQ(newest.value("jobs", json::array()).size(), 1u) << newest.dump();
  EXPECT_EQ(newest["jobs"][0].value("job_id", ""), failed_id);
  EXPECT_TRUE(newest["next_cursor"].is_string()) << newest.dump();
  const json failed_jobs = list_jobs("state=failed&job_type=github_user&limit=5");
  ASSERT_FALSE(failed_jobs.value("jobs", json::array()).empty()) << failed_jobs.dump();
  EXPECT_EQ(failed_jobs["jobs"][0].value("job_id", ""), failed_id);
  std::multiset<std::string> weather_listed;
  std::string cursor;
  for (int pages = 0; pages < 100; ++pages) {
    const json page = list_jobs("job_type=weather&state=completed&limit=100" +
                                (cursor.empty() ? "" : "&cursor=" + cursor));
    for (const auto& job : page.value("jobs", json::array())) {
      EXPECT_EQ(job.value("job_type", ""), "weather") << job.dump();
      EXPECT_EQ(job.value("state", ""), "completed") << job.dump();
      weather_listed.insert(job.value("job_id", ""));
    }
    if (!page.contains("next_cursor") || !page["next_cursor"].is_string()) break;
    cursor = page["next_cursor"];
  }
  for (int i = 0; i < kJobs; ++i) {
    if (types[i] == "weather") {
      EXPECT_EQ(weather_listed.count(ids[i]), 1u) << ids[i];
    }
  }
  EXPECT_EQ(http("GET", api.url() + "/v1/jobs?cursor=not-a-cursor").code, 400);
  DtqProcess letters({"dead-letters", "--type", "github_user"}, logs_ / "dead-letters.log", false);
  const std::string listed = letters.read_stdout();
  EXPECT_EQ(letters.wait_exit(30s), 0);
  EXPECT_THAT(listed, HasSubstr(failed_id));
  DtqProcess replay({"replay", failed_id}, logs_ / "replay.log", false);
  std::string replayed = replay.read_stdout();
  EXPECT_EQ(replay.wait_exit(30s), 0);
  while (!replayed.empty() && replayed.back() == '\n') replayed.pop_back();
  EXPECT_TRUE(is_uuid(replayed)) << replayed;
  EXPECT_TRUE(eventually([&] { return !redis.status(replayed)["state"].empty(); }, 30s));

  // The same dead letters through `dtq api`, on Kafka: listed with the
  // replay the CLI made; a failed job retried (its payload from MongoDB);
  // deleted (a delete marker), listed no more; the CLI's replay of every
  // one of the type picks up the replay's own dead letter.
  const auto dead_letter = [&](const std::string& id) {
    const Reply reply = http("GET", api.url() + "/v1/dead-letters?job_type=github_user&limit=500");
    EXPECT_EQ(reply.code, 200) << reply.body;
    const json body = json::parse(reply.body, nullptr, false);
    for (const auto& letter : body.is_discarded() ? json::array() : body["dead_letters"]) {
      if (letter.value("job_id", "") == id) return letter;
    }
    return json();
  };
  EXPECT_EQ(dead_letter(failed_id).value("replayed_as", json()), json(replayed));
  const Reply retried = http("POST", api.url() + "/v1/jobs/" + failed_id + ":retry");
  ASSERT_EQ(retried.code, 202) << retried.body;
  const std::string retry_id = json::parse(retried.body)["job_id"];
  EXPECT_TRUE(eventually([&] { return redis.status(retry_id)["state"] == "failed"; }, 60s))
      << redis.status(retry_id)["state"];
  EXPECT_EQ(http("DELETE", api.url() + "/v1/dead-letters/" + failed_id).code, 200);
  EXPECT_TRUE(dead_letter(failed_id).is_null());
  EXPECT_EQ(http("DELETE", api.url() + "/v1/dead-letters/" + failed_id).code, 404);
  EXPECT_EQ(http("POST", api.url() + "/v1/dead-letters/" + failed_id + ":replay").code, 404);
  ASSERT_TRUE(eventually([&] { return dead_letter(replayed).is_object(); }, 60s));
  DtqProcess replay_all({"replay", "--type", "github_user"}, logs_ / "replay-all.log", false);
  const std::string replayed_all = replay_all.read_stdout();
  EXPECT_EQ(replay_all.wait_exit(30s), 0);
  EXPECT_THAT(replayed_all, ::testing::MatchesRegex("replayed [1-9][0-9]*\n"));
  EXPECT_TRUE(dead_letter(replayed).value("replayed_as", json()).is_string());

  // SIGTERM: each pool leaves the registry at once and exits 0.
  for (auto& [type, worker] : workers) worker->signal(SIGTERM);
  for (auto& [type, worker] : workers) EXPECT_EQ(worker->wait_exit(60s), 0) << type;
  EXPECT_TRUE(pools_of().empty());
  api.signal(SIGTERM);
  EXPECT_EQ(api.wait_exit(20s), 0);
}

// Runs scripts/servers/redis.sh COMMAND on the servers' Redis.
bool redis_script(const std::string& command) {
  const fs::path state = Servers::state() / "redis";
  std::string port = read_file(state / "port");
  while (!port.empty() && (port.back() == '\n' || port.back() == ' ')) port.pop_back();
  const std::string line = "DTQ_SERVERS_DIR='" + (state / "servers").string() +
                           "' DTQ_REDIS_PORT=" + port + " '" + DTQ_SOURCE_DIR +
                           "/scripts/servers/redis.sh' " + command + " >&2";
  return std::system(line.c_str()) == 0;
}

TEST_F(DistributedTest, ARedisOutageShowsInReadyzAndTheProcessesRecover) {
  DtqProcess api({"api", "--listen", "127.0.0.1:0"}, logs_ / "api.log", true);
  auto worker = start_worker("quote");
  ASSERT_TRUE(eventually(
      [&] {
        return http("GET", api.url() + "/v1/job-types").body.find(R"("pools":1)") !=
               std::string::npos;
      },
      60s));
  ASSERT_EQ(http("GET", api.url() + "/readyz").code, 200);

  ASSERT_TRUE(redis_script("stop"));
  Reply ready;
  EXPECT_TRUE(eventually(
      [&] {
        ready = http("GET", api.url() + "/readyz");
        return ready.code == 503;
      },
      10s));
  EXPECT_THAT(ready.body, HasSubstr("backends unavailable: redis: "));
  ASSERT_TRUE(redis_script("start"));
  EXPECT_TRUE(eventually([&] { return http("GET", api.url() + "/readyz").code == 200; }, 20s))
      << http("GET", api.url() + "/readyz").body;

  // Both ends work again: a job submitted now runs to completion, and the
  // pool is listed (its heartbeat wrote it again).
  const Reply submitted =
      http("POST", api.url() + "/v1/jobs", R"({"job_type":"quote","payload":{"max_length":200}})");
  ASSERT_EQ(submitted.code, 202) << submitted.body;
  const std::string id = json::parse(submitted.body)["job_id"];
  RawRedis redis;
  EXPECT_TRUE(eventually([&] { return redis.status(id)["state"] == "completed"; }, 60s))
      << redis.status(id)["state"];
  EXPECT_TRUE(eventually(
      [&] {
        return http("GET", api.url() + "/v1/job-types").body.find(R"("pools":1)") !=
               std::string::npos;
      },
      20s));
  const std::string api_log = read_file(logs_ / "api.log");
  EXPECT_THAT(api_log, HasSubstr("backend redis is unavailable"));
  EXPECT_THAT(api_log, HasSubstr("backend redis is available again"));
  worker->signal(SIGTERM);
  EXPECT_EQ(worker->wait_exit(30s), 0);
  api.signal(SIGTERM);
  EXPECT_EQ(api.wait_exit(20s), 0);
}

// A pool of the poison fixture, whose jobs crash or exit their runner,
// beside a quote pool: every poison job ends failed and dead-lettered, the
// poison worker stays up, and quote jobs keep completing.
TEST_F(DistributedTest, APoisonPluginNeverTakesItsWorkerDown) {
  const fs::path plugins = logs_ / "plugins";
  fs::create_directories(plugins);
  fs::create_symlink(fs::path(DTQ_PLUGIN_DIR) / "quote.so", plugins / "quote.so");
  fs::create_symlink(fs::path(DTQ_TEST_PLUGIN_DIR) / "poison.so", plugins / "poison.so");
  DtqProcess api({"api", "--listen", "127.0.0.1:0"}, logs_ / "api.log", true);
  DtqProcess poison_worker(
      {"worker", "--only", "poison", "--max-attempts", "2", "--concurrency", "2"},
      logs_ / "worker-poison.log", false, {}, plugins);
  DtqProcess quote_worker({"worker", "--only", "quote"}, logs_ / "worker-quote.log", false, {},
                          plugins);
  ASSERT_TRUE(eventually(
      [&] {
        const std::string types = http("GET", api.url() + "/v1/job-types").body;
        return types.find(R"("job_type":"poison")") != std::string::npos &&
               types.find(R"("job_type":"quote")") != std::string::npos;
      },
      60s));

  const auto submit = [&](const std::string& type, const std::string& payload) {
    const Reply submitted = http("POST", api.url() + "/v1/jobs",
                                 R"({"job_type":")" + type + R"(","payload":)" + payload + "}");
    EXPECT_EQ(submitted.code, 202) << submitted.body;
    return submitted.code == 202 ? json::parse(submitted.body)["job_id"].get<std::string>()
                                 : std::string();
  };
  std::vector<std::string> poison;
  for (const char* action : {"segv", "abort", "exit"}) {
    poison.push_back(submit("poison", std::string(R"({"do":")") + action + R"("})"));
  }
  std::vector<std::string> quotes;
  for (int i = 0; i < 10; ++i) quotes.push_back(submit("quote", R"({"max_length":200})"));

  RawRedis redis;
  for (const auto& id : quotes) {
    EXPECT_TRUE(eventually([&] { return redis.status(id)["state"] == "completed"; }, 60s)) << id;
  }
  for (const auto& id : poison) {
    EXPECT_TRUE(eventually([&] { return redis.status(id)["state"] == "failed"; }, 60s))
        << id << " " << redis.status(id)["state"];
    EXPECT_EQ(redis.status(id)["error_code"], "plugin_crashed") << id;
  }
  DtqProcess letters({"dead-letters", "--type", "poison"}, logs_ / "dead-letters.log", false);
  const std::string listed = letters.read_stdout();
  EXPECT_EQ(letters.wait_exit(30s), 0);
  for (const auto& id : poison) EXPECT_THAT(listed, HasSubstr(id));
  EXPECT_THAT(read_file(logs_ / "worker-poison.log"), HasSubstr("killed by signal SIGSEGV"));
  // The API sees the crash loop through the registry: on the job type and
  // in /readyz, still 200.
  EXPECT_TRUE(eventually(
      [&] {
        return http("GET", api.url() + "/v1/job-types").body.find(R"("crash_looping":true)") !=
               std::string::npos;
      },
      30s));
  const Reply ready = http("GET", api.url() + "/readyz");
  EXPECT_EQ(ready.code, 200);
  EXPECT_THAT(ready.body, HasSubstr(R"("job_type":"poison")"));

  // Still up: both workers drain and exit cleanly.
  poison_worker.signal(SIGTERM);
  EXPECT_EQ(poison_worker.wait_exit(30s), 0);
  quote_worker.signal(SIGTERM);
  EXPECT_EQ(quote_worker.wait_exit(30s), 0);
  api.signal(SIGTERM);
  EXPECT_EQ(api.wait_exit(20s), 0);
}

// Pausing a job type through `dtq api`: the paused set in Redis reaches the
// worker within a registry heartbeat (2 s); a worker restarted meanwhile
// comes up paused, and the job submitted meanwhile waits, queued; resumed,
// it runs.
TEST_F(DistributedTest, APauseThroughTheApiReachesTheWorkersWithinAHeartbeat) {
  RawRedis redis;
  ASSERT_TRUE(redis.ok());
  const std::string paused_key = "dtq:registry:paused";
  redis.del(paused_key);
  // The key has no TTL: whatever happens here, no later test finds quote paused.
  struct Unpause {
    RawRedis& redis;
    std::string key;
    ~Unpause() { redis.del(key); }
  } unpause{redis, paused_key};
  DtqProcess api({"api", "--listen", "127.0.0.1:0"}, logs_ / "api.log", true);
  auto worker = start_worker("quote");
  const auto listed = [&] { return http("GET", api.url() + "/v1/job-types").body; };
  ASSERT_TRUE(
      eventually([&] { return listed().find(R"("job_type":"quote")") != std::string::npos; }, 60s));
  const auto logged = [&](const std::string& line) {
    return read_file(logs_ / "worker-quote.log").find(line) != std::string::npos;
  };

  const auto asked = std::chrono::steady_clock::now();
  const Reply paused = http("POST", api.url() + "/v1/job-types/quote:pause");
  ASSERT_EQ(paused.code, 200) << paused.body;
  EXPECT_THAT(listed(), HasSubstr(R"("paused":true)"));
  ASSERT_TRUE(eventually([&] { return logged("pool job_type=quote paused"); }, 10s));
  EXPECT_LT(std::chrono::steady_clock::now() - asked, 5s) << "the worker took too long";
  EXPECT_EQ(http("POST", api.url() + "/v1/job-types/nope:pause").code, 404);

  const Reply submitted =
      http("POST", api.url() + "/v1/jobs", R"({"job_type":"quote","payload":{"max_length":200}})");
  ASSERT_EQ(submitted.code, 202) << submitted.body;
  const std::string held = json::parse(submitted.body)["job_id"].get<std::string>();

  // A restart of the worker: the new one pauses its pool as it registers.
  worker->signal(SIGTERM);
  EXPECT_EQ(worker->wait_exit(30s), 0);
  fs::rename(logs_ / "worker-quote.log", logs_ / "worker-quote-before-restart.log");
  worker = start_worker("quote");
  ASSERT_TRUE(eventually([&] { return logged("pool job_type=quote paused"); }, 30s));
  EXPECT_THAT(listed(), HasSubstr(R"("paused":true)"));
  EXPECT_EQ(redis.status(held)["state"], "queued");

  const Reply resumed = http("POST", api.url() + "/v1/job-types/quote:resume");
  ASSERT_EQ(resumed.code, 200) << resumed.body;
  EXPECT_TRUE(eventually([&] { return redis.status(held)["state"] == "completed"; }, 30s))
      << redis.status(held)["state"];
  EXPECT_TRUE(logged("pool job_type=quote resumed"));
  EXPECT_THAT(listed(), HasSubstr(R"("paused":false)"));

  worker->signal(SIGTERM);
  EXPECT_EQ(worker->wait_exit(30s), 0);
  api.signal(SIGTERM);
  EXPECT_EQ(api.wait_exit(20s), 0);
}

// The job history in distributed mode: the API records the submit, the
// worker the attempt (with its identity) and the end, both into MongoDB's
// job_events, and the API reads them back in order.
TEST_F(DistributedTest, TheHistoryOfAJobJoinsTheApisAndTheWorkersEvents) {
  DtqProcess api({"api", "--listen", "127.0.0.1:0"}, logs_ / "api.log", true);
  auto worker = start_worker("quote");
  ASSERT_TRUE(eventually(
      [&] {
        return http("GET", api.url() + "/v1/job-types").body.find(R"("job_type":"quote")") !=
               std::string::npos;
      },
      60s));
  const Reply submitted =
      http("POST", api.url() + "/v1/jobs", R"({"job_type":"quote","payload":{"max_length":200}})");
  ASSERT_EQ(submitted.code, 202) << submitted.body;
  const std::string id = json::parse(submitted.body)["job_id"].get<std::string>();
  json events;
  ASSERT_TRUE(eventually(
      [&] {
        const Reply reply = http("GET", api.url() + "/v1/jobs/" + id + "/history");
        if (reply.code != 200) return false;
        events = json::parse(reply.body)["events"];
        return events.size() >= 3;
      },
      60s))
      << events.dump();
  ASSERT_EQ(events.size(), 3u) << events.dump();
  EXPECT_EQ(events[0]["kind"], "submitted");
  EXPECT_EQ(events[1]["kind"], "started");
  EXPECT_EQ(events[1]["attempt"], 1);
  EXPECT_THAT(events[1]["worker"].get<std::string>(), HasSubstr("(worker)"));
  EXPECT_EQ(events[2]["kind"], "completed");
  EXPECT_EQ(http("GET", api.url() + "/v1/jobs/" + new_uuid4() + "/history").code, 404);

  worker->signal(SIGTERM);
  EXPECT_EQ(worker->wait_exit(30s), 0);
  api.signal(SIGTERM);
  EXPECT_EQ(api.wait_exit(20s), 0);
}

// Delayed jobs in distributed mode: held in Redis's schedule while they
// wait (their status read from there through either replica), moved to
// Kafka when due by one of two dtq api replicas' schedulers, and run once;
// a waiting job cancelled through the other replica never runs.
TEST_F(DistributedTest, TwoApiReplicasMoveADueJobToKafkaOnceAndACancelledOneNever) {
  DtqProcess first({"api", "--listen", "127.0.0.1:0"}, logs_ / "api-1.log", true);
  DtqProcess second({"api", "--listen", "127.0.0.1:0"}, logs_ / "api-2.log", true);
  auto worker = start_worker("quote");
  ASSERT_TRUE(eventually(
      [&] {
        return http("GET", first.url() + "/v1/job-types").body.find(R"("job_type":"quote")") !=
               std::string::npos;
      },
      60s));
  const auto submit = [&](const std::string& delay) {
    const Reply reply =
        http("POST", first.url() + "/v1/jobs",
             R"({"job_type":"quote","payload":{"max_length":200},"delay_seconds":)" + delay + "}");
    EXPECT_EQ(reply.code, 202) << reply.body;
    return json::parse(reply.body)["job_id"].get<std::string>();
  };
  const auto state_at = [&](const DtqProcess& api, const std::string& id) {
    const Reply reply = http("GET", api.url() + "/v1/jobs/" + id + "/status");
    return reply.code == 200 ? json::parse(reply.body)["state"].get<std::string>() : std::string();
  };
  const std::string due = submit("2");
  const std::string waiting = submit("3600");
  EXPECT_EQ(state_at(second, waiting), "scheduled");
  const Reply cancelled = http("POST", second.url() + "/v1/jobs/" + waiting + "/cancel", "");
  EXPECT_EQ(cancelled.code, 200) << cancelled.body;
  EXPECT_EQ(state_at(first, waiting), "cancelled");

  ASSERT_TRUE(eventually([&] { return state_at(second, due) == "completed"; }, 60s))
      << state_at(second, due);
  json events;
  ASSERT_TRUE(eventually(
      [&] {
        const Reply reply = http("GET", first.url() + "/v1/jobs/" + due + "/history");
        if (reply.code != 200) return false;
        events = json::parse(reply.body)["events"];
        return !events.empty() && events.back()["kind"] == "completed";
      },
      30s))
      << events.dump();
  size_t started = 0;
  for (const auto& event : events) started += event["kind"] == "started" ? 1 : 0;
  EXPECT_EQ(started, 1u) << events.dump();
  EXPECT_EQ(events.front()["kind"], "scheduled") << events.dump();
  EXPECT_EQ(state_at(second, waiting), "cancelled");

  worker->signal(SIGTERM);
  EXPECT_EQ(worker->wait_exit(30s), 0);
  first.signal(SIGTERM);
  second.signal(SIGTERM);
  EXPECT_EQ(first.wait_exit(20s), 0);
  EXPECT_EQ(second.wait_exit(20s), 0);
}

// Hot drop-in on a distributed worker: a library copied into its plugin
// folder gets a pool, is announced to the API through the registry and runs
// jobs; removed, it leaves the registry.
TEST_F(DistributedTest, APluginDroppedIntoAWorkersFolderIsServedAndLeavesWhenRemoved) {
  const fs::path plugins = logs_ / "plugins";
  fs::create_directories(plugins);
  fs::create_symlink(fs::path(DTQ_PLUGIN_DIR) / "quote.so", plugins / "quote.so");
  DtqProcess api({"api", "--listen", "127.0.0.1:0"}, logs_ / "api.log", true);
  DtqProcess worker({"worker", "--data-dir", (logs_ / "worker-data").string()},
                    logs_ / "worker.log", false, {}, plugins);
  const auto offered = [&](const std::string& type) {
    return http("GET", api.url() + "/v1/job-types").body.find(R"("job_type":")" + type + '"') !=
           std::string::npos;
  };
  ASSERT_TRUE(eventually([&] { return offered("quote"); }, 60s));
  ASSERT_FALSE(offered("echo"));

  // Installed the documented way: copied beside, then renamed into place.
  fs::copy_file(fs::path(DTQ_TEST_PLUGIN_DIR) / "echo.so", plugins / ".echo.so.part");
  fs::rename(plugins / ".echo.so.part", plugins / "echo.so");
  ASSERT_TRUE(eventually([&] { return offered("echo"); }, 10s))
      << "echo.so was not announced within 10 s";
  const Reply submitted =
      http("POST", api.url() + "/v1/jobs", R"({"job_type":"echo","payload":{"message":"hot"}})");
  ASSERT_EQ(submitted.code, 202) << submitted.body;
  const std::string id = json::parse(submitted.body)["job_id"].get<std::string>();
  RawRedis redis;
  EXPECT_TRUE(eventually([&] { return redis.status(id)["state"] == "completed"; }, 60s)) << id;

  fs::remove(plugins / "echo.so");
  EXPECT_TRUE(eventually([&] { return !offered("echo"); }, 10s))
      << "echo was still offered 10 s after its library was removed";
  EXPECT_TRUE(offered("quote"));
  worker.signal(SIGTERM);
  EXPECT_EQ(worker.wait_exit(30s), 0);
  api.signal(SIGTERM);
  EXPECT_EQ(api.wait_exit(20s), 0);
}

TEST_F(DistributedTest, TheGrpcJobServiceOfDtqApiRunsAJobOnThePools) {
  DtqProcess api({"api", "--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0"},
                 logs_ / "api.log", true);
  const std::string grpc_line = api.read_line();
  ASSERT_EQ(grpc_line.rfind("GRPC_LISTENING 127.0.0.1:", 0), 0U) << grpc_line;
  auto stub = v1::JobService::NewStub(testing::channel_to(grpc_line.substr(15)));
  auto worker = start_worker("exchange_rate");
  const auto deadline = [](grpc::ClientContext& context) {
    context.set_deadline(std::chrono::system_clock::now() + 30s);
  };
  // Reads need a key too: the operator key.
  const auto reading = [&](grpc::ClientContext& context) {
    deadline(context);
    context.AddMetadata("authorization", std::string("Bearer ") + kToken);
  };

  // The pool's registration reaches the API's ListJobTypes.
  EXPECT_TRUE(eventually(
      [&] {
        grpc::ClientContext context;
        reading(context);
        v1::ListJobTypesResponse types;
        if (!stub->ListJobTypes(&context, {}, &types).ok()) return false;
        for (const auto& type : types.job_types()) {
          if (type.job_type() == "exchange_rate") return true;
        }
        return false;
      },
      30s));

  // A write without the token is refused; with it the pool's plugin
  // validates the payload, then the job runs through Kafka.
  v1::SubmitJobRequest request;
  request.set_job_type("exchange_rate");
  request.set_payload_json(R"({"base":"USD","target":"EUR","amount":10})");
  v1::SubmitJobResponse submitted;
  {
    grpc::ClientContext context;
    deadline(context);
    EXPECT_EQ(stub->SubmitJob(&context, request, &submitted).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext context;
    deadline(context);
    context.AddMetadata("authorization", std::string("Bearer ") + kToken);
    v1::SubmitJobRequest invalid = request;
    invalid.set_payload_json(R"({"base":"USD"})");
    const grpc::Status refused = stub->SubmitJob(&context, invalid, &submitted);
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << refused.error_message();
    EXPECT_EQ(testing::call_error(refused, context).error_code, "invalid_payload");
  }
  {
    grpc::ClientContext context;
    deadline(context);
    context.AddMetadata("authorization", std::string("Bearer ") + kToken);
    request.set_idempotency_key("distributed-" + new_uuid4());
    const grpc::Status accepted = stub->SubmitJob(&context, request, &submitted);
    ASSERT_TRUE(accepted.ok()) << accepted.error_message();
  }
  const std::string id = submitted.job_id();
  EXPECT_EQ(submitted.status().state(), v1::JOB_STATE_QUEUED);
  EXPECT_FALSE(submitted.replayed());
  // The idempotency key lives in Redis (the operator key's keys have no
  // owner): a repeat answers the same job, the key with another payload is
  // ALREADY_EXISTS.
  EXPECT_THAT(RawRedis().get("dtq:idempotency::" + request.idempotency_key()),
              ::testing::StartsWith(id + " "));
  {
    grpc::ClientContext context;
    deadline(context);
    context.AddMetadata("authorization", std::string("Bearer ") + kToken);
    v1::SubmitJobResponse repeated;
    ASSERT_TRUE(stub->SubmitJob(&context, request, &repeated).ok());
    EXPECT_TRUE(repeated.replayed());
    EXPECT_EQ(repeated.job_id(), id);
  }
  {
    grpc::ClientContext context;
    deadline(context);
    context.AddMetadata("authorization", std::string("Bearer ") + kToken);
    v1::SubmitJobRequest other = request;
    other.set_payload_json(R"({"base":"USD","target":"EUR","amount":20})");
    v1::SubmitJobResponse refused;
    const grpc::Status conflict = stub->SubmitJob(&context, other, &refused);
    EXPECT_EQ(conflict.error_code(), grpc::StatusCode::ALREADY_EXISTS) << conflict.error_message();
    EXPECT_EQ(testing::call_error(conflict, context).error_code, "idempotency_conflict");
  }

  // WatchJob: a snapshot first, then every change, ending after completed.
  std::vector<v1::JobStatus> watched;
  {
    grpc::ClientContext context;
    reading(context);
    v1::WatchJobRequest watch;
    watch.set_job_id(id);
    auto reader = stub->WatchJob(&context, watch);
    for (v1::JobStatus status; reader->Read(&status);) watched.push_back(status);
    EXPECT_TRUE(reader->Finish().ok());
  }
  ASSERT_FALSE(watched.empty());
  EXPECT_EQ(watched.back().state(), v1::JOB_STATE_COMPLETED);
  EXPECT_EQ(watched.back().progress_percent(), 100);
  for (size_t i = 1; i < watched.size(); ++i) {
    EXPECT_GE(watched[i].progress_percent(), watched[i - 1].progress_percent());
  }

  // GetJob carries the result from MongoDB; ListJobs (Redis's index) has it first.
  {
    grpc::ClientContext context;
    reading(context);
    v1::GetJobRequest get;
    get.set_job_id(id);
    v1::GetJobResponse job;
    ASSERT_TRUE(stub->GetJob(&context, get, &job).ok());
    EXPECT_EQ(job.result().final_state(), v1::JOB_STATE_COMPLETED);
    EXPECT_THAT(job.result().output_json(), HasSubstr("\"rate\""));
  }
  {
    grpc::ClientContext context;
    reading(context);
    v1::ListJobsRequest list;
    list.set_job_type("exchange_rate");
    list.set_limit(1);
    v1::ListJobsResponse page;
    ASSERT_TRUE(stub->ListJobs(&context, list, &page).ok());
    ASSERT_EQ(page.jobs_size(), 1);
    EXPECT_EQ(page.jobs(0).job_id(), id);
  }

  worker->signal(SIGTERM);
  EXPECT_EQ(worker->wait_exit(30s), 0);
  api.signal(SIGTERM);
  EXPECT_EQ(api.wait_exit(20s), 0);
}

TEST_F(DistributedTest, StartUpFailsClearlyWhenABackendIsUnreachableOrMisconfigured) {
  // Redis on a port nobody listens on.
  {
    DtqProcess worker({"worker", "--only", "quote", "--redis", "redis://127.0.0.1:1/0"},
                      logs_ / "bad-redis.log", false);
    EXPECT_EQ(worker.wait_exit(30s), 1);
    EXPECT_THAT(
        read_file(logs_ / "bad-redis.log"),
        HasSubstr("cannot start: redis (from --redis): cannot connect to redis at 127.0.0.1:1/0"));
  }
  // Kafka nowhere: the API names it and the flag it came from.
  {
    DtqProcess api({"api", "--listen", "127.0.0.1:0"}, logs_ / "bad-kafka.log", false,
                   {{"DTQ_KAFKA_BOOTSTRAP", "127.0.0.1:1"}});
    EXPECT_EQ(api.wait_exit(30s), 1);
    EXPECT_THAT(read_file(logs_ / "bad-kafka.log"),
                HasSubstr("cannot start: kafka (from $DTQ_KAFKA_BOOTSTRAP): kafka at 127.0.0.1:1 "
                          "did not answer"));
  }
  // A malformed URI, with its password hidden.
  {
    DtqProcess api({"api", "--amqp", "amqp://guest:s3cret@127.0.0.1:notaport/%2f"},
                   logs_ / "bad-amqp.log", false);
    EXPECT_EQ(api.wait_exit(30s), 2);
    const std::string log = read_file(logs_ / "bad-amqp.log");
    EXPECT_THAT(log,
                HasSubstr("--amqp: \"amqp://guest:***@127.0.0.1:notaport/%2f\" has a bad port"));
    EXPECT_THAT(log, ::testing::Not(HasSubstr("s3cret")));
  }
  // The MongoDB driver's module missing: named, with where it was looked for.
  {
    DtqProcess worker({"worker", "--only", "quote"}, logs_ / "no-mongo-module.log", false,
                      {{"DTQ_MONGO_MODULE", "/nonexistent/dtq-backend-mongo.so"}});
    EXPECT_EQ(worker.wait_exit(30s), 1);
    EXPECT_THAT(read_file(logs_ / "no-mongo-module.log"),
                HasSubstr("cannot start: mongodb (from $DTQ_MONGODB_URI): mongo: cannot load the "
                          "MongoDB module /nonexistent/dtq-backend-mongo.so"));
  }
  // Only some backends named: which are missing, and how to name them.
  {
    DtqProcess worker({"worker", "--only", "quote"}, logs_ / "partial.log", false,
                      {{"DTQ_MONGODB_URI", ""}, {"DTQ_AMQP_URL", ""}});
    EXPECT_EQ(worker.wait_exit(30s), 2);
    EXPECT_THAT(read_file(logs_ / "partial.log"),
                HasSubstr("missing --mongo (or $DTQ_MONGODB_URI), --amqp (or $DTQ_AMQP_URL)"));
  }
}

// A batch submit through dtq api: each job validated by the pool, the
// accepted ones on Kafka in one enqueue, each run once; a refused one
// answered on its own.
TEST_F(DistributedTest, ABatchSubmitThroughTheApiRunsEachAcceptedJob) {
  DtqProcess api({"api", "--listen", "127.0.0.1:0"}, logs_ / "api.log", true);
  auto worker = start_worker("quote");
  ASSERT_TRUE(eventually(
      [&] {
        return http("GET", api.url() + "/v1/job-types").body.find(R"("job_type":"quote")") !=
               std::string::npos;
      },
      60s));
  std::string body = R"({"jobs":[{"job_type":"quote","payload":{"max_length":5}})";
  for (int i = 0; i < 200; ++i) body += R"(,{"job_type":"quote","payload":{"max_length":200}})";
  const Reply submitted = http("POST", api.url() + "/v1/jobs:batch", body + "]}");
  ASSERT_EQ(submitted.code, 200) << submitted.body;
  const json results = json::parse(submitted.body)["results"];
  ASSERT_EQ(results.size(), 201u);
  EXPECT_EQ(results[0]["error"]["code"], "invalid_payload") << results[0].dump();
  std::set<std::string> ids;
  for (size_t i = 1; i < results.size(); ++i) ids.insert(results[i].value("job_id", ""));
  ASSERT_EQ(ids.size(), 200u);
  ASSERT_FALSE(ids.contains(""));
  // Each ends completed.
  std::set<std::string> completed;
  EXPECT_TRUE(eventually(
      [&] {
        for (const auto& id : ids) {
          if (completed.contains(id)) continue;
          const Reply job = http("GET", api.url() + "/v1/jobs/" + id);
          if (job.code == 200 && json::parse(job.body)["status"]["state"] == "completed") {
            completed.insert(id);
          }
        }
        return completed.size() == ids.size();
      },
      120s))
      << completed.size() << " of " << ids.size() << " completed";

  worker->signal(SIGTERM);
  EXPECT_EQ(worker->wait_exit(30s), 0);
  api.signal(SIGTERM);
  EXPECT_EQ(api.wait_exit(20s), 0);
}

}  // namespace
}  // namespace dtq
