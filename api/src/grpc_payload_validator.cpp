#include "dtq/api/grpc_payload_validator.hpp"

#include <dtq/v1/worker.grpc.pb.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <utility>

#include "dtq/rpc/grpc_server.hpp"

namespace dtq::api {
namespace {

namespace v1 = ::dtq::v1;

// How soon a channel tries a worker again after failing to connect: short,
// because a worker pod that restarts should be asked again within seconds.
constexpr int kInitialReconnectBackoffMs = 100;
constexpr int kMaxReconnectBackoffMs = 2000;
// How long one connection attempt (TCP and the HTTP/2 handshake) may take
// (gRPC names it the minimum reconnect backoff); a call's own deadline
// cuts it shorter.
constexpr int kConnectTimeoutMs = 1000;

}  // namespace

class GrpcPayloadValidator::Impl {
 public:
  explicit Impl(GrpcPayloadValidatorSettings settings) : settings_(std::move(settings)) {}

  StatusOr<ValidationOutcome> check(std::string_view job_type, std::string_view payload);
  std::vector<StatusOr<ValidationOutcome>> check_batch(std::string_view job_type,
                                                       std::span<const std::string_view> payloads);

 private:
  using WorkerCall =
      std::function<grpc::Status(v1::WorkerService::Stub& stub, grpc::ClientContext& context)>;

  // Asks the workers of `job_type` in turn, each call with the deadline and
  // the cluster secret, until one answers. OK then; NotFound when no worker
  // runs or hosts the type; Unavailable, naming the last failure, when
  // none could answer.
  Status ask_workers(std::string_view job_type, const WorkerCall& call);
  // A worker's answer as the port's outcome.
  static ValidationOutcome outcome_of(const v1::ValidatePayloadResponse& response);

  struct Cached {
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<v1::WorkerService::Stub> stub;
    uint64_t last_used = 0;
  };

  // The stub for `address`, made on first use. Stubs are thread-safe and
  // shared; the shared_ptr keeps one alive while a call uses it even if
  // the cache drops it meanwhile.
  std::shared_ptr<Cached> stub_for(const std::string& address);

  const GrpcPayloadValidatorSettings settings_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Cached>, std::less<>> cache_;  // guarded by mutex_
  uint64_t clock_ = 0;                                                 // guarded by mutex_
};

std::shared_ptr<GrpcPayloadValidator::Impl::Cached> GrpcPayloadValidator::Impl::stub_for(
    const std::string& address) {
  std::lock_guard lock(mutex_);
  if (auto found = cache_.find(address); found != cache_.end()) {
    found->second->last_used = ++clock_;
    return found->second;
  }
  if (cache_.size() >= std::max<size_t>(settings_.max_channels, 1)) {
    auto oldest = std::min_element(cache_.begin(), cache_.end(), [](const auto& a, const auto& b) {
      return a.second->last_used < b.second->last_used;
    });
    cache_.erase(oldest);
  }
  grpc::ChannelArguments arguments;
  arguments.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, kConnectTimeoutMs);
  arguments.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, kInitialReconnectBackoffMs);
  arguments.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, kMaxReconnectBackoffMs);
  arguments.SetMaxReceiveMessageSize(static_cast<int>(
      std::min<size_t>(settings_.max_message_bytes, std::numeric_limits<int>::max())));
  auto cached = std::make_shared<Cached>();
  cached->channel =
      grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), arguments);
  cached->stub = v1::WorkerService::NewStub(cached->channel);
  cached->last_used = ++clock_;
  cache_.emplace(address, cached);
  return cached;
}

Status GrpcPayloadValidator::Impl::ask_workers(std::string_view job_type, const WorkerCall& call) {
  const std::vector<std::string> candidates =
      settings_.resolve ? settings_.resolve(job_type) : std::vector<std::string>{};
  if (candidates.empty()) {
    return not_found("no worker pool runs job type \"" + std::string(job_type) + "\"");
  }
  std::string last_failure;
  size_t not_hosting = 0;
  for (const auto& address : candidates) {
    const auto cached = stub_for(address);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + settings_.deadline);
    context.AddMetadata(std::string(rpc::kClusterSecretKey), settings_.cluster_secret);
    const grpc::Status called = call(*cached->stub, context);
    if (called.ok()) return {};
    if (called.error_code() == grpc::StatusCode::NOT_FOUND) {
      ++not_hosting;
    } else {
      last_failure = address + ": " + called.error_message() + " (gRPC code " +
                     std::to_string(static_cast<int>(called.error_code())) + ")";
    }
    spdlog::debug("validating {} payloads: worker {} did not answer: {}", job_type, address,
                  called.error_message());
  }
  if (not_hosting == candidates.size()) {
    return not_found("no worker hosts job type \"" + std::string(job_type) + "\"");
  }
  return unavailable("no worker of job type \"" + std::string(job_type) +
                     "\" could validate the payload; last: " + last_failure);
}

