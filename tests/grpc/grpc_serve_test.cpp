// gRPC tier, functional: the real `dtq serve --grpc-listen 127.0.0.1:0` on a
// temporary data folder and the fake provider, driven through the
// generated dtq.v1.JobService client. Each job type submitted and watched
// to completion; every refusal's code and ErrorDetails; the keys; cancel;
// listing pages; job types; the watch limit; the REST face seeing the same
// jobs; SIGTERM with watches open.
#include <curl/curl.h>
#include <dtq/v1/jobs.grpc.pb.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "dtq/core/ids.hpp"
#include "grpc/grpc_test_util.hpp"
#include "support/eventually.hpp"
#include "support/fake_provider.hpp"

namespace dtq {
namespace {

namespace fs = std::filesystem;
namespace v1 = ::dtq::v1;
using namespace std::chrono_literals;
using testing::call_error;
using testing::CallError;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr const char* kToken = "grpc-test-token-0123456789";

// `dtq serve` with --grpc-listen: reads LISTENING and GRPC_LISTENING.
class ServeProcess {
 public:
  ServeProcess(const fs::path& data, const std::string& provider_url,
               const std::vector<std::string>& flags = {}) {
    std::vector<std::string> args = {
        DTQ_CLI,         "--plugin-dir", DTQ_PLUGIN_DIR,  "--data-dir", data.string(),
        "--log-level",   "warn",         "serve",         "--listen",   "127.0.0.1:0",
        "--grpc-listen", "127.0.0.1:0",  "--submit-rate", "100000"};
    args.insert(args.end(), flags.begin(), flags.end());
    int out[2];
    if (pipe(out) != 0) throw std::runtime_error("pipe");
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], STDOUT_FILENO);
      close(out[0]);
      close(out[1]);
      setenv("DTQ_HTTP_BASE_URL", provider_url.c_str(), 1);
      setenv("DTQ_API_TOKEN", kToken, 1);
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
    grpc_address_ = second.substr(15);
  }
  ~ServeProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(stdout_fd_);
  }
  const std::string& url() const { return url_; }
  const std::string& grpc_address() const { return grpc_address_; }
  int terminate() {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  std::string read_line() {
    std::string line;
    char c = 0;
    while (read(stdout_fd_, &c, 1) == 1 && c != '\n') line.push_back(c);
    return line;
  }

  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string url_;
  std::string grpc_address_;
};

