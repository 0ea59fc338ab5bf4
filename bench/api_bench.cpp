// The REST API end to end: the real `dtq serve` (embedded backends in a
// temp folder, the no-op plugin) driven over HTTP/1.1 keep-alive connections
// by plain-socket clients in this process. Prints, for each number of
// concurrent connections, how many POST /v1/jobs were accepted per second
// and their latency; whether the engine kept up; then submit -> completed
// as a client sees it: the submit, then the job's SSE stream
// (GET /v1/jobs/{id}/events) until its completed event; then batch submits
// (POST /v1/jobs:batch and gRPC SubmitJobs) of --batch-size jobs, on a few
// connections each, with the share of their time spent in
// JobService::submit_batch (read from the server's /metrics).
//
//   api_bench [--seconds S] [--connections 1,8,32] [--followers K]
//             [--handler-threads N]   (dtq serve's; 0: handlers on the reactors)
//             [--batch-connections 1,4] [--batch-size 1000]   (0 connections: no batches)
//             [--isolation process|in_process]   (dtq serve's; process by default)
//
// Client and server share the machine's cores, so the figures are a floor.
// Nothing here asserts a time.
#include <signal.h>
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
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "bench_http.hpp"
#include "dtq/v1/jobs.grpc.pb.h"

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

constexpr const char* kToken = "api-bench-token";
constexpr const char* kSubmitBody = R"({"job_type":"bench_noop","payload":{}})";

struct Options {
  double seconds = 5;  // per measured phase
  std::vector<int> connections = {1, 8, 32};
  int followers = 8;
  std::string handler_threads = "0";
  std::vector<int> batch_connections = {1, 4};
  int batch_size = 1000;
  std::string isolation = "process";
};

// "1,8,32" as numbers.
std::vector<int> number_list(const std::string& value) {
  std::vector<int> numbers;
  for (size_t at = 0; at < value.size();) {
    const size_t comma = std::min(value.find(',', at), value.size());
    const int number = std::atoi(value.substr(at, comma - at).c_str());
    if (number > 0) numbers.push_back(number);
    at = comma + 1;
  }
  return numbers;
}

Options parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i + 1 < argc; ++i) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--seconds") {
      options.seconds = std::strtod(value.c_str(), nullptr);
    } else if (flag == "--handler-threads") {
      options.handler_threads = value;
    } else if (flag == "--followers") {
      options.followers = std::atoi(value.c_str());
    } else if (flag == "--connections") {
      options.connections = number_list(value);
    } else if (flag == "--batch-connections") {
      options.batch_connections = number_list(value);
    } else if (flag == "--isolation") {
      options.isolation = value;
    } else if (flag == "--batch-size") {
      options.batch_size = std::max(1, std::atoi(value.c_str()));
    } else {
      continue;  // flags meant for Google Benchmark binaries (make bench passes one)
    }
    ++i;
  }
  return options;
}

std::string submit_request() {
  return dtq::bench::submit_request(kToken, kSubmitBody);
}

std::string get_request(const std::string& path) {
  return dtq::bench::get_request(path);
}

// `dtq serve` as a child process, on a free port.
class Server {
 public:
  Server(const fs::path& data_dir, const std::string& handler_threads,
         const std::string& isolation) {
    int out[2];
    if (pipe(out) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], STDOUT_FILENO);
      close(out[0]);
      close(out[1]);
      // The banner (URL and token) would only clutter the figures.
      if (FILE* null = std::fopen("/dev/null", "w")) dup2(fileno(null), STDERR_FILENO);
      setenv("DTQ_API_TOKEN", kToken, 1);
      execl(DTQ_CLI, DTQ_CLI, "--plugin-dir", DTQ_BENCH_PLUGIN_DIR, "--data-dir", data_dir.c_str(),
            "--log-level", "warn", "serve", "--listen", "127.0.0.1:0", "--grpc-listen",
            "127.0.0.1:0", "--submit-rate", "100000000", "--max-streams", "100000",
            "--handler-threads", handler_threads.c_str(), "--isolation", isolation.c_str(),
            nullptr);
      _exit(127);
    }
    close(out[1]);
    std::string line;
    char c = 0;
    while (read(out[0], &c, 1) == 1 && c != '\n') line.push_back(c);
    stdout_fd_ = out[0];
    if (line.rfind("LISTENING ", 0) == 0) port_ = std::atoi(line.c_str() + line.rfind(':') + 1);
    line.clear();
    while (read(out[0], &c, 1) == 1 && c != '\n') line.push_back(c);
    if (line.rfind("GRPC_LISTENING ", 0) == 0) grpc_address_ = line.substr(15);
  }
  ~Server() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    if (stdout_fd_ >= 0) close(stdout_fd_);
  }
  int port() const { return port_; }
  const std::string& grpc_address() const { return grpc_address_; }

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  int port_ = 0;
  std::string grpc_address_;
};

