// Distributed mode end to end: Redis, RabbitMQ, Kafka and FerretDB started
// by their scripts (tests/functional/distributed_servers.sh, loopback ports
// of their own, in a temp folder), the real `dtq api` and one
// `dtq worker --only bench_noop` hosting only the no-op plugin. Prints:
//  - N no-op jobs submitted over REST (HTTP/1.1 keep-alive, a few
//    connections): accepted per second, submit latency, and how fast the
//    worker completed them through Kafka (the API's /metrics counter, fed by
//    Redis pub/sub);
//  - submit -> completed as a client sees it: the submit, then the job's SSE
//    stream (GET /v1/jobs/{id}/events) until its completed event;
//  - the RabbitMQ progress request-reply (RabbitProgressQuery against the
//    worker's ProgressResponder) for jobs of the first phase: one at a time,
//    then 1,000 requests in flight at once.
//
//   distributed_bench [--jobs N] [--connections C] [--concurrency W]
//                     [--followers K] [--follow-seconds S] [--rpc-rounds R]
//                     [--handler-threads N]   (dtq api's; 0: handlers on the reactors)
//                     [--alone 0|1]   (each server alone first; 1 by default)
//
// Every process and server it started is stopped on the way out (also on
// SIGINT/SIGTERM); if the servers cannot start it says why and exits 1.
// Client, API, worker and four servers share the machine's cores, so the
// figures are a floor. Nothing here asserts a time.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <latch>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_http.hpp"
#include "dtq/core/ids.hpp"
#include "dtq/core/logging.hpp"
#include "dtq/core/time.hpp"
#include "dtq/kafka/kafka_job_queue.hpp"
#include "dtq/mongo/mongo_result_store.hpp"
#include "dtq/mongo/mongo_uri.hpp"
#include "dtq/rabbitmq/rabbit_progress_query.hpp"
#include "dtq/redis/redis_status_store.hpp"
#include "dtq/redis/redis_uri.hpp"

namespace {

using dtq::bench::Connection;
using dtq::bench::FollowPhase;
using dtq::bench::job_id_of;
using dtq::bench::ms_since;
using dtq::bench::percentile;
using dtq::bench::run_followers;
using dtq::bench::SteadyClock;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr const char* kToken = "distributed-bench-token";
constexpr const char* kSubmitBody = R"({"job_type":"bench_noop","payload":{}})";
const std::vector<std::string> kServers = {"redis", "rabbitmq", "kafka", "ferretdb"};
const std::string kServersScript =
    std::string(DTQ_SOURCE_DIR) + "/tests/functional/distributed_servers.sh";

struct Options {
  size_t jobs = 5000;
  int connections = 4;
  int concurrency = 32;  // the worker's
  int followers = 4;
  double follow_seconds = 5;
  int rpc_rounds = 3;       // of 1,000 concurrent progress requests
  int handler_threads = 0;  // dtq api's --handler-threads; 0: handlers on the reactors
  bool alone = true;        // measure each server alone first
};

Options parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i + 1 < argc; ++i) {
    const std::string flag = argv[i];
    const char* value = argv[i + 1];
    if (flag == "--jobs") {
      options.jobs = std::strtoull(value, nullptr, 10);
    } else if (flag == "--connections") {
      options.connections = std::max(1, std::atoi(value));
    } else if (flag == "--concurrency") {
      options.concurrency = std::max(1, std::atoi(value));
    } else if (flag == "--followers") {
      options.followers = std::max(1, std::atoi(value));
    } else if (flag == "--follow-seconds") {
      options.follow_seconds = std::strtod(value, nullptr);
    } else if (flag == "--rpc-rounds") {
      options.rpc_rounds = std::max(1, std::atoi(value));
    } else if (flag == "--handler-threads") {
      options.handler_threads = std::max(0, std::atoi(value));
    } else if (flag == "--alone") {
      options.alone = std::atoi(value) != 0;
    } else {
      continue;  // flags meant for Google Benchmark binaries (make bench passes one)
    }
    ++i;
  }
  return options;
}

