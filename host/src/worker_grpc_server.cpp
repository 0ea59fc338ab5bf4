#include "dtq/host/worker_grpc_server.hpp"

#include <dtq/v1/worker.grpc.pb.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <string_view>
#include <utility>
#include <vector>

#include "dtq/core/api_keys.hpp"
#include "dtq/rpc/grpc_server.hpp"

namespace dtq::host {
namespace {

namespace v1 = ::dtq::v1;

}  // namespace

class WorkerGrpcServer::Impl final : public v1::WorkerService::Service {
 public:
  Impl(WorkerGrpcSettings settings, const PluginRegistry& plugins)
      : settings_(std::move(settings)), plugins_(plugins) {}

  Status start() {
    if (settings_.cluster_secret.empty()) {
      return invalid_argument(
          "the WorkerService needs the cluster secret (--cluster-secret or $DTQ_CLUSTER_SECRET, "
          "the same for every worker and API)");
    }
    return server_.start(
        {.address = settings_.listen_address, .max_message_bytes = settings_.max_message_bytes},
        {this});
  }

  void stop() { server_.stop(settings_.shutdown_grace); }
  uint16_t port() const noexcept { return server_.port(); }

  grpc::Status ValidatePayload(grpc::ServerContext* context,
                               const v1::ValidatePayloadRequest* request,
                               v1::ValidatePayloadResponse* response) override {
    grpc::Status refused;
    const auto plugin = plugin_for(*context, request->job_type(), refused);
    if (!plugin) return refused;
    StatusOr<ValidationOutcome> checked = internal_error("not checked");
    try {
      checked = plugin->check(request->payload_json());
    } catch (const std::exception& e) {
      spdlog::error("validating a {} payload: {}", request->job_type(), e.what());
      return {grpc::StatusCode::INTERNAL, "internal error"};
    }
    // A plugin that could not answer (its runner crashed or overran the
    // validation time limit) is no verdict on the payload: the API tries
    // another worker, or tells its client to try again.
    if (!checked.ok()) return {unanswered_code(checked.status()), checked.status().message()};
    answer(*checked, *response);
    return grpc::Status::OK;
  }

  grpc::Status ValidatePayloads(grpc::ServerContext* context,
                                const v1::ValidatePayloadsRequest* request,
                                v1::ValidatePayloadsResponse* response) override {
    grpc::Status refused;
    const auto plugin = plugin_for(*context, request->job_type(), refused);
    if (!plugin) return refused;
    const std::vector<std::string_view> payloads(request->payload_json().begin(),
                                                 request->payload_json().end());
    std::vector<StatusOr<ValidationOutcome>> checked;
    try {
      checked = plugin->check_batch(payloads);
    } catch (const std::exception& e) {
      spdlog::error("validating {} payloads: {}", request->job_type(), e.what());
      return {grpc::StatusCode::INTERNAL, "internal error"};
    }
    for (const auto& outcome : checked) {
      auto* verdict = response->add_verdicts();
      if (outcome.ok()) {
        answer(*outcome, *verdict->mutable_answer());
      } else {
        verdict->set_code(unanswered_code(outcome.status()));
        verdict->set_unanswered(outcome.status().message());
      }
    }
    return grpc::Status::OK;
  }

 private:
  // The plugin of `job_type` once the caller proved it knows the cluster
  // secret; null, with `refused` saying why, otherwise.
  std::shared_ptr<Plugin> plugin_for(const grpc::ServerContext& context,
                                     const std::string& job_type, grpc::Status& refused) const {
    const auto& metadata = context.client_metadata();
    const auto secret = metadata.find(std::string(rpc::kClusterSecretKey));
    if (secret == metadata.end() ||
        !secrets_equal(std::string_view(secret->second.data(), secret->second.size()),
                       settings_.cluster_secret)) {
      refused = {grpc::StatusCode::UNAUTHENTICATED, "the cluster secret is missing or wrong"};
      return nullptr;
    }
    auto plugin = plugins_.find(job_type);
    if (!plugin) {
      refused = {grpc::StatusCode::NOT_FOUND,
                 "this worker hosts no plugin for job type \"" + job_type + "\""};
    }
    return plugin;
  }

  static grpc::StatusCode unanswered_code(const Status& status) {
    return status.code() == StatusCode::kDeadlineExceeded ? grpc::StatusCode::DEADLINE_EXCEEDED
                                                          : grpc::StatusCode::UNAVAILABLE;
  }

  static void answer(const ValidationOutcome& outcome, v1::ValidatePayloadResponse& response) {
    response.set_valid(outcome.valid());
    if (outcome.valid()) {
      response.set_normalized_payload_json(outcome.normalized_payload);
      return;
    }
    for (const auto& error : outcome.errors) {
      auto* out = response.add_field_errors();
      out->set_field(error.field);
      out->set_message(error.message);
    }
  }

  const WorkerGrpcSettings settings_;
  const PluginRegistry& plugins_;
  rpc::GrpcServer server_;
};

WorkerGrpcServer::WorkerGrpcServer(WorkerGrpcSettings settings, const PluginRegistry& plugins)
    : impl_(std::make_unique<Impl>(std::move(settings), plugins)) {}

WorkerGrpcServer::~WorkerGrpcServer() {
  stop();
}

Status WorkerGrpcServer::start() {
  return impl_->start();
}

uint16_t WorkerGrpcServer::port() const noexcept {
  return impl_->port();
}

void WorkerGrpcServer::stop() {
  impl_->stop();
}

}  // namespace dtq::host
