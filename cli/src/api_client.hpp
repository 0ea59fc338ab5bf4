// ApiClient: the CLI's HTTP client for a dtq API server (libcurl) — plain
// requests, and a Server-Sent Events reader for a job's event stream.
//
// Thread-safety: one object per thread. Ownership: owns its curl handle.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <string_view>

namespace dtq::cli {

struct ApiReply {
  long code = 0;  // HTTP status; 0 when the server was not reached
  std::string body;
  std::string transport;  // why the server was not reached
  // Empty over HTTP; over gRPC (job_client.hpp) the call's code, "gRPC
  // NOT_FOUND", which messages show instead of the HTTP status it maps to.
  std::string protocol;
};

class ApiClient {
 public:
  // `token` empty: requests carry no Authorization header.
  ApiClient(std::string base_url, std::string token);
  ~ApiClient();
  ApiClient(const ApiClient&) = delete;
  ApiClient& operator=(const ApiClient&) = delete;

  ApiReply get(const std::string& path);
  ApiReply post(const std::string& path, const std::string& json_body);
  ApiReply del(const std::string& path);  // DELETE
  // Reads the event stream at `path`, calling on_data with each event's data
  // until it returns false, the server ends the stream, or `stop` (when
  // given) becomes true, noticed within about a second even while no event
  // comes. The reply carries the body only when the server refused the
  // stream. `on_open` (when given) runs once, when the stream's first bytes
  // come with a 200: dtq sends them only once it is following the jobs.
  ApiReply stream_events(const std::string& path,
                         const std::function<bool(std::string_view data)>& on_data,
                         const std::atomic<bool>* stop = nullptr,
                         const std::function<void()>& on_open = {});

 private:
  ApiReply perform(const std::string& path, const std::string* post_body,
                   const char* method = nullptr);

  std::string base_url_;
  std::string token_;
  void* curl_;  // CURL*; kept out of the header
};

}  // namespace dtq::cli