double seconds_between(SteadyClock::time_point from, SteadyClock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

std::string tail_of(const fs::path& path, size_t bytes = 2000) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  const std::string all = text.str();
  return all.substr(all.size() > bytes ? all.size() - bytes : 0);
}

// --- cleanup: every child and server, once, also on SIGINT/SIGTERM ------------

std::mutex g_cleanup_mutex;
std::vector<pid_t> g_children;  // dtq processes, still running
fs::path g_state;               // the servers' folder; empty: none started
bool g_cleaned = false;

void cleanup() {
  std::lock_guard lock(g_cleanup_mutex);
  if (g_cleaned) return;
  g_cleaned = true;
  for (const pid_t pid : g_children) kill(pid, SIGTERM);
  for (const pid_t pid : g_children) {
    // SIGTERM drains; past 10 s, SIGKILL.
    const auto until = SteadyClock::now() + 10s;
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
      if (SteadyClock::now() > until) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
  }
  g_children.clear();
  if (!g_state.empty()) {
    for (const auto& server : kServers) {
      const std::string line =
          "'" + kServersScript + "' " + server + " stop '" + g_state.string() + "' >/dev/null 2>&1";
      (void)std::system(line.c_str());
    }
    std::error_code ignored;
    fs::remove_all(g_state, ignored);
  }
}

// SIGINT/SIGTERM are blocked in every thread; this one waits for them.
void start_signal_thread() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set] {
    int received = 0;
    sigwait(&set, &received);
    std::fprintf(stderr, "distributed_bench: %s; stopping what it started\n",
                 received == SIGINT ? "SIGINT" : "SIGTERM");
    cleanup();
    _exit(128 + received);
  }).detach();
}

// --- the servers ---------------------------------------------------------------

// Starts the four servers at once; their DTQ_* URLs, or nothing (having said why).
std::optional<std::map<std::string, std::string>> start_servers() {
  {
    std::lock_guard lock(g_cleanup_mutex);
    g_state = fs::temp_directory_path() / ("dtq-distributed-bench-" + dtq::new_uuid4());
  }
  fs::create_directories(g_state);
  std::vector<int> results(kServers.size(), -1);
  std::vector<std::thread> starting;
  for (size_t i = 0; i < kServers.size(); ++i) {
    starting.emplace_back([i, &results] {
      const fs::path log = g_state / (kServers[i] + "-start.log");
      const std::string line = "DTQ_SERVER_START_TIMEOUT=${DTQ_SERVER_START_TIMEOUT:-60} '" +
                               kServersScript + "' " + kServers[i] + " start '" + g_state.string() +
                               "' >'" + log.string() + "' 2>&1 </dev/null";
      results[i] = std::system(line.c_str());
    });
  }
  for (auto& thread : starting) thread.join();
  bool ok = true;
  for (size_t i = 0; i < kServers.size(); ++i) {
    if (results[i] != 0) {
      ok = false;
      std::fprintf(stderr, "distributed_bench: could not start %s:\n%s\n", kServers[i].c_str(),
                   tail_of(g_state / (kServers[i] + "-start.log")).c_str());
    }
  }
  if (!ok) return std::nullopt;
  std::map<std::string, std::string> env;
  for (const auto& server : kServers) {
    std::ifstream in(g_state / server / "env");
    std::string line;
    while (std::getline(in, line)) {
      const size_t equals = line.find('=');
      if (equals != std::string::npos) env[line.substr(0, equals)] = line.substr(equals + 1);
    }
  }
  for (const char* name :
       {"DTQ_REDIS_URL", "DTQ_AMQP_URL", "DTQ_KAFKA_BOOTSTRAP", "DTQ_MONGODB_URI"}) {
    if (env.count(name) == 0) {
      std::fprintf(stderr, "distributed_bench: %s missing from the servers' env files\n", name);
      return std::nullopt;
    }
  }
  return env;
}

