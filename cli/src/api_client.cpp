#include "api_client.hpp"

#include <curl/curl.h>

namespace dtq::cli {
namespace {

struct StreamState {
  const std::function<bool(std::string_view)>* on_data = nullptr;
  const std::function<void()>* on_open = nullptr;  // run at the first bytes of a 200
  bool opened = false;
  std::string buffer;
  std::string body;  // what came when the stream was refused (not 200)
  bool stopped = false;
  CURL* curl = nullptr;
  const std::atomic<bool>* stop = nullptr;
};

size_t collect(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

// Splits the stream into events (blank-line separated) and hands each
// event's data lines to the callback; comment lines (heartbeats) are skipped.
size_t on_stream(char* data, size_t size, size_t count, void* user) {
  auto& state = *static_cast<StreamState*>(user);
  long code = 0;
  curl_easy_getinfo(state.curl, CURLINFO_RESPONSE_CODE, &code);
  if (code != 200) {
    state.body.append(data, size * count);
    return size * count;
  }
  if (!state.opened) {
    state.opened = true;
    if (state.on_open != nullptr && *state.on_open) (*state.on_open)();
  }
  state.buffer.append(data, size * count);
  size_t end = 0;
  while ((end = state.buffer.find("\n\n")) != std::string::npos) {
    const std::string event = state.buffer.substr(0, end);
    state.buffer.erase(0, end + 2);
    std::string payload;
    size_t start = 0;
    while (start < event.size()) {
      size_t stop = event.find('\n', start);
      if (stop == std::string::npos) stop = event.size();
      const std::string_view line(event.data() + start, stop - start);
      if (line.starts_with("data:")) {
        std::string_view value = line.substr(5);
        if (value.starts_with(' ')) value.remove_prefix(1);
        if (!payload.empty()) payload += '\n';
        payload += value;
      }
      start = stop + 1;
    }
    if (!payload.empty() && !(*state.on_data)(payload)) {
      state.stopped = true;
      return 0;  // aborts the transfer
    }
  }
  return size * count;
}

// Called by curl about once a second while a stream is open, events or
// not: the one place a stream with nothing to say can be ended.
int on_progress(void* user, curl_off_t /*dltotal*/, curl_off_t /*dlnow*/, curl_off_t /*ultotal*/,
                curl_off_t /*ulnow*/) {
  auto& state = *static_cast<StreamState*>(user);
  if (state.stop == nullptr || !state.stop->load()) return 0;
  state.stopped = true;
  return 1;  // aborts the transfer
}

}  // namespace

ApiClient::ApiClient(std::string base_url, std::string token)
    : base_url_(std::move(base_url)), token_(std::move(token)), curl_(curl_easy_init()) {
  while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
}

ApiClient::~ApiClient() {
  curl_easy_cleanup(static_cast<CURL*>(curl_));
}

ApiReply ApiClient::perform(const std::string& path, const std::string* post_body,
                            const char* method) {
  CURL* curl = static_cast<CURL*>(curl_);
  ApiReply reply;
  curl_easy_reset(curl);
  const std::string url = base_url_ + path;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 30000L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
  curl_slist* headers = nullptr;
  const std::string authorization = "Authorization: Bearer " + token_;
  if (!token_.empty()) headers = curl_slist_append(headers, authorization.c_str());
  if (post_body != nullptr) {
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, post_body->c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(post_body->size()));
  }
  if (method != nullptr) curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  const CURLcode result = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  if (result != CURLE_OK) {
    reply.transport = std::string(curl_easy_strerror(result)) + " (" + url + ")";
    return reply;
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.code);
  return reply;
}

ApiReply ApiClient::get(const std::string& path) {
  return perform(path, nullptr);
}

ApiReply ApiClient::post(const std::string& path, const std::string& json_body) {
  return perform(path, &json_body);
}

ApiReply ApiClient::del(const std::string& path) {
  return perform(path, nullptr, "DELETE");
}

ApiReply ApiClient::stream_events(const std::string& path,
                                  const std::function<bool(std::string_view)>& on_data,
                                  const std::atomic<bool>* stop,
                                  const std::function<void()>& on_open) {
  CURL* curl = static_cast<CURL*>(curl_);
  curl_easy_reset(curl);
  const std::string url = base_url_ + path;
  StreamState state{.on_data = &on_data, .on_open = &on_open, .curl = curl, .stop = stop};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_stream);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &state);
  if (stop != nullptr) {
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &state);
  }
  curl_slist* headers = curl_slist_append(nullptr, "Accept: text/event-stream");
  // Reads may need a key too (a server that requires one for reads).
  const std::string authorization = "Authorization: Bearer " + token_;
  if (!token_.empty()) headers = curl_slist_append(headers, authorization.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  const CURLcode result = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  ApiReply reply;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.code);
  reply.body = std::move(state.body);
  if (result != CURLE_OK && !state.stopped) {
    reply.transport = std::string(curl_easy_strerror(result)) + " (" + url + ")";
  }
  return reply;
}

}  // namespace dtq::cli
