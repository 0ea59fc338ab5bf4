#include "static_files.hpp"

#include <algorithm>
#include <string>

#include "dtq/core/uri.hpp"

namespace dtq::api {
namespace {

std::string_view mime_for(const std::filesystem::path& file) {
  const std::string ext = file.extension().string();
  if (ext == ".html") return "text/html";
  if (ext == ".js") return "text/javascript";
  if (ext == ".css") return "text/css";
  if (ext == ".json") return "application/json";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".ico") return "image/x-icon";
  return "application/octet-stream";
}

}  // namespace

std::optional<Reply> StaticFiles::serve(std::string_view path,
                                        Pistache::Http::ResponseWriter& response) const {
  namespace fs = std::filesystem;
  using Pistache::Http::Code;
  std::error_code error;
  const fs::path root = fs::weakly_canonical(root_, error);
  fs::path file =
      fs::weakly_canonical(root / fs::path(percent_decode(path)).relative_path(), error);
  // Nothing outside the UI folder, however the path is spelled.
  const auto [root_end, file_it] =
      std::mismatch(root.begin(), root.end(), file.begin(), file.end());
  if (error || root_end != root.end())
    return error_reply(Code::Not_Found, "not_found", "no such file");
  if (fs::is_directory(file, error)) file /= "index.html";
  // A client-side route of the single-page UI gets the page itself.
  if (!fs::is_regular_file(file, error)) file = root / "index.html";
  if (!fs::is_regular_file(file, error))
    return error_reply(Code::Not_Found, "not_found", "no such file");
  Pistache::Http::serveFile(
      response, file.string(),
      Pistache::Http::Mime::MediaType::fromString(std::string(mime_for(file))));
  return std::nullopt;
}

}  // namespace dtq::api