size_t collect(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

// GET over REST with the operator key: {code, body}.
std::pair<long, std::string> rest_get(const std::string& url) {
  CURL* curl = curl_easy_init();
  std::string body;
  long code = 0;
  const std::string authorization = std::string("Authorization: Bearer ") + kToken;
  curl_slist* headers = curl_slist_append(nullptr, authorization.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  if (curl_easy_perform(curl) == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return {code, body};
}

struct Watched {
  std::vector<v1::JobStatus> statuses;
  CallError end;  // code OK when the stream ended normally
};

class GrpcServeTest : public ::testing::Test {
 protected:
  void SetUp() override { start(); }
  void TearDown() override {
    server_.reset();
    fs::remove_all(data_);
  }
  void start(const std::vector<std::string>& flags = {}) {
    testing::shared_fake_provider().reset();
    server_.reset();
    if (data_.empty()) data_ = fs::temp_directory_path() / ("dtq-grpc-" + new_uuid4());
    server_ =
        std::make_unique<ServeProcess>(data_, testing::shared_fake_provider().base_url(), flags);
    stub_ = v1::JobService::NewStub(testing::channel_to(server_->grpc_address()));
  }

  // A key of scope read, made as an operator would (`dtq keys create`).
  std::string make_read_key() const {
    const std::string command = std::string(DTQ_CLI) + " --data-dir " + data_.string() +
                                " keys create --name reader --scope read 2>/dev/null";
    FILE* out = popen(command.c_str(), "r");
    std::string key;
    char chunk[256];
    for (size_t n; (n = fread(chunk, 1, sizeof chunk, out)) > 0;) key.append(chunk, n);
    EXPECT_EQ(pclose(out), 0);
    while (!key.empty() && key.back() == '\n') key.pop_back();
    return key;
  }
  static void authorize(grpc::ClientContext& context, const std::string& token = kToken) {
    context.AddMetadata("authorization", "Bearer " + token);
  }
  static void bounded(grpc::ClientContext& context, std::chrono::seconds limit = 60s) {
    context.set_deadline(std::chrono::system_clock::now() + limit);
  }

  // SubmitJob with the token; the job id, or "" with `error` filled.
  std::string submit(const std::string& type, const std::string& payload,
                     CallError* error = nullptr, const std::string* token = nullptr) {
    grpc::ClientContext context;
    bounded(context);
    if (token == nullptr) {
      authorize(context);
    } else if (!token->empty()) {
      context.AddMetadata("authorization", *token);
    }
    v1::SubmitJobRequest request;
    request.set_job_type(type);
    request.set_payload_json(payload);
    v1::SubmitJobResponse response;
    const grpc::Status status = stub_->SubmitJob(&context, request, &response);
    if (error != nullptr) *error = call_error(status, context);
    if (!status.ok()) return "";
    return response.job_id();
  }

  Watched watch(const std::string& id) {
    grpc::ClientContext context;
    bounded(context);
    authorize(context);
    v1::WatchJobRequest request;
    request.set_job_id(id);
    auto reader = stub_->WatchJob(&context, request);
    Watched watched;
    v1::JobStatus status;
    while (reader->Read(&status)) watched.statuses.push_back(status);
    watched.end = call_error(reader->Finish(), context);
    return watched;
  }

  grpc::Status get(const std::string& id, v1::GetJobResponse& response,
                   CallError* error = nullptr) {
    grpc::ClientContext context;
    bounded(context);
    authorize(context);
    v1::GetJobRequest request;
    request.set_job_id(id);
    const grpc::Status status = stub_->GetJob(&context, request, &response);
    if (error != nullptr) *error = call_error(status, context);
    return status;
  }

  CallError cancel(const std::string& id, v1::CancelJobResponse* response = nullptr,
                   const std::string* authorization = nullptr) {
    grpc::ClientContext context;
    bounded(context);
    if (authorization == nullptr) {
      authorize(context);
    } else if (!authorization->empty()) {
      context.AddMetadata("authorization", *authorization);
    }
    v1::CancelJobRequest request;
    request.set_job_id(id);
    v1::CancelJobResponse ignored;
    return call_error(stub_->CancelJob(&context, request, response ? response : &ignored), context);
  }

  CallError list(const v1::ListJobsRequest& request, v1::ListJobsResponse& response) {
    grpc::ClientContext context;
    bounded(context);
    authorize(context);
    return call_error(stub_->ListJobs(&context, request, &response), context);
  }

  fs::path data_;
  std::unique_ptr<ServeProcess> server_;
  std::unique_ptr<v1::JobService::Stub> stub_;
};

// The progress a client saw never goes down, and the stream ends at its
// one terminal status.
void expect_well_formed(const Watched& watched, const std::string& id) {
  ASSERT_FALSE(watched.statuses.empty());
  EXPECT_EQ(watched.end.code, grpc::StatusCode::OK) << watched.end.message;
  int progress = 0;
  for (size_t i = 0; i < watched.statuses.size(); ++i) {
    const auto& status = watched.statuses[i];
    EXPECT_EQ(status.job_id(), id);
    EXPECT_GE(status.progress_percent(), progress);
    progress = status.progress_percent();
    const bool terminal = status.state() == v1::JOB_STATE_COMPLETED ||
                          status.state() == v1::JOB_STATE_FAILED ||
                          status.state() == v1::JOB_STATE_CANCELLED;
    EXPECT_EQ(terminal, i + 1 == watched.statuses.size()) << "status " << i;
  }
}

TEST_F(GrpcServeTest, EachJobTypeIsSubmittedAndWatchedToCompletion) {
  const std::vector<std::pair<std::string, std::string>> jobs = {
      {"weather", R"({"city":"Austin","country_code":"US","units":"metric"})"},
      {"quote", R"({"max_length":200})"},
      {"exchange_rate", R"({"base":"USD","target":"EUR","amount":1.0})"},
      {"github_user", R"({"username":"octocat"})"}};
  for (const auto& [type, payload] : jobs) {
    CallError error;
    const std::string id = submit(type, payload, &error);
    ASSERT_TRUE(is_uuid(id)) << type << ": " << error.message;
    const Watched watched = watch(id);
    expect_well_formed(watched, id);
    ASSERT_FALSE(watched.statuses.empty());
    EXPECT_EQ(watched.statuses.back().state(), v1::JOB_STATE_COMPLETED) << type;
    EXPECT_EQ(watched.statuses.back().progress_percent(), 100);
    EXPECT_EQ(watched.statuses.back().job_type(), type);

    v1::GetJobResponse job;
    ASSERT_TRUE(get(id, job).ok());
    EXPECT_EQ(job.job_id(), id);
    EXPECT_EQ(job.status().state(), v1::JOB_STATE_COMPLETED);
    ASSERT_TRUE(job.has_result()) << type;
    EXPECT_EQ(job.result().final_state(), v1::JOB_STATE_COMPLETED);
    EXPECT_EQ(job.result().job_type(), type);
    EXPECT_EQ(job.result().schema_version(), "1.0");
    EXPECT_FALSE(job.result().has_error());
    EXPECT_TRUE(nlohmann::json::parse(job.result().output_json()).is_object()) << type;
    EXPECT_TRUE(nlohmann::json::parse(job.result().input_json()).is_object()) << type;
  }
}

TEST_F(GrpcServeTest, WeatherWatchShowsTheMilestonesInOrder) {
  // A slow city lookup: the watcher is connected before the job reports 20.
  testing::shared_fake_provider().add_fault(
      R"({"path":"/v1/search","kind":"latency","delay_ms":500})");
  const std::string id = submit("weather", R"({"city":"Austin","country_code":"US"})");
  ASSERT_TRUE(is_uuid(id));
  const Watched watched = watch(id);
  expect_well_formed(watched, id);
  std::vector<int> milestones;
  for (const auto& status : watched.statuses) {
    if (milestones.empty() || milestones.back() != status.progress_percent()) {
      milestones.push_back(status.progress_percent());
    }
  }
  EXPECT_THAT(milestones, ElementsAre(0, 20, 50, 80, 100));
  EXPECT_EQ(watched.statuses.front().state() == v1::JOB_STATE_QUEUED ||
                watched.statuses.front().state() == v1::JOB_STATE_RUNNING,
            true);
}

TEST_F(GrpcServeTest, AWatchOfAJobThatEndedIsItsLastStatusAlone) {
  const std::string id = submit("quote", R"({"max_length":200})");
  ASSERT_TRUE(is_uuid(id));
  expect_well_formed(watch(id), id);
  const Watched again = watch(id);
  ASSERT_EQ(again.statuses.size(), 1U);
  EXPECT_EQ(again.statuses[0].state(), v1::JOB_STATE_COMPLETED);
  EXPECT_EQ(again.end.code, grpc::StatusCode::OK);
}

TEST_F(GrpcServeTest, AnInvalidPayloadIsInvalidArgumentWithThePluginsFieldErrors) {
  CallError error;
  EXPECT_EQ(submit("weather", R"({"city":""})", &error), "");
  EXPECT_EQ(error.code, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(error.error_code, "invalid_payload");
  EXPECT_THAT(error.fields, Contains("/city"));
  for (const auto& message : error.field_messages) EXPECT_FALSE(message.empty());

  EXPECT_EQ(submit("weather", R"({"city":"Austin","units":"kelvin"})", &error), "");
  EXPECT_EQ(error.code, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(error.fields, Contains("/units"));

  // Not a JSON object at all: refused before any plugin sees it.
  for (const std::string payload : {"", "{nope", "[1,2]", "\"Austin\"", "null"}) {
    EXPECT_EQ(submit("weather", payload, &error), "") << payload;
    EXPECT_EQ(error.code, grpc::StatusCode::INVALID_ARGUMENT) << payload;
    EXPECT_EQ(error.error_code, "invalid_request") << payload;
    EXPECT_THAT(error.fields, ElementsAre("payload_json")) << payload;
  }
}

TEST_F(GrpcServeTest, UnknownTypesJobsAndMalformedIdsAreRefused) {
  CallError error;
  EXPECT_EQ(submit("nope", "{}", &error), "");
  EXPECT_EQ(error.code, grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(error.error_code, "unknown_job_type");
  EXPECT_EQ(submit("", "{}", &error), "");
  EXPECT_EQ(error.code, grpc::StatusCode::NOT_FOUND);

  const std::string unknown = new_uuid4();
  v1::GetJobResponse job;
  EXPECT_EQ(get(unknown, job, &error).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(error.error_code, "unknown_job");
  const Watched watched = watch(unknown);
  EXPECT_TRUE(watched.statuses.empty());
  EXPECT_EQ(watched.end.code, grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(watched.end.error_code, "unknown_job");
  error = cancel(unknown);
  EXPECT_EQ(error.code, grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(error.error_code, "unknown_job");

  for (const std::string id : {"", "not-a-uuid", "00000000-0000-0000-0000-00000000000g", "a/b"}) {
    EXPECT_EQ(get(id, job, &error).error_code(), grpc::StatusCode::INVALID_ARGUMENT) << id;
    EXPECT_EQ(error.error_code, "malformed_id") << id;
    const Watched bad = watch(id);
    EXPECT_EQ(bad.end.code, grpc::StatusCode::INVALID_ARGUMENT) << id;
    EXPECT_EQ(bad.end.error_code, "malformed_id") << id;
    EXPECT_EQ(cancel(id).error_code, "malformed_id") << id;
  }
}

TEST_F(GrpcServeTest, WritesNeedASubmitKeyAndReadsAReadKey) {
  const std::string payload = R"({"max_length":200})";
  CallError error;
  for (const std::string& authorization :
       {std::string(), std::string("Bearer wrong"), std::string("Bearer ") + kToken + "x",
        std::string("Bearer ") + std::string(kToken).substr(1), std::string("Basic dXNlcjpwdw=="),
        std::string(kToken), std::string("Bearer ")}) {
    EXPECT_EQ(submit("quote", payload, &error, &authorization), "") << authorization;
    EXPECT_EQ(error.code, grpc::StatusCode::UNAUTHENTICATED) << authorization;
    EXPECT_EQ(error.error_code, "unauthorized") << authorization;
    EXPECT_EQ(cancel(new_uuid4(), nullptr, &authorization).code, grpc::StatusCode::UNAUTHENTICATED)
        << authorization;
  }
  // The token is checked before anything else: an unknown type says 401 too.
  const std::string none;
  EXPECT_EQ(submit("nope", payload, &error, &none), "");
  EXPECT_EQ(error.code, grpc::StatusCode::UNAUTHENTICATED);

  // Reads need a key too; the operator key (admin) reads.
  const std::string id = submit("quote", payload);
  ASSERT_TRUE(is_uuid(id));
  v1::GetJobResponse job;
  EXPECT_TRUE(get(id, job).ok());
  expect_well_formed(watch(id), id);
  v1::ListJobsResponse page;
  EXPECT_EQ(list({}, page).code, grpc::StatusCode::OK);
  for (const std::string& authorization : {std::string(), std::string("Bearer wrong")}) {
    grpc::ClientContext get_context;
    bounded(get_context);
    if (!authorization.empty()) get_context.AddMetadata("authorization", authorization);
    v1::GetJobRequest get_request;
    get_request.set_job_id(id);
    EXPECT_EQ(stub_->GetJob(&get_context, get_request, &job).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    grpc::ClientContext list_context;
    bounded(list_context);
    if (!authorization.empty()) list_context.AddMetadata("authorization", authorization);
    EXPECT_EQ(stub_->ListJobs(&list_context, {}, &page).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    grpc::ClientContext types_context;
    bounded(types_context);
    if (!authorization.empty()) types_context.AddMetadata("authorization", authorization);
    v1::ListJobTypesResponse types;
    EXPECT_EQ(stub_->ListJobTypes(&types_context, {}, &types).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    grpc::ClientContext watch_context;
    bounded(watch_context);
    if (!authorization.empty()) watch_context.AddMetadata("authorization", authorization);
    v1::WatchJobRequest watch_request;
    watch_request.set_job_id(id);
    auto reader = stub_->WatchJob(&watch_context, watch_request);
    v1::JobStatus status;
    EXPECT_FALSE(reader->Read(&status));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }

  // A read key reads and cannot write: PERMISSION_DENIED, not UNAUTHENTICATED.
  const std::string reader_key = make_read_key();
  grpc::ClientContext read_context;
  bounded(read_context);
  authorize(read_context, reader_key);
  v1::GetJobRequest read_request;
  read_request.set_job_id(id);
  EXPECT_TRUE(stub_->GetJob(&read_context, read_request, &job).ok());
  const std::string bearer = "Bearer " + reader_key;
  EXPECT_EQ(submit("quote", payload, &error, &bearer), "");
  EXPECT_EQ(error.code, grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(error.error_code, "forbidden");
  EXPECT_EQ(cancel(id, nullptr, &bearer).code, grpc::StatusCode::PERMISSION_DENIED);
}

// A unary call of the dead-letter rpcs with `token`.
template <class Method, class Request, class Response>
CallError call(v1::JobService::Stub& stub, Method method, const Request& request,
               Response& response, const std::string& token = kToken) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 60s);
  context.AddMetadata("authorization", "Bearer " + token);
  return call_error((stub.*method)(&context, request, &response), context);
}

// github_user fails for good (the fake GitHub knows no such user): every
// such job ends failed and dead-lettered after one attempt.
constexpr const char* kUnknownUser = R"({"username":"no-such-user-dtq"})";

TEST_F(GrpcServeTest, DeadLettersAreListedReplayedDeletedAndFailedJobsRetried) {
  using Stub = v1::JobService::Stub;
  const std::string first = submit("github_user", kUnknownUser);
  const std::string second = submit("github_user", kUnknownUser);
  const std::string fine = submit("quote", R"({"max_length":200})");
  for (const auto& id : {first, second, fine}) ASSERT_TRUE(is_uuid(id));
  EXPECT_EQ(watch(first).statuses.back().state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(watch(second).statuses.back().state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(watch(fine).statuses.back().state(), v1::JOB_STATE_COMPLETED);

  v1::ListDeadLettersRequest of_type;
  of_type.set_job_type("github_user");
  v1::ListDeadLettersResponse listed;
  // Dead-lettered just after the failed status is written.
  ASSERT_TRUE(testing::eventually([&] {
    listed.Clear();
    return call(*stub_, &Stub::ListDeadLetters, of_type, listed).code == grpc::StatusCode::OK &&
           listed.dead_letters_size() == 2;
  })) << listed.DebugString();
  // The two ran at once: either may have failed first; newest first.
  EXPECT_EQ(
      (std::set<std::string>{listed.dead_letters(0).job_id(), listed.dead_letters(1).job_id()}),
      (std::set<std::string>{first, second}));
  EXPECT_GE(listed.dead_letters(0).failed_at(), listed.dead_letters(1).failed_at());
  for (const auto& letter : listed.dead_letters()) {
    EXPECT_EQ(letter.job_type(), "github_user");
    EXPECT_EQ(letter.error().code(), "user_not_found");
    EXPECT_THAT(letter.error().message(), HasSubstr("no-such-user-dtq"));
    EXPECT_GE(letter.attempts(), 1U);
    EXPECT_EQ(nlohmann::json::parse(letter.payload_json()), nlohmann::json::parse(kUnknownUser));
    EXPECT_FALSE(letter.failed_at().empty());
    EXPECT_TRUE(letter.replayed_as().empty());
  }
  v1::ListDeadLettersRequest other;
  other.set_job_type("quote");
  v1::ListDeadLettersResponse none;
  EXPECT_EQ(call(*stub_, &Stub::ListDeadLetters, other, none).code, grpc::StatusCode::OK);
  EXPECT_EQ(none.dead_letters_size(), 0);
  other.set_job_type("Not A Type");
  EXPECT_EQ(call(*stub_, &Stub::ListDeadLetters, other, none).code,
            grpc::StatusCode::INVALID_ARGUMENT);

  // A read key lists and changes nothing.
  const std::string reader = make_read_key();
  EXPECT_EQ(call(*stub_, &Stub::ListDeadLetters, of_type, listed, reader).code,
            grpc::StatusCode::OK);
  v1::ReplayDeadLetterRequest replay;
  replay.set_job_id(first);
  v1::ReplayDeadLetterResponse replayed;
  const CallError refused = call(*stub_, &Stub::ReplayDeadLetter, replay, replayed, reader);
  EXPECT_EQ(refused.code, grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(refused.error_code, "forbidden");
  v1::RetryJobRequest retry;
  retry.set_job_id(first);
  v1::RetryJobResponse retried;
  EXPECT_EQ(call(*stub_, &Stub::RetryJob, retry, retried, reader).code,
            grpc::StatusCode::PERMISSION_DENIED);
  v1::DeleteDeadLetterRequest remove;
  remove.set_job_id(second);
  v1::DeleteDeadLetterResponse removed;
  EXPECT_EQ(call(*stub_, &Stub::DeleteDeadLetter, remove, removed, reader).code,
            grpc::StatusCode::PERMISSION_DENIED);
  v1::ReplayDeadLettersRequest all;
  all.set_job_type("github_user");
  v1::ReplayDeadLettersResponse all_replayed;
  EXPECT_EQ(call(*stub_, &Stub::ReplayDeadLetters, all, all_replayed, reader).code,
            grpc::StatusCode::PERMISSION_DENIED);

  // Replay one: a new job of the same type, payload and trace; once only.
  ASSERT_EQ(call(*stub_, &Stub::ReplayDeadLetter, replay, replayed).code, grpc::StatusCode::OK);
  ASSERT_TRUE(is_uuid(replayed.job_id()));
  EXPECT_NE(replayed.job_id(), first);
  const Watched rerun = watch(replayed.job_id());
  EXPECT_EQ(rerun.statuses.back().state(), v1::JOB_STATE_FAILED);
  const CallError twice = call(*stub_, &Stub::ReplayDeadLetter, replay, replayed);
  EXPECT_EQ(twice.code, grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(twice.error_code, "conflict");
  replay.set_job_id("not-a-uuid");
  EXPECT_EQ(call(*stub_, &Stub::ReplayDeadLetter, replay, replayed).error_code, "malformed_id");
  replay.set_job_id(new_uuid4());
  EXPECT_EQ(call(*stub_, &Stub::ReplayDeadLetter, replay, replayed).error_code, "unknown_job");

  // Delete: gone from the listing; a second delete is NOT_FOUND.
  ASSERT_EQ(call(*stub_, &Stub::DeleteDeadLetter, remove, removed).code, grpc::StatusCode::OK);
  const CallError gone = call(*stub_, &Stub::DeleteDeadLetter, remove, removed);
  EXPECT_EQ(gone.code, grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(gone.error_code, "unknown_job");

  // Retry: only a failed job; the new one says what it retries.
  retry.set_job_id(fine);
  const CallError not_failed = call(*stub_, &Stub::RetryJob, retry, retried);
  EXPECT_EQ(not_failed.code, grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(not_failed.error_code, "conflict");
  retry.set_job_id(new_uuid4());
  EXPECT_EQ(call(*stub_, &Stub::RetryJob, retry, retried).error_code, "unknown_job");
  retry.set_job_id(second);
  ASSERT_EQ(call(*stub_, &Stub::RetryJob, retry, retried).code, grpc::StatusCode::OK);
  v1::GetJobResponse original;
  v1::GetJobResponse again;
  ASSERT_TRUE(get(second, original).ok());
  ASSERT_TRUE(get(retried.job_id(), again).ok());
  EXPECT_EQ(again.status().trace_id(), original.status().trace_id());
  EXPECT_EQ(again.status().job_type(), "github_user");
  EXPECT_EQ(watch(retried.job_id()).statuses.back().state(), v1::JOB_STATE_FAILED);

  // Replay all: the unreplayed ones now listed are the rerun's and the
  // retry's own dead letters.
  ASSERT_TRUE(testing::eventually([&] {
    listed.Clear();
    return call(*stub_, &Stub::ListDeadLetters, of_type, listed).code == grpc::StatusCode::OK &&
           listed.dead_letters_size() == 3;
  })) << listed.DebugString();
  ASSERT_EQ(call(*stub_, &Stub::ReplayDeadLetters, all, all_replayed).code, grpc::StatusCode::OK);
  EXPECT_EQ(all_replayed.replayed(), 2U);
  // Each is marked replayed (its replay, failing again, is a dead letter of its own).
  ASSERT_TRUE(testing::eventually([&] {
    listed.Clear();
    return call(*stub_, &Stub::ListDeadLetters, of_type, listed).code == grpc::StatusCode::OK &&
           listed.dead_letters_size() == 5;
  })) << listed.DebugString();
  for (const auto& letter : listed.dead_letters()) {
    if (letter.job_id() == rerun.statuses.back().job_id() || letter.job_id() == retried.job_id()) {
      EXPECT_FALSE(letter.replayed_as().empty()) << letter.DebugString();
    }
  }
  all.set_job_type("");
  EXPECT_EQ(call(*stub_, &Stub::ReplayDeadLetters, all, all_replayed).code,
            grpc::StatusCode::INVALID_ARGUMENT);
}

// Pausing a job type: an admin call; its jobs wait, accepted, until resumed.
TEST_F(GrpcServeTest, APausedJobTypeKeepsItsJobsQueuedUntilResumed) {
  using Stub = v1::JobService::Stub;
  const auto quote_paused = [&] {
    v1::ListJobTypesResponse listed;
    EXPECT_EQ(call(*stub_, &Stub::ListJobTypes, v1::ListJobTypesRequest{}, listed).code,
              grpc::StatusCode::OK);
    for (const auto& info : listed.job_types()) {
      if (info.job_type() == "quote") return info.paused();
    }
    ADD_FAILURE() << "quote is not listed";
    return false;
  };
  v1::PauseJobTypeRequest pause;
  pause.set_job_type("quote");
  v1::PauseJobTypeResponse paused;
  v1::ResumeJobTypeRequest resume;
  resume.set_job_type("quote");
  v1::ResumeJobTypeResponse resumed;

  // A read key changes nothing; a bad or unknown type is refused.
  const std::string reader = make_read_key();
  const CallError refused = call(*stub_, &Stub::PauseJobType, pause, paused, reader);
  EXPECT_EQ(refused.code, grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(refused.error_code, "forbidden");
  EXPECT_EQ(call(*stub_, &Stub::ResumeJobType, resume, resumed, reader).code,
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_FALSE(quote_paused());
  v1::PauseJobTypeRequest unknown;
  unknown.set_job_type("nope");
  const CallError not_found = call(*stub_, &Stub::PauseJobType, unknown, paused);
  EXPECT_EQ(not_found.code, grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(not_found.error_code, "unknown_job_type");
  unknown.set_job_type("Not A Type");
  EXPECT_EQ(call(*stub_, &Stub::PauseJobType, unknown, paused).code,
            grpc::StatusCode::INVALID_ARGUMENT);

  ASSERT_EQ(call(*stub_, &Stub::PauseJobType, pause, paused).code, grpc::StatusCode::OK);
  EXPECT_EQ(paused.job_type(), "quote");
  EXPECT_TRUE(paused.paused());
  EXPECT_TRUE(quote_paused());
  const std::string held = submit("quote", R"({"max_length":200})");
  ASSERT_TRUE(is_uuid(held));
  // Another type runs meanwhile: quote's idle workers had every chance.
  EXPECT_EQ(watch(submit("github_user", kUnknownUser)).statuses.back().state(),
            v1::JOB_STATE_FAILED);
  v1::GetJobResponse waiting;
  ASSERT_TRUE(get(held, waiting).ok());
  EXPECT_EQ(waiting.status().state(), v1::JOB_STATE_QUEUED);

  ASSERT_EQ(call(*stub_, &Stub::ResumeJobType, resume, resumed).code, grpc::StatusCode::OK);
  EXPECT_FALSE(resumed.paused());
  EXPECT_FALSE(quote_paused());
  EXPECT_EQ(watch(held).statuses.back().state(), v1::JOB_STATE_COMPLETED);
}

TEST_F(GrpcServeTest, CancelEndsARunningJobAndRefusesAnEndedOne) {
  // The forecast takes long: the job is running when it is cancelled.
  testing::shared_fake_provider().add_fault(
      R"({"path":"/v1/forecast","kind":"latency","delay_ms":4000})");
  const std::string id = submit("weather", R"({"city":"Austin","country_code":"US"})");
  ASSERT_TRUE(is_uuid(id));
  // Wait until it runs, through a watch that is then dropped by the client.
  {
    grpc::ClientContext context;
    bounded(context);
    authorize(context);
    v1::WatchJobRequest request;
    request.set_job_id(id);
    auto reader = stub_->WatchJob(&context, request);
    v1::JobStatus status;
    while (reader->Read(&status) && status.progress_percent() < 20) {
    }
    EXPECT_EQ(status.state(), v1::JOB_STATE_RUNNING);
    context.TryCancel();
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  v1::CancelJobResponse cancelled;
  const CallError error = cancel(id, &cancelled);
  ASSERT_EQ(error.code, grpc::StatusCode::OK) << error.message;
  EXPECT_EQ(cancelled.status().job_id(), id);
  const Watched watched = watch(id);
  expect_well_formed(watched, id);
  ASSERT_FALSE(watched.statuses.empty());
  EXPECT_EQ(watched.statuses.back().state(), v1::JOB_STATE_CANCELLED);

  const CallError again = cancel(id);
  EXPECT_EQ(again.code, grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(again.error_code, "conflict");
}

TEST_F(GrpcServeTest, ListingPagesNewestFirstWithFilters) {
  std::vector<std::string> submitted;
  for (int i = 0; i < 5; ++i) {
    submitted.push_back(submit("quote", R"({"max_length":200})"));
    ASSERT_TRUE(is_uuid(submitted.back()));
  }
  const std::string weather = submit("weather", R"({"city":"Austin","country_code":"US"})");
  ASSERT_TRUE(is_uuid(weather));
  for (const auto& id : submitted) expect_well_formed(watch(id), id);
  expect_well_formed(watch(weather), weather);

  // Pages of two, following the cursor, newest submitted first.
  v1::ListJobsRequest request;
  request.set_job_type("quote");
  request.set_limit(2);
  std::vector<std::string> seen;
  std::set<std::string> cursors;
  for (int page = 0; page < 10; ++page) {
    v1::ListJobsResponse response;
    const CallError error = list(request, response);
    ASSERT_EQ(error.code, grpc::StatusCode::OK) << error.message;
    EXPECT_LE(response.jobs_size(), 2);
    for (const auto& status : response.jobs()) {
      EXPECT_EQ(status.job_type(), "quote");
      seen.push_back(status.job_id());
    }
    if (response.next_cursor().empty()) break;
    EXPECT_TRUE(cursors.insert(response.next_cursor()).second);
    request.set_cursor(response.next_cursor());
  }
  EXPECT_EQ(seen, std::vector<std::string>(submitted.rbegin(), submitted.rend()));

  // Every type, the default limit: the weather job is the newest.
  v1::ListJobsResponse all;
  ASSERT_EQ(list({}, all).code, grpc::StatusCode::OK);
  ASSERT_EQ(all.jobs_size(), 6);
  EXPECT_EQ(all.jobs(0).job_id(), weather);
  EXPECT_TRUE(all.next_cursor().empty());

  // By state.
  v1::ListJobsRequest completed;
  completed.set_state(v1::JOB_STATE_COMPLETED);
  v1::ListJobsResponse done;
  ASSERT_EQ(list(completed, done).code, grpc::StatusCode::OK);
  EXPECT_EQ(done.jobs_size(), 6);
  completed.set_state(v1::JOB_STATE_FAILED);
  ASSERT_EQ(list(completed, done).code, grpc::StatusCode::OK);
  EXPECT_EQ(done.jobs_size(), 0);

  // Bad arguments, named.
  v1::ListJobsRequest bad;
  bad.set_limit(501);
  CallError error = list(bad, done);
  EXPECT_EQ(error.code, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(error.error_code, "invalid_argument");
  EXPECT_THAT(error.fields, ElementsAre("limit"));
  bad = {};
  bad.set_state(static_cast<v1::JobState>(42));
  error = list(bad, done);
  EXPECT_EQ(error.code, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(error.fields, ElementsAre("state"));
  bad = {};
  bad.set_cursor("garbage");
  error = list(bad, done);
  EXPECT_EQ(error.code, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(error.fields, ElementsAre("cursor"));
}

TEST_F(GrpcServeTest, ListJobTypesNamesEveryPluginWithItsSchemaAndPools) {
  grpc::ClientContext context;
  bounded(context);
  authorize(context);
  v1::ListJobTypesResponse response;
  ASSERT_TRUE(stub_->ListJobTypes(&context, {}, &response).ok());
  std::vector<std::string> types;
  for (const auto& info : response.job_types()) {
    types.push_back(info.job_type());
    EXPECT_FALSE(info.name().empty());
    EXPECT_FALSE(info.version().empty());
    EXPECT_FALSE(info.description().empty());
    EXPECT_THAT(info.abi_version(), HasSubstr("."));
    EXPECT_GT(info.concurrency(), 0U);
    EXPECT_EQ(info.pools(), 1U);
    EXPECT_EQ(info.in_flight(), 0U);
    const auto schema = nlohmann::json::parse(info.payload_schema_json());
    EXPECT_TRUE(schema.contains("properties")) << info.job_type();
  }
  EXPECT_THAT(types, ElementsAre("exchange_rate", "github_user", "quote", "weather"));
}

TEST_F(GrpcServeTest, TheRestFaceSeesTheSameJobs) {
  const std::string id = submit("quote", R"({"max_length":200})");
  ASSERT_TRUE(is_uuid(id));
  expect_well_formed(watch(id), id);
  const auto [code, body] = rest_get(server_->url() + "/v1/jobs/" + id);
  EXPECT_EQ(code, 200);
  EXPECT_THAT(body, HasSubstr(R"("final_state":"completed")"));
  v1::GetJobResponse job;
  ASSERT_TRUE(get(id, job).ok());
  EXPECT_EQ(nlohmann::json::parse(body)["result"]["output"],
            nlohmann::json::parse(job.result().output_json()));
}

TEST_F(GrpcServeTest, WatchesPastTheLimitAreRefusedAndACancelledOneFreesItsSlot) {
  start({"--max-streams", "2"});
  testing::shared_fake_provider().add_fault(
      R"({"path":"/v1/forecast","kind":"latency","delay_ms":3000})");
  const std::string id = submit("weather", R"({"city":"Austin","country_code":"US"})");
  ASSERT_TRUE(is_uuid(id));
  struct Open {
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReader<v1::JobStatus>> reader;
  };
  std::vector<std::unique_ptr<Open>> open;
  for (int i = 0; i < 2; ++i) {
    auto watch = std::make_unique<Open>();
    bounded(watch->context);
    authorize(watch->context);
    v1::WatchJobRequest request;
    request.set_job_id(id);
    watch->reader = stub_->WatchJob(&watch->context, request);
    v1::JobStatus snapshot;
    ASSERT_TRUE(watch->reader->Read(&snapshot));  // the stream is open
    open.push_back(std::move(watch));
  }
  const Watched third = watch(id);
  EXPECT_TRUE(third.statuses.empty());
  EXPECT_EQ(third.end.code, grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(third.end.error_code, "too_many_streams");

  open[0]->context.TryCancel();
  EXPECT_EQ(open[0]->reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  // The slot is free once the server has seen the cancel.
  Watched fourth;
  for (int attempt = 0; attempt < 50; ++attempt) {
    fourth = watch(id);
    if (fourth.end.code != grpc::StatusCode::RESOURCE_EXHAUSTED) break;
    std::this_thread::sleep_for(100ms);
  }
  expect_well_formed(fourth, id);
  v1::JobStatus rest;
  while (open[1]->reader->Read(&rest)) {
  }
  EXPECT_EQ(rest.state(), v1::JOB_STATE_COMPLETED);
  EXPECT_TRUE(open[1]->reader->Finish().ok());
}

TEST_F(GrpcServeTest, SigtermEndsOpenWatchesAndExitsCleanly) {
  testing::shared_fake_provider().add_fault(
      R"({"path":"/v1/forecast","kind":"latency","delay_ms":3000})");
  const std::string id = submit("weather", R"({"city":"Austin","country_code":"US"})");
  ASSERT_TRUE(is_uuid(id));
  grpc::ClientContext context;
  bounded(context);
  authorize(context);
  v1::WatchJobRequest request;
  request.set_job_id(id);
  auto reader = stub_->WatchJob(&context, request);
  v1::JobStatus status;
  ASSERT_TRUE(reader->Read(&status));
  const auto signalled = std::chrono::steady_clock::now();
  std::thread stopper([&] { EXPECT_EQ(server_->terminate(), 0); });
  while (reader->Read(&status)) {
  }
  const grpc::Status ended = reader->Finish();
  // The watch ends at once, not when the engine has drained the job.
  EXPECT_LT(std::chrono::steady_clock::now() - signalled, 2s);
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::UNAVAILABLE) << ended.error_message();
  stopper.join();
  EXPECT_LT(std::chrono::steady_clock::now() - signalled, 30s);
}

// POST /v1/jobs over REST with the operator key and an Idempotency-Key:
// the body (the job id in it).
std::string rest_submit_keyed(const std::string& url, const std::string& body,
                              const std::string& key) {
  CURL* curl = curl_easy_init();
  std::string answer;
  curl_slist* headers = nullptr;
  for (const std::string& line :
       {std::string("Authorization: Bearer ") + kToken,
        std::string("Content-Type: application/json"), "Idempotency-Key: " + key}) {
    headers = curl_slist_append(headers, line.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
  curl_easy_perform(curl);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return answer;
}

// SubmitJob's priority: shown in the status and by GetJob; UNSPECIFIED is
// NORMAL; a number this server does not know is refused.
TEST_F(GrpcServeTest, APriorityIsTakenShownAndChecked) {
  const auto submit_with = [&](int priority, v1::SubmitJobResponse& response) {
    grpc::ClientContext context;
    bounded(context);
    authorize(context);
    v1::SubmitJobRequest request;
    request.set_job_type("quote");
    request.set_payload_json(R"({"max_length":200})");
    request.set_priority(static_cast<v1::JobPriority>(priority));
    return call_error(stub_->SubmitJob(&context, request, &response), context);
  };
  v1::SubmitJobResponse high;
  ASSERT_EQ(submit_with(v1::JOB_PRIORITY_HIGH, high).code, grpc::StatusCode::OK);
  EXPECT_EQ(high.status().priority(), v1::JOB_PRIORITY_HIGH);
  {
    grpc::ClientContext context;
    bounded(context);
    authorize(context);
    v1::GetJobRequest request;
    request.set_job_id(high.job_id());
    v1::GetJobResponse response;
    ASSERT_TRUE(stub_->GetJob(&context, request, &response).ok());
    EXPECT_EQ(response.status().priority(), v1::JOB_PRIORITY_HIGH);
  }
  v1::SubmitJobResponse unspecified;
  ASSERT_EQ(submit_with(v1::JOB_PRIORITY_UNSPECIFIED, unspecified).code, grpc::StatusCode::OK);
  EXPECT_EQ(unspecified.status().priority(), v1::JOB_PRIORITY_NORMAL);
  v1::SubmitJobResponse refused;
  const CallError unknown = submit_with(42, refused);
  EXPECT_EQ(unknown.code, grpc::StatusCode::INVALID_ARGUMENT) << unknown.message;
  EXPECT_EQ(unknown.error_code, "invalid_request");
  EXPECT_EQ(unknown.fields, std::vector<std::string>{"priority"});
}

// SubmitJob's idempotency_key: the REST face's Idempotency-Key, the same
// keys (one store, scoped to the API key).
TEST_F(GrpcServeTest, AnIdempotencyKeyMakesRepeatsAnswerTheFirstJob) {
  const auto keyed_submit = [&](const std::string& type, const std::string& payload,
                                const std::string& key, v1::SubmitJobResponse& response) {
    grpc::ClientContext context;
    bounded(context);
    authorize(context);
    v1::SubmitJobRequest request;
    request.set_job_type(type);
    request.set_payload_json(payload);
    request.set_idempotency_key(key);
    return call_error(stub_->SubmitJob(&context, request, &response), context);
  };
  v1::SubmitJobResponse first;
  ASSERT_EQ(keyed_submit("quote", R"({"max_length":200})", "order-17", first).code,
            grpc::StatusCode::OK);
  EXPECT_FALSE(first.replayed());
  v1::SubmitJobResponse again;
  ASSERT_EQ(keyed_submit("quote", R"({ "max_length": 200 })", "order-17", again).code,
            grpc::StatusCode::OK);
  EXPECT_TRUE(again.replayed());
  EXPECT_EQ(again.job_id(), first.job_id());
  EXPECT_EQ(again.trace_id(), first.trace_id());
  EXPECT_EQ(again.status().job_id(), first.job_id());

  v1::SubmitJobResponse refused;
  const CallError conflict = keyed_submit("quote", R"({"max_length":100})", "order-17", refused);
  EXPECT_EQ(conflict.code, grpc::StatusCode::ALREADY_EXISTS) << conflict.message;
  EXPECT_EQ(conflict.error_code, "idempotency_conflict");
  const CallError malformed =
      keyed_submit("quote", R"({"max_length":200})", std::string(256, 'k'), refused);
  EXPECT_EQ(malformed.code, grpc::StatusCode::INVALID_ARGUMENT) << malformed.message;
  EXPECT_EQ(malformed.error_code, "invalid_idempotency_key");

  // A key used over REST is the same key here.
  const std::string rest =
      rest_submit_keyed(server_->url() + "/v1/jobs",
                        R"({"job_type":"quote","payload":{"max_length":50}})", "from-rest");
  v1::SubmitJobResponse over_grpc;
  ASSERT_EQ(keyed_submit("quote", R"({"max_length":50})", "from-rest", over_grpc).code,
            grpc::StatusCode::OK);
  EXPECT_TRUE(over_grpc.replayed());
  EXPECT_THAT(rest, HasSubstr(over_grpc.job_id()));

  v1::ListJobsResponse page;
  ASSERT_EQ(list({}, page).code, grpc::StatusCode::OK);
  EXPECT_EQ(page.jobs_size(), 2);
}

// SubmitJobs: a batch, each job answered on its own and in order.
v1::SubmitJobRequest job_request(const std::string& type, const std::string& payload) {
  v1::SubmitJobRequest request;
  request.set_job_type(type);
  request.set_payload_json(payload);
  return request;
}

TEST_F(GrpcServeTest, SubmitJobsAnswersEachJobInOrderAndItsAcceptedJobsRun) {
  v1::SubmitJobsRequest request;
  *request.add_jobs() = job_request("quote", R"({"max_length":200})");
  *request.add_jobs() = job_request("nope", "{}");
  *request.add_jobs() = job_request("quote", R"({"max_length":5})");
  *request.add_jobs() = job_request("quote", "[1]");
  auto high = job_request("quote", R"({"max_length":300})");
  high.set_priority(v1::JOB_PRIORITY_HIGH);
  *request.add_jobs() = high;
  auto delayed = job_request("quote", R"({"max_length":200})");
  delayed.set_delay_seconds(3600);
  *request.add_jobs() = delayed;
  v1::SubmitJobsResponse response;
  ASSERT_EQ(call(*stub_, &v1::JobService::Stub::SubmitJobs, request, response).code,
            grpc::StatusCode::OK);
  ASSERT_EQ(response.results_size(), 6);
  for (const int i : {0, 4, 5}) EXPECT_TRUE(response.results(i).has_job()) << i;
  EXPECT_EQ(response.results(5).job().status().state(), v1::JOB_STATE_SCHEDULED);
  EXPECT_EQ(response.results(4).job().status().priority(), v1::JOB_PRIORITY_HIGH);
  const auto& unknown = response.results(1).error();
  EXPECT_EQ(unknown.code(), static_cast<int>(grpc::StatusCode::NOT_FOUND));
  EXPECT_EQ(unknown.details().code(), "unknown_job_type");
  const auto& invalid = response.results(2).error();
  EXPECT_EQ(invalid.code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_EQ(invalid.details().code(), "invalid_payload");
  ASSERT_EQ(invalid.details().field_errors_size(), 1);
  EXPECT_EQ(invalid.details().field_errors(0).field(), "/max_length");
  EXPECT_EQ(response.results(3).error().details().code(), "invalid_request");

  for (const int i : {0, 4}) {
    const Watched watched = watch(response.results(i).job().job_id());
    ASSERT_FALSE(watched.statuses.empty());
    EXPECT_EQ(watched.statuses.back().state(), v1::JOB_STATE_COMPLETED) << i;
  }
  v1::ListJobsRequest everything;
  v1::ListJobsResponse page;
  ASSERT_EQ(list(everything, page).code, grpc::StatusCode::OK);
  EXPECT_EQ(page.jobs_size(), 3);
}

TEST_F(GrpcServeTest, SubmitJobsNeedsASubmitKeyAndOneToAThousandJobs) {
  v1::SubmitJobsRequest request;
  v1::SubmitJobsResponse response;
  EXPECT_EQ(call(*stub_, &v1::JobService::Stub::SubmitJobs, request, response).error_code,
            "invalid_request");
  for (int i = 0; i < 1001; ++i) *request.add_jobs() = job_request("quote", "{}");
  EXPECT_EQ(call(*stub_, &v1::JobService::Stub::SubmitJobs, request, response).code,
            grpc::StatusCode::INVALID_ARGUMENT);
  request.mutable_jobs()->RemoveLast();
  const CallError refused =
      call(*stub_, &v1::JobService::Stub::SubmitJobs, request, response, make_read_key());
  EXPECT_EQ(refused.code, grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(call(*stub_, &v1::JobService::Stub::SubmitJobs, request, response, "wrong").code,
            grpc::StatusCode::UNAUTHENTICATED);
  // A thousand jobs is a batch: each accepted, each a job of its own.
  ASSERT_EQ(call(*stub_, &v1::JobService::Stub::SubmitJobs, request, response).code,
            grpc::StatusCode::OK);
  ASSERT_EQ(response.results_size(), 1000);
  std::set<std::string> ids;
  for (const auto& result : response.results()) ids.insert(result.job().job_id());
  EXPECT_EQ(ids.size(), 1000U);
  EXPECT_FALSE(ids.contains(""));
}

}  // namespace
}  // namespace dtq