// amqp://user:pass@host:port/vhost (as rabbitmq.sh prints it) into settings.
std::optional<dtq::rabbitmq::RabbitSettings> rabbit_settings(std::string url) {
  dtq::rabbitmq::RabbitSettings settings;
  if (url.rfind("amqp://", 0) != 0) return std::nullopt;
  url = url.substr(7);
  const size_t slash = url.find('/');
  std::string vhost = slash == std::string::npos ? "%2f" : url.substr(slash + 1);
  url = url.substr(0, slash);
  const size_t at = url.rfind('@');
  if (at != std::string::npos) {
    const std::string user = url.substr(0, at);
    const size_t colon = user.find(':');
    settings.username = user.substr(0, colon);
    if (colon != std::string::npos) settings.password = user.substr(colon + 1);
    url = url.substr(at + 1);
  }
  const size_t colon = url.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  settings.host = url.substr(0, colon);
  settings.port = static_cast<uint16_t>(std::atoi(url.c_str() + colon + 1));
  settings.vhost = (vhost.empty() || vhost == "%2f" || vhost == "%2F") ? "/" : vhost;
  return settings;
}

// --- the dtq processes -------------------------------------------------------------

// `dtq ARGS` with the servers' URLs and the token in its environment; stderr
// to `log`. With `wait_listening`, the port of its "LISTENING <url>" line
// (0 if it ended first).
class DtqProcess {
 public:
  DtqProcess(std::vector<std::string> args, const std::map<std::string, std::string>& env,
             const fs::path& log, bool wait_listening) {
    args.insert(args.begin(),
                {DTQ_CLI, "--plugin-dir", DTQ_BENCH_PLUGIN_DIR, "--log-level", "warn"});
    int out[2];
    if (pipe(out) != 0) return;
    std::lock_guard lock(g_cleanup_mutex);
    if (g_cleaned) return;
    const pid_t pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the bench
      sigset_t none;
      sigemptyset(&none);
      pthread_sigmask(SIG_SETMASK, &none, nullptr);
      dup2(out[1], STDOUT_FILENO);
      close(out[0]);
      close(out[1]);
      const int err = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
      if (err >= 0) dup2(err, STDERR_FILENO);
      for (const auto& [name, value] : env) setenv(name.c_str(), value.c_str(), 1);
      setenv("DTQ_API_TOKEN", kToken, 1);
      setenv("DTQ_CLUSTER_SECRET", "distributed-bench-cluster-secret", 1);
      std::vector<char*> argv;
      for (auto& arg : args) argv.push_back(arg.data());
      argv.push_back(nullptr);
      execv(DTQ_CLI, argv.data());
      _exit(127);
    }
    close(out[1]);
    if (pid < 0) {
      close(out[0]);
      return;
    }
    g_children.push_back(pid);
    stdout_fd_ = out[0];
    fcntl(stdout_fd_, F_SETFD, FD_CLOEXEC);
    wait_for_listening_ = wait_listening;
  }
  ~DtqProcess() {
    if (stdout_fd_ >= 0) close(stdout_fd_);
  }
  DtqProcess(const DtqProcess&) = delete;
  DtqProcess& operator=(const DtqProcess&) = delete;

  // Reads the LISTENING line (the process ends on a failed start, closing stdout).
  int port() {
    if (!wait_for_listening_ || stdout_fd_ < 0) return 0;
    std::string line;
    char c = 0;
    while (read(stdout_fd_, &c, 1) == 1 && c != '\n') line.push_back(c);
    if (line.rfind("LISTENING ", 0) != 0) return 0;
    return std::atoi(line.c_str() + line.rfind(':') + 1);
  }

 private:
  int stdout_fd_ = -1;
  bool wait_for_listening_ = false;
};

// --- HTTP (as api_bench) ---------------------------------------------------------------

std::string submit_request() {
  return dtq::bench::submit_request(kToken, kSubmitBody);
}

std::string get_request(const std::string& path) {
  return dtq::bench::get_request(path, kToken);
}