// Jobs of the no-op type completed so far, from the server's /metrics.
std::optional<double> completed_jobs(Connection& connection) {
  const auto metrics = connection.exchange(get_request("/metrics"));
  if (!metrics || metrics->status != 200) return std::nullopt;
  const std::string series = R"(dtq_jobs_total{job_type="bench_noop",state="completed"} )";
  const size_t at = metrics->body.find(series);
  return at == std::string::npos ? 0.0
                                 : std::strtod(metrics->body.c_str() + at + series.size(), nullptr);
}

struct SubmitPhase {
  size_t accepted = 0;
  size_t refused = 0;  // any answer but 202, or a broken connection
  double seconds = 0;
  std::vector<double> latency_ms;
};

// `connections` clients, each submitting back to back on its own keep-alive
// connection for `seconds`.
SubmitPhase run_submits(int port, int connections, double seconds) {
  std::vector<SubmitPhase> per_client(static_cast<size_t>(connections));
  const std::string request = submit_request();
  const auto start = SteadyClock::now();
  const auto deadline = start + std::chrono::duration_cast<SteadyClock::duration>(
                                    std::chrono::duration<double>(seconds));
  std::vector<std::thread> clients;
  for (auto& mine : per_client) {
    clients.emplace_back([&mine, &request, port, deadline] {
      Connection connection(port);
      mine.latency_ms.reserve(100'000);
      while (SteadyClock::now() < deadline) {
        const auto sent = SteadyClock::now();
        const auto response = connection.exchange(request);
        if (response && response->status == 202) {
          mine.latency_ms.push_back(ms_since(sent));
          ++mine.accepted;
        } else {
          ++mine.refused;
        }
      }
    });
  }
  for (auto& client : clients) client.join();
  SubmitPhase total;
  total.seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  for (auto& mine : per_client) {
    total.accepted += mine.accepted;
    total.refused += mine.refused;
    total.latency_ms.insert(total.latency_ms.end(), mine.latency_ms.begin(), mine.latency_ms.end());
  }
  std::sort(total.latency_ms.begin(), total.latency_ms.end());
  return total;
}

// A series' value in the server's /metrics (0 when absent).
double metric(Connection& connection, const std::string& series) {
  const auto metrics = connection.exchange(get_request("/metrics"));
  if (!metrics || metrics->status != 200) return 0;
  const size_t at = metrics->body.find(series + " ");
  return at == std::string::npos
             ? 0.0
             : std::strtod(metrics->body.c_str() + at + series.size() + 1, nullptr);
}

// `connections` clients, each sending one batch after another on its own
// connection for `seconds`; `send` sends one batch and answers how many of
// its jobs were accepted (nothing when the call failed).
template <class Client, class MakeClient, class Send>
SubmitPhase run_batches(int connections, double seconds, MakeClient make_client, Send send) {
  std::vector<SubmitPhase> per_client(static_cast<size_t>(connections));
  const auto start = SteadyClock::now();
  const auto deadline = start + std::chrono::duration_cast<SteadyClock::duration>(
                                    std::chrono::duration<double>(seconds));
  std::vector<std::thread> clients;
  for (size_t i = 0; i < per_client.size(); ++i) {
    clients.emplace_back([&mine = per_client[i], &make_client, &send, i, deadline] {
      Client client = make_client(i);
      while (SteadyClock::now() < deadline) {
        const auto sent = SteadyClock::now();
        const std::optional<size_t> accepted = send(client);
        if (accepted) {
          mine.latency_ms.push_back(ms_since(sent));
          mine.accepted += *accepted;
        } else {
          ++mine.refused;
        }
      }
    });
  }
  for (auto& client : clients) client.join();
  SubmitPhase total;
  total.seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  for (auto& mine : per_client) {
    total.accepted += mine.accepted;
    total.refused += mine.refused;
    total.latency_ms.insert(total.latency_ms.end(), mine.latency_ms.begin(), mine.latency_ms.end());
  }
  std::sort(total.latency_ms.begin(), total.latency_ms.end());
  return total;
}

// A REST batch of `size` no-op jobs, as one request.
std::string batch_request(int size) {
  std::string body = R"({"jobs":[)";
  for (int i = 0; i < size; ++i) body += (i == 0 ? "" : ",") + std::string(kSubmitBody);
  body += "]}";
  return "POST /v1/jobs:batch HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: "
         "keep-alive\r\nAuthorization: Bearer " +
         std::string(kToken) +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

// How many jobs a REST batch's answer accepted.
size_t accepted_in(const std::string& body) {
  size_t accepted = 0;
  for (size_t at = 0; (at = body.find("\"job_id\"", at)) != std::string::npos; ++at) ++accepted;
  return accepted;
}

// A gRPC client on a connection of its own: the channel argument differs
// per client, so gRPC does not share one subchannel between them.
struct GrpcClient {
  std::unique_ptr<dtq::v1::JobService::Stub> stub;
};

GrpcClient grpc_client(const std::string& address, size_t index) {
  grpc::ChannelArguments arguments;
  arguments.SetInt("dtq.bench.client", static_cast<int>(index));
  arguments.SetMaxSendMessageSize(64 << 20);
  arguments.SetMaxReceiveMessageSize(64 << 20);
  return {dtq::v1::JobService::NewStub(
      grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), arguments))};
}

