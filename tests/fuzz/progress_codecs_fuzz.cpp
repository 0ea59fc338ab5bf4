// The RabbitMQ progress request-reply bodies (progress.check.request.v1 and
// its replies): any bytes parse or are refused, never crash; a request or a
// status that parses is written back and reads the same.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "progress_messages.hpp"

namespace {

void require(bool holds) {
  if (!holds) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  using namespace dtq::rabbitmq;
  if (auto request = parse_progress_request(text); request.ok()) {
    auto again = parse_progress_request(to_json(*request));
    require(again.ok() && again->job_id == request->job_id &&
            again->request_id == request->request_id);
  }
  // A reply is read for the job it names, and for another one.
  for (const std::string_view job_id :
       {std::string_view("6f1c2a34-8b2e-4d7a-9c1e-2f3a4b5c6d7e"), std::string_view("")}) {
    auto status = parse_progress_reply(text, job_id);
    if (!status.ok()) continue;
    auto again = parse_progress_reply(reply_json(status->job_id, status), status->job_id);
    require(again.ok() && again->state == status->state &&
            again->progress_percent == status->progress_percent &&
            again->message == status->message);
  }
  return 0;
}
