#include "static_files.hpp"

#include <algorithm>
#include <fstream>
#include <iterator>
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
  // Read whole and sent as one write, not with Pistache's serveFile(): its
  // body goes out in a later write of its own, after whatever the
  // connection queues meanwhile — such as the half-close that ends a
  // connection asked to close, which then cut the body off. The UI's files
  // are small and the page cache holds them.
  std::ifstream in(file, std::ios::binary);
  std::string contents((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof())
    return error_reply(Code::Internal_Server_Error, "internal", "cannot read the file");
  response.send(Code::Ok, contents,
                Pistache::Http::Mime::MediaType::fromString(std::string(mime_for(file))));
  return std::nullopt;
}

}  // namespace dtq::api