// Jobs of the no-op type completed so far, from the API's /metrics.
std::optional<double> completed_jobs(Connection& connection) {
  const auto metrics = connection.exchange(get_request("/metrics"));
  if (!metrics || metrics->status != 200) return std::nullopt;
  const std::string series = R"(dtq_jobs_total{job_type="bench_noop",state="completed"} )";
  const size_t at = metrics->body.find(series);
  return at == std::string::npos ? 0.0
                                 : std::strtod(metrics->body.c_str() + at + series.size(), nullptr);
}

// --- the phases ----------------------------------------------------------------------------

struct SubmitPhase {
  size_t accepted = 0;
  size_t refused = 0;
  SteadyClock::time_point first;
  SteadyClock::time_point last;
  std::vector<double> latency_ms;
  std::vector<std::string> ids;
};

// `jobs` submits shared by `connections` clients, back to back on keep-alive connections.
SubmitPhase run_submits(int port, int connections, size_t jobs) {
  std::vector<SubmitPhase> per_client(static_cast<size_t>(connections));
  const std::string request = submit_request();
  std::atomic<size_t> next{0};
  SubmitPhase total;
  total.first = SteadyClock::now();
  std::vector<std::thread> clients;
  for (auto& mine : per_client) {
    clients.emplace_back([&mine, &request, &next, port, jobs] {
      Connection connection(port);
      while (next++ < jobs) {
        const auto sent = SteadyClock::now();
        const auto response = connection.exchange(request);
        if (response && response->status == 202) {
          mine.latency_ms.push_back(ms_since(sent));
          mine.ids.push_back(job_id_of(response->body));
          ++mine.accepted;
        } else {
          ++mine.refused;
        }
      }
    });
  }
  for (auto& client : clients) client.join();
  total.last = SteadyClock::now();
  for (auto& mine : per_client) {
    total.accepted += mine.accepted;
    total.refused += mine.refused;
    total.latency_ms.insert(total.latency_ms.end(), mine.latency_ms.begin(), mine.latency_ms.end());
    total.ids.insert(total.ids.end(), mine.ids.begin(), mine.ids.end());
  }
  std::sort(total.latency_ms.begin(), total.latency_ms.end());
  return total;
}

struct RpcPhase {
  size_t answered = 0;
  std::map<std::string, size_t> failed;  // by status code name
  std::vector<double> latency_ms;
  double seconds = 0;
};

void add_rpc(RpcPhase& phase, const dtq::StatusOr<dtq::JobStatus>& reply, double ms) {
  if (reply.ok()) {
    ++phase.answered;
    phase.latency_ms.push_back(ms);
  } else {
    ++phase.failed[std::string(dtq::to_string(reply.status().code()))];
  }
}

// `count` progress queries one after another.
RpcPhase run_rpc_sequential(dtq::rabbitmq::RabbitProgressQuery& query,
                            const std::vector<std::string>& ids, size_t count) {
  RpcPhase phase;
  const auto start = SteadyClock::now();
  for (size_t i = 0; i < count; ++i) {
    const auto sent = SteadyClock::now();
    const auto reply = query.progress(ids[i % ids.size()]);
    add_rpc(phase, reply, ms_since(sent));
  }
  phase.seconds = seconds_between(start, SteadyClock::now());
  std::sort(phase.latency_ms.begin(), phase.latency_ms.end());
  return phase;
}

// Adds one thread's replies and failures to `total` (its time is total's).
void add_phase(RpcPhase& total, const RpcPhase& part) {
  total.answered += part.answered;
  for (const auto& [code, n] : part.failed) total.failed[code] += n;
  total.latency_ms.insert(total.latency_ms.end(), part.latency_ms.begin(), part.latency_ms.end());
}