StatusOr<ValidationOutcome> GrpcPayloadValidator::Impl::check(std::string_view job_type,
                                                              std::string_view payload) {
  v1::ValidatePayloadRequest request;
  request.set_job_type(std::string(job_type));
  request.set_payload_json(std::string(payload));
  v1::ValidatePayloadResponse response;
  const Status asked =
      ask_workers(job_type, [&](v1::WorkerService::Stub& stub, grpc::ClientContext& context) {
        return stub.ValidatePayload(&context, request, &response);
      });
  if (!asked.ok()) return asked;
  return outcome_of(response);
}

ValidationOutcome GrpcPayloadValidator::Impl::outcome_of(
    const v1::ValidatePayloadResponse& response) {
  ValidationOutcome outcome;
  if (response.valid()) {
    outcome.normalized_payload = response.normalized_payload_json();
    return outcome;
  }
  for (const auto& error : response.field_errors()) {
    outcome.errors.push_back({error.field(), error.message()});
  }
  // A refusal without a reason is still a refusal.
  if (outcome.errors.empty()) outcome.errors.push_back({"", "refused by the plugin"});
  return outcome;
}

std::vector<StatusOr<ValidationOutcome>> GrpcPayloadValidator::Impl::check_batch(
    std::string_view job_type, std::span<const std::string_view> payloads) {
  v1::ValidatePayloadsRequest request;
  request.set_job_type(std::string(job_type));
  for (const std::string_view payload : payloads) request.add_payload_json(std::string(payload));
  v1::ValidatePayloadsResponse response;
  const Status asked =
      ask_workers(job_type, [&](v1::WorkerService::Stub& stub, grpc::ClientContext& context) {
        grpc::Status called = stub.ValidatePayloads(&context, request, &response);
        if (called.ok() && static_cast<size_t>(response.verdicts_size()) != payloads.size()) {
          return grpc::Status(grpc::StatusCode::INTERNAL,
                              std::to_string(response.verdicts_size()) + " verdicts for " +
                                  std::to_string(payloads.size()) + " payloads");
        }
        return called;
      });
  std::vector<StatusOr<ValidationOutcome>> outcomes;
  outcomes.reserve(payloads.size());
  if (asked.code() == StatusCode::kNotFound) {
    outcomes.assign(payloads.size(), asked);
    return outcomes;
  }
  for (size_t i = 0; i < payloads.size(); ++i) {
    // A worker without the batch call (an older one), or one that failed it
    // or one of its payloads, is asked again one payload at a time.
    const bool answered = asked.ok() && response.verdicts(static_cast<int>(i)).code() == 0;
    outcomes.push_back(answered ? StatusOr<ValidationOutcome>(
                                      outcome_of(response.verdicts(static_cast<int>(i)).answer()))
                                : check(job_type, payloads[i]));
  }
  return outcomes;
}

GrpcPayloadValidator::GrpcPayloadValidator(GrpcPayloadValidatorSettings settings)
    : impl_(std::make_unique<Impl>(std::move(settings))) {}

GrpcPayloadValidator::~GrpcPayloadValidator() = default;

StatusOr<ValidationOutcome> GrpcPayloadValidator::check(std::string_view job_type,
                                                        std::string_view payload) {
  return impl_->check(job_type, payload);
}

std::vector<StatusOr<ValidationOutcome>> GrpcPayloadValidator::check_batch(
    std::string_view job_type, std::span<const std::string_view> payloads) {
  return impl_->check_batch(job_type, payloads);
}

std::optional<ValidationOutcome> GrpcPayloadValidator::validate(std::string_view job_type,
                                                                std::string_view payload) {
  auto checked = impl_->check(job_type, payload);
  if (checked.ok()) return std::move(checked).value();
  if (checked.status().code() != StatusCode::kNotFound) {
    spdlog::warn("refusing a {} job: {}", job_type, checked.status().message());
  }
  return std::nullopt;
}

}  // namespace dtq::api