// Prints a batch phase: jobs/s, each batch's latency, and how much of it
// the server spent in JobService::submit_batch (`in_service_s` over the
// phase, `batches` served).
void print_batch_phase(const char* what, int connections, int size, const SubmitPhase& phase,
                       double in_service_s, double batches) {
  std::printf("  %s, batches of %d, %d connection%s\n", what, size, connections,
              connections == 1 ? "" : "s");
  std::printf("    accepted           %.0f jobs/s (%zu in %.1f s, %zu batches failed)\n",
              static_cast<double>(phase.accepted) / phase.seconds, phase.accepted, phase.seconds,
              phase.refused);
  std::printf("    batch latency p50  %.2f ms\n", percentile(phase.latency_ms, 0.50));
  std::printf("    batch latency p99  %.2f ms\n", percentile(phase.latency_ms, 0.99));
  if (batches > 0) {
    std::printf(
        "    in submit_batch    %.2f ms per batch (validation, statuses, enqueue; the rest is "
        "HTTP, JSON and waiting for a reactor)\n",
        1000 * in_service_s / batches);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse(argc, argv);
  std::signal(SIGPIPE, SIG_IGN);
  std::random_device seed;
  const fs::path data_dir = fs::temp_directory_path() / ("dtq-api-bench-" + std::to_string(seed()));
  fs::create_directories(data_dir);
  int status = 0;
  {
    Server server(data_dir, options.handler_threads, options.isolation);
    if (server.port() == 0) {
      std::fprintf(stderr, "api_bench: dtq serve did not start (%s)\n", DTQ_CLI);
      fs::remove_all(data_dir);
      return 1;
    }
    Connection control(server.port());
    const auto ready_by = SteadyClock::now() + 10s;
    for (;;) {
      const auto ready = control.exchange(get_request("/readyz"));
      if (ready && ready->status == 200) break;
      if (SteadyClock::now() > ready_by) {
        std::fprintf(stderr, "api_bench: dtq serve never became ready\n");
        status = 1;
        break;
      }
      std::this_thread::sleep_for(50ms);
    }

    if (status == 0) {
      std::printf(
          "REST API through dtq serve, no-op plugin (%s), HTTP/1.1 keep-alive, %s handler "
          "threads (client and server share %u cores)\n",
          options.isolation.c_str(), options.handler_threads.c_str(),
          std::thread::hardware_concurrency());
      size_t submitted = 0;
      for (const int connections : options.connections) {
        SubmitPhase phase = run_submits(server.port(), connections, options.seconds);
        submitted += phase.accepted;
        // Until the engine has caught up with everything accepted so far.
        const auto caught_up_from = SteadyClock::now();
        double caught_up_s = -1;
        while (SteadyClock::now() - caught_up_from < 60s) {
          const auto completed = completed_jobs(control);
          if (completed && *completed >= static_cast<double>(submitted)) {
            caught_up_s =
                std::chrono::duration<double>(SteadyClock::now() - caught_up_from).count();
            break;
          }
          std::this_thread::sleep_for(20ms);
        }
        std::printf("  POST /v1/jobs, %d connection%s\n", connections, connections == 1 ? "" : "s");
        std::printf("    accepted           %.0f jobs/s (%zu in %.1f s, %zu refused)\n",
                    static_cast<double>(phase.accepted) / phase.seconds, phase.accepted,
                    phase.seconds, phase.refused);
        std::printf("    latency p50        %.2f ms\n", percentile(phase.latency_ms, 0.50));
        std::printf("    latency p99        %.2f ms\n", percentile(phase.latency_ms, 0.99));
        if (caught_up_s >= 0) {
          std::printf(
              "    engine caught up   %.2f s after the last submit (%.0f jobs/s submit -> "
              "complete)\n",
              caught_up_s, static_cast<double>(phase.accepted) / (phase.seconds + caught_up_s));
        } else {
          std::printf("    engine caught up   not within 60 s\n");
        }
      }
      FollowPhase follow = run_followers(server.port(), options.followers, options.seconds,
                                         submit_request(), kToken);
      std::printf("  submit, then follow GET /v1/jobs/{id}/events to completed, %d clients\n",
                  options.followers);
      std::printf("    jobs followed      %zu (%zu failed)\n", follow.followed, follow.failed);
      std::printf("    submit p50         %.2f ms\n", percentile(follow.submit_ms, 0.50));
      std::printf("    submit p99         %.2f ms\n", percentile(follow.submit_ms, 0.99));
      std::printf("    -> completed p50   %.2f ms\n", percentile(follow.complete_ms, 0.50));
      std::printf("    -> completed p99   %.2f ms\n", percentile(follow.complete_ms, 0.99));
      // Batches last: the backlog they leave would delay the followers'
      // jobs. REST, then gRPC, each on a few connections.
      const std::string batch = batch_request(options.batch_size);
      dtq::v1::SubmitJobsRequest grpc_batch;
      for (int i = 0; i < options.batch_size; ++i) {
        auto* job = grpc_batch.add_jobs();
        job->set_job_type("bench_noop");
        job->set_payload_json("{}");
      }
      const std::string in_service =
          R"(dtq_api_backend_duration_seconds_sum{operation="submit_batch"})";
      const std::string served =
          R"(dtq_api_backend_duration_seconds_count{operation="submit_batch"})";
      for (const int connections : options.batch_connections) {
        const double service_before = metric(control, in_service);
        const double served_before = metric(control, served);
        const SubmitPhase phase = run_batches<std::unique_ptr<Connection>>(
            connections, options.seconds,
            [&](size_t) { return std::make_unique<Connection>(server.port()); },
            [&](std::unique_ptr<Connection>& connection) -> std::optional<size_t> {
              const auto response = connection->exchange(batch);
              if (!response || response->status != 200) return std::nullopt;
              return accepted_in(response->body);
            });
        print_batch_phase("POST /v1/jobs:batch", connections, options.batch_size, phase,
                          metric(control, in_service) - service_before,
                          metric(control, served) - served_before);
      }
      for (const int connections : options.batch_connections) {
        const SubmitPhase phase = run_batches<GrpcClient>(
            connections, options.seconds,
            [&](size_t index) { return grpc_client(server.grpc_address(), index); },
            [&](GrpcClient& client) -> std::optional<size_t> {
              grpc::ClientContext context;
              context.AddMetadata("authorization", std::string("Bearer ") + kToken);
              dtq::v1::SubmitJobsResponse response;
              if (!client.stub->SubmitJobs(&context, grpc_batch, &response).ok()) {
                return std::nullopt;
              }
              size_t accepted = 0;
              for (const auto& result : response.results()) accepted += result.has_job() ? 1 : 0;
              return accepted;
            });
        print_batch_phase("gRPC SubmitJobs", connections, options.batch_size, phase, 0, 0);
      }
    }
  }
  fs::remove_all(data_dir);
  return status;
}