// `rounds` times: `concurrent` threads released at once, one query each.
RpcPhase run_rpc_concurrent(dtq::rabbitmq::RabbitProgressQuery& query,
                            const std::vector<std::string>& ids, int concurrent, int rounds) {
  RpcPhase total;
  std::mt19937 random(7);
  for (int round = 0; round < rounds; ++round) {
    std::vector<RpcPhase> per_thread(static_cast<size_t>(concurrent));
    std::latch go(concurrent + 1);
    std::vector<std::thread> threads;
    threads.reserve(static_cast<size_t>(concurrent));
    for (auto& mine : per_thread) {
      const std::string id = ids[random() % ids.size()];
      threads.emplace_back([&mine, &go, &query, id] {
        go.arrive_and_wait();
        const auto sent = SteadyClock::now();
        const auto reply = query.progress(id);
        add_rpc(mine, reply, ms_since(sent));
      });
    }
    const auto start = SteadyClock::now();
    go.arrive_and_wait();
    for (auto& thread : threads) thread.join();
    total.seconds += seconds_between(start, SteadyClock::now());
    for (const auto& mine : per_thread) add_phase(total, mine);
  }
  std::sort(total.latency_ms.begin(), total.latency_ms.end());
  return total;
}

// `in_flight` requesters, each sending its next request as soon as the last
// one is answered, for `seconds`: always that many in flight.
RpcPhase run_rpc_sustained(dtq::rabbitmq::RabbitProgressQuery& query,
                           const std::vector<std::string>& ids, int in_flight, double seconds) {
  std::vector<RpcPhase> per_thread(static_cast<size_t>(in_flight));
  std::latch go(in_flight + 1);
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(in_flight));
  const auto length =
      std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(seconds));
  for (size_t t = 0; t < per_thread.size(); ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 random(static_cast<unsigned>(t));
      go.arrive_and_wait();
      const auto until = SteadyClock::now() + length;
      while (SteadyClock::now() < until) {
        const auto sent = SteadyClock::now();
        const auto reply = query.progress(ids[random() % ids.size()]);
        add_rpc(per_thread[t], reply, ms_since(sent));
      }
    });
  }
  const auto start = SteadyClock::now();
  go.arrive_and_wait();
  for (auto& thread : threads) thread.join();
  RpcPhase total;
  total.seconds = seconds_between(start, SteadyClock::now());
  for (const auto& mine : per_thread) add_phase(total, mine);
  std::sort(total.latency_ms.begin(), total.latency_ms.end());
  return total;
}

// --- each server alone: what one submit asks of it, from many threads ----------

// `threads` threads each calling `op` (which says whether it worked) until
// `total` calls were made; their rate and latency.
struct AlonePhase {
  size_t done = 0;
  size_t failed = 0;
  double seconds = 0;
  std::vector<double> latency_ms;
};

AlonePhase run_alone(int threads, size_t total, const std::function<bool(size_t)>& op) {
  AlonePhase phase;
  std::atomic<size_t> next{0};
  std::mutex mutex;
  std::vector<std::thread> workers;
  workers.reserve(static_cast<size_t>(threads));
  const auto from = SteadyClock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      std::vector<double> mine;
      size_t failed = 0;
      for (size_t i = next++; i < total; i = next++) {
        const auto start = SteadyClock::now();
        if (!op(i)) ++failed;
        mine.push_back(ms_since(start));
      }
      std::lock_guard lock(mutex);
      phase.latency_ms.insert(phase.latency_ms.end(), mine.begin(), mine.end());
      phase.failed += failed;
    });
  }
  for (auto& worker : workers) worker.join();
  phase.seconds = seconds_between(from, SteadyClock::now());
  phase.done = total;
  std::sort(phase.latency_ms.begin(), phase.latency_ms.end());
  return phase;
}

// The rate in jobs: `jobs_per_call` for calls that each carry a batch.
void print_alone(const char* what, const AlonePhase& phase, size_t jobs_per_call = 1) {
  std::printf("    %-34s %7.0f/s  p50 %6.2f ms  p99 %6.2f ms%s\n", what,
              static_cast<double>(phase.done * jobs_per_call) / phase.seconds,
              percentile(phase.latency_ms, 0.50), percentile(phase.latency_ms, 0.99),
              phase.failed == 0 ? "" : (" (" + std::to_string(phase.failed) + " failed)").c_str());
  std::fflush(stdout);
}

