#include "dtq/host/worker_grpc_server.hpp"

#include <dtq/v1/worker.grpc.pb.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <utility>

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
    const auto& metadata = context->client_metadata();
    const auto secret = metadata.find(std::string(rpc::kClusterSecretKey));
    if (secret == metadata.end() ||
        !secrets_equal(std::string_view(secret->second.data(), secret->second.size()),
                       settings_.cluster_secret)) {
      return {grpc::StatusCode::UNAUTHENTICATED, "the cluster secret is missing or wrong"};
    }
    const auto plugin = plugins_.find(request->job_type());
    if (!plugin) {
      return {grpc::StatusCode::NOT_FOUND,
              "this worker hosts no plugin for job type \"" + request->job_type() + "\""};
    }
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
    if (!checked.ok()) {
      const auto code = checked.status().code() == StatusCode::kDeadlineExceeded
                            ? grpc::StatusCode::DEADLINE_EXCEEDED
                            : grpc::StatusCode::UNAVAILABLE;
      return {code, std::string(checked.status().message())};
    }
    const ValidationOutcome& outcome = *checked;
    response->set_valid(outcome.valid());
    if (outcome.valid()) {
      response->set_normalized_payload_json(outcome.normalized_payload);
      return grpc::Status::OK;
    }
    for (const auto& error : outcome.errors) {
      auto* out = response->add_field_errors();
      out->set_field(error.field);
      out->set_message(error.message);
    }
    return grpc::Status::OK;
  }

 private:
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
