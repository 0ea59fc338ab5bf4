// Helpers of the gRPC tests: a failed call's code and dtq.v1.ErrorDetails
// (trailing metadata dtq-error-bin), and a channel to an address.
#pragma once

#include <dtq/v1/jobs.pb.h>
#include <grpcpp/grpcpp.h>

#include <string>
#include <vector>

namespace dtq::testing {

// What a call ended with, as a client sees it.
struct CallError {
  grpc::StatusCode code = grpc::StatusCode::OK;
  std::string message;
  std::string error_code;           // ErrorDetails.code; empty when absent
  std::vector<std::string> fields;  // ErrorDetails.field_errors[].field, in order
  std::vector<std::string> field_messages;
};

inline CallError call_error(const grpc::Status& status, const grpc::ClientContext& context) {
  CallError error{status.error_code(), status.error_message()};
  const auto& trailers = context.GetServerTrailingMetadata();
  if (const auto found = trailers.find("dtq-error-bin"); found != trailers.end()) {
    dtq::v1::ErrorDetails details;
    if (details.ParseFromArray(found->second.data(), static_cast<int>(found->second.size()))) {
      error.error_code = details.code();
      for (const auto& field : details.field_errors()) {
        error.fields.push_back(field.field());
        error.field_messages.push_back(field.message());
      }
    }
  }
  return error;
}

inline std::shared_ptr<grpc::Channel> channel_to(const std::string& address) {
  return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
}

}  // namespace dtq::testing