// The three writes of a distributed submit and of a job's end, each against
// its server alone, from as many threads as the REST phase has connections:
// which server bounds the end-to-end figure. Topic, keys and documents of
// their own, so the dtq processes started after never see them.
bool run_servers_alone(const std::map<std::string, std::string>& env, const Options& options) {
  const size_t total = options.jobs;
  std::printf("  each server alone, %zu calls from %d threads (what one job asks of it)\n", total,
              options.connections);
  std::fflush(stdout);
  std::vector<dtq::JobMessage> messages(total);
  for (size_t i = 0; i < total; ++i) {
    messages[i] = {.job_id = dtq::new_uuid4(),
                   .job_type = "bench_alone",
                   .submitted_at = dtq::now_rfc3339(),
                   .trace_id = dtq::new_uuid4(),
                   .payload = "{}"};
  }

  dtq::kafka::KafkaSettings kafka{.bootstrap_servers = env.at("DTQ_KAFKA_BOOTSTRAP")};
  kafka.topic_template = "bench-alone.%s.v1";
  kafka.priority_topic_template.clear();
  auto queue = dtq::kafka::KafkaJobQueue::create(kafka);
  if (!queue.ok() || !(*queue)->enqueue(messages[0]).ok()) {  // creates the topic
    std::fprintf(stderr, "distributed_bench: Kafka alone: %s\n",
                 queue.ok() ? "the first enqueue failed" : queue.status().message().c_str());
    return false;
  }
  print_alone("Kafka enqueue (acks=all), one job",
              run_alone(options.connections, total,
                        [&](size_t i) { return (*queue)->enqueue(messages[i]).ok(); }));
  constexpr size_t kBatch = 100;
  const auto batches = run_alone(options.connections, total / kBatch, [&](size_t i) {
    return (*queue)->enqueue_batch(std::span(messages).subspan(i * kBatch, kBatch)).ok();
  });
  print_alone("Kafka enqueue_batch of 100, per job", batches, kBatch);
  queue->reset();

  auto redis_settings = dtq::redis::parse_uri(env.at("DTQ_REDIS_URL"));
  auto statuses = redis_settings.ok() ? dtq::redis::RedisStatusStore::connect(*redis_settings)
                                      : redis_settings.status();
  if (!statuses.ok()) {
    std::fprintf(stderr, "distributed_bench: Redis alone: %s\n",
                 statuses.status().message().c_str());
    return false;
  }
  print_alone("Redis status update (queued)", run_alone(options.connections, total, [&](size_t i) {
                const dtq::JobStatus queued{.job_id = messages[i].job_id,
                                            .updated_at = dtq::now_rfc3339(),
                                            .trace_id = messages[i].trace_id,
                                            .job_type = "bench_alone"};
                return (*statuses)->update(queued).ok();
              }));
  const auto status_batches = run_alone(options.connections, total / kBatch, [&](size_t i) {
    std::vector<dtq::JobStatus> queued;
    for (size_t k = i * kBatch; k < (i + 1) * kBatch; ++k) {
      queued.push_back({.job_id = messages[k].job_id,
                        .updated_at = dtq::now_rfc3339(),
                        .trace_id = messages[k].trace_id,
                        .job_type = "bench_alone"});
    }
    const auto stored = (*statuses)->update_batch(queued);
    return std::all_of(stored.begin(), stored.end(), [](const auto& one) { return one.ok(); });
  });
  print_alone("Redis update_batch of 100, per job", status_batches, kBatch);
  statuses->reset();

  auto mongo_settings = dtq::mongo::parse_uri(env.at("DTQ_MONGODB_URI"));
  auto results = mongo_settings.ok() ? dtq::mongo::MongoResultStore::connect(*mongo_settings)
                                     : mongo_settings.status();
  if (!results.ok()) {
    std::fprintf(stderr, "distributed_bench: FerretDB alone: %s\n",
                 results.status().message().c_str());
    return false;
  }
  print_alone("FerretDB result put (journaled)",
              run_alone(options.connections, total, [&](size_t i) {
                const dtq::JobResult result{.job_id = messages[i].job_id,
                                            .job_type = "bench_alone",
                                            .input = "{}",
                                            .output = "{}",
                                            .started_at = messages[i].submitted_at,
                                            .completed_at = dtq::now_rfc3339(),
                                            .trace_id = messages[i].trace_id,
                                            .attempts = 1};
                return (*results)->put(result).ok();
              }));
  return true;
}

