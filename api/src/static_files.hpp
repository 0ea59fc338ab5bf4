// StaticFiles: the UI's build, served at / by the REST face. A path names a
// file under the folder (percent-decoded with path rules), never one outside
// it however it is spelled; a folder serves its index.html; any other path
// serves the root index.html, so the single-page UI's own routes load.
//
// Thread-safety: serve() may run on many threads at once. Ownership: owns
// only the folder's path.
#pragma once

#include <pistache/http.h>

#include <filesystem>
#include <optional>
#include <string_view>

#include "http_reply.hpp"

namespace dtq::api {

class StaticFiles {
 public:
  explicit StaticFiles(std::filesystem::path root) : root_(std::move(root)) {}

  // Sends the file for `path`; a 404 reply when there is none to send.
  std::optional<Reply> serve(std::string_view path, Pistache::Http::ResponseWriter& response) const;

 private:
  std::filesystem::path root_;
};

}  // namespace dtq::api