void print_rpc(const char* title, const RpcPhase& phase) {
  std::printf("  %s\n", title);
  std::string failures;
  for (const auto& [code, n] : phase.failed) {
    failures += (failures.empty() ? "" : ", ") + std::to_string(n) + " " + code;
  }
  std::printf("    answered           %zu (%s), %.0f replies/s\n", phase.answered,
              failures.empty() ? "none failed" : failures.c_str(),
              phase.seconds > 0 ? static_cast<double>(phase.answered) / phase.seconds : 0.0);
  std::printf("    latency p50        %.2f ms\n", percentile(phase.latency_ms, 0.50));
  std::printf("    latency p99        %.2f ms\n", percentile(phase.latency_ms, 0.99));
}

int run(const Options& options) {
  const auto servers_from = SteadyClock::now();
  const auto env = start_servers();
  if (!env) return 1;
  const double servers_s = seconds_between(servers_from, SteadyClock::now());
  const fs::path logs = g_state;

  DtqProcess api({"api", "--listen", "127.0.0.1:0", "--submit-rate", "100000000", "--max-streams",
                  "100000", "--handler-threads", std::to_string(options.handler_threads)},
                 *env, logs / "api.log", true);
  DtqProcess worker({"worker", "--only", "bench_noop", "--concurrency",
                     std::to_string(options.concurrency), "--drain-grace-ms", "2000"},
                    *env, logs / "worker.log", false);
  const int port = api.port();
  if (port == 0) {
    std::fprintf(stderr, "distributed_bench: dtq api did not start:\n%s\n",
                 tail_of(logs / "api.log").c_str());
    return 1;
  }
  // Ready: every backend answers and the worker's pool is registered.
  Connection control(port);
  const auto ready_by = SteadyClock::now() + 30s;
  for (;;) {
    const auto ready = control.exchange(get_request("/readyz"));
    const auto types = control.exchange(get_request("/v1/job-types"));
    if (ready && ready->status == 200 && types && types->status == 200 &&
        types->body.find("bench_noop") != std::string::npos) {
      break;
    }
    if (SteadyClock::now() > ready_by) {
      std::fprintf(stderr,
                   "distributed_bench: the API or the worker never became ready\n"
                   "--- api.log ---\n%s\n--- worker.log ---\n%s\n",
                   tail_of(logs / "api.log").c_str(), tail_of(logs / "worker.log").c_str());
      return 1;
    }
    std::this_thread::sleep_for(100ms);
  }

  std::printf(
      "Distributed: dtq api + one dtq worker (no-op plugin, concurrency %d) on Kafka, Redis, "
      "FerretDB, RabbitMQ\n(servers up in %.1f s; client, processes and servers share %u cores)\n",
      options.concurrency, servers_s, std::thread::hardware_concurrency());
  std::fflush(stdout);

  if (options.alone && !run_servers_alone(*env, options)) return 1;

  // Warm-up: a few jobs through the whole path (topic, consumer group, pools).
  (void)run_followers(port, 1, 1.0, submit_request(), kToken);
  const double warm = completed_jobs(control).value_or(0);

  SubmitPhase submits = run_submits(port, options.connections, options.jobs);
  const double target = warm + static_cast<double>(submits.accepted);
  std::optional<SteadyClock::time_point> done;
  const auto wait_until = SteadyClock::now() + 60s;
  double completed = 0;
  while (SteadyClock::now() < wait_until) {
    completed = completed_jobs(control).value_or(completed);
    if (completed >= target) {
      done = SteadyClock::now();
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  const double submit_s = seconds_between(submits.first, submits.last);
  std::printf("  POST /v1/jobs -> Kafka, %zu no-op jobs, %d connections\n", options.jobs,
              options.connections);
  std::printf("    submitted          %.0f jobs/s (%zu in %.2f s, %zu refused)\n",
              static_cast<double>(submits.accepted) / submit_s, submits.accepted, submit_s,
              submits.refused);
  std::printf("    submit p50         %.2f ms\n", percentile(submits.latency_ms, 0.50));
  std::printf("    submit p99         %.2f ms\n", percentile(submits.latency_ms, 0.99));
  if (done) {
    const double all_s = seconds_between(submits.first, *done);
    std::printf(
        "    completed          %.0f jobs/s (all %zu in %.2f s from the first submit, "
        "%.2f s after the last)\n",
        static_cast<double>(submits.accepted) / all_s, submits.accepted, all_s,
        seconds_between(submits.last, *done));
  } else {
    std::printf("    completed          %.0f of %zu within 60 s of the last submit\n",
                completed - warm, submits.accepted);
  }
  std::fflush(stdout);

  FollowPhase follow =
      run_followers(port, options.followers, options.follow_seconds, submit_request(), kToken);
  std::printf("  submit, then follow GET /v1/jobs/{id}/events to completed, %d clients\n",
              options.followers);
  std::printf("    jobs followed      %zu (%zu failed)\n", follow.followed, follow.failed);
  std::printf("    submit p50         %.2f ms\n", percentile(follow.submit_ms, 0.50));
  std::printf("    submit p99         %.2f ms\n", percentile(follow.submit_ms, 0.99));
  std::printf("    -> completed p50   %.2f ms\n", percentile(follow.complete_ms, 0.50));
  std::printf("    -> completed p99   %.2f ms\n", percentile(follow.complete_ms, 0.99));
  std::fflush(stdout);

  if (submits.ids.empty()) {
    std::fprintf(stderr, "distributed_bench: no job accepted; no progress queries to make\n");
    return 1;
  }
  auto settings = rabbit_settings(env->at("DTQ_AMQP_URL"));
  if (!settings) {
    std::fprintf(stderr, "distributed_bench: cannot read DTQ_AMQP_URL %s\n",
                 env->at("DTQ_AMQP_URL").c_str());
    return 1;
  }
  settings->connection_name = "dtq distributed_bench";
  settings->reply_timeout = 30s;  // a late reply is measured, not dropped
  auto query = dtq::rabbitmq::RabbitProgressQuery::connect(*settings);
  if (!query.ok()) {
    std::fprintf(stderr, "distributed_bench: RabbitProgressQuery: %s\n",
                 query.status().message().c_str());
    return 1;
  }
  (void)run_rpc_sequential(**query, submits.ids, 50);  // warm-up
  print_rpc("RabbitMQ progress request-reply (RabbitProgressQuery -> the worker), one at a time",
            run_rpc_sequential(**query, submits.ids, 500));
  print_rpc(
      "RabbitMQ progress request-reply, 100 in flight for 5 s (each requester sends again "
      "on its reply)",
      run_rpc_sustained(**query, submits.ids, 100, 5.0));
  char title[160];
  std::snprintf(title, sizeof title,
                "RabbitMQ progress request-reply, 1,000 requests in flight at once, %d rounds",
                options.rpc_rounds);
  print_rpc(title, run_rpc_concurrent(**query, submits.ids, 1000, options.rpc_rounds));
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse(argc, argv);
  std::signal(SIGPIPE, SIG_IGN);
  (void)dtq::configure_logging("warn");
  start_signal_thread();
  int status = 1;
  try {
    status = run(options);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "distributed_bench: %s\n", error.what());
  }
  cleanup();
  return status;
}
