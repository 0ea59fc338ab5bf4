// github_user: a GitHub user's public profile, from the GitHub REST API.
//
// An access token, when the environment has one (DTQ_GITHUB_TOKEN, else
// GITHUB_TOKEN), raises the rate limit from 60 to 5000 requests an hour. It is
// read once, at load, and only ever sent in the Authorization header: never
// logged, never put in an error.
#include <dtq/plugin.hpp>

#include <array>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/payload.hpp"
#include "common/provider.hpp"

namespace {

using dtq::plugins::PayloadReader;
using dtq::plugins::Presence;
using dtq::plugins::ProviderJson;
using std::chrono::system_clock;

constexpr std::string_view kProvider = "GitHub";
constexpr const char* kAllowedHosts[] = {"api.github.com"};
constexpr std::array<std::string_view, 1> kProperties = {"username"};
// Waiting out the rate limit more often than this means another client is
// draining the same quota; better to fail than to keep a worker slot.
constexpr int kMaxRateLimitWaits = 2;

constexpr const char* kSchema = R"json({
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "GitHub user",
  "description": "A GitHub user's public profile, from the GitHub REST API.",
  "type": "object",
  "properties": {
    "username": {
      "title": "Username",
      "description": "GitHub login: letters, digits and single inner hyphens.",
      "type": "string",
      "minLength": 1,
      "maxLength": 39,
      "pattern": "^[A-Za-z0-9]+(-[A-Za-z0-9]+)*$",
      "examples": ["octocat", "torvalds"]
    }
  },
  "required": ["username"],
  "additionalProperties": false,
  "examples": [{"username": "octocat"}]
})json";

bool is_ascii_alnum(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// GitHub's rule for logins (the schema's pattern, without a regex engine).
bool is_github_login(std::string_view login) {
  if (login.empty() || login.front() == '-' || login.back() == '-') return false;
  char previous = 0;
  for (const char c : login) {
    if (c == '-' ? previous == '-' : !is_ascii_alnum(c)) return false;
    previous = c;
  }
  return true;
}

struct Request {
  std::string username;

  std::string to_json() const { return nlohmann::ordered_json{{"username", username}}.dump(); }
};

Request read_request(PayloadReader& reader) {
  Request request;
  request.username = reader.string("username", Presence::kRequired, 1, 39).value_or("");
  if (!request.username.empty() && !is_github_login(request.username)) {
    reader.error(
        "username",
        "must be letters, digits and single hyphens, not starting or ending with a hyphen");
  }
  return request;
}

// Called from the constructor, which the host runs once, on its main thread.
std::string token_from_environment() {
  for (const char* name : {"DTQ_GITHUB_TOKEN", "GITHUB_TOKEN"}) {
    const char* value = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): see above
    if (value != nullptr && *value != '\0') return value;
  }
  return {};
}

std::string rfc3339_utc(system_clock::time_point at) {
  const std::time_t seconds = system_clock::to_time_t(at);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  std::array<char, 32> text{};
  const size_t length = std::strftime(text.data(), text.size(), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return std::string(text.data(), length);
}

// When GitHub's primary rate limit reopens, if `response` says it is exhausted:
// 403 or 429 with x-ratelimit-remaining 0 and x-ratelimit-reset in epoch seconds.
std::optional<system_clock::time_point> rate_limit_reset(const dtq::sdk::HttpResponse& response) {
  if (response.status != 403 && response.status != 429) return std::nullopt;
  if (response.header("x-ratelimit-remaining") != "0") return std::nullopt;
  const auto reset = response.header("x-ratelimit-reset");
  int64_t epoch_seconds = 0;
  if (!reset || std::from_chars(reset->data(), reset->data() + reset->size(), epoch_seconds).ec !=
                    std::errc()) {
    return std::nullopt;
  }
  return system_clock::time_point{std::chrono::seconds{epoch_seconds}};
}

// A member GitHub sends as a string or null ("bio": null); missing counts as null.
nlohmann::ordered_json nullable_string(const ProviderJson& body, simdjson::dom::object user,
                                       std::string_view key) {
  simdjson::dom::element value;
  if (user.at_key(key).get(value) != simdjson::SUCCESS || value.is_null()) return nullptr;
  return body.string(user, key);
}

nlohmann::ordered_json profile(const ProviderJson& body) {
  const simdjson::dom::object user = body.root();
  return nlohmann::ordered_json{
      {"login", body.string(user, "login")},
      {"id", body.integer(user, "id")},
      {"name", nullable_string(body, user, "name")},
      {"avatar_url", body.string(user, "avatar_url")},
      {"html_url", body.string(user, "html_url")},
      {"type", body.string(user, "type")},
      {"company", nullable_string(body, user, "company")},
      {"blog", nullable_string(body, user, "blog")},
      {"location", nullable_string(body, user, "location")},
      {"bio", nullable_string(body, user, "bio")},
      {"public_repos", body.integer(user, "public_repos")},
      {"public_gists", body.integer(user, "public_gists")},
      {"followers", body.integer(user, "followers")},
      {"following", body.integer(user, "following")},
      {"created_at", body.string(user, "created_at")},
  };
}

class GithubUser {
 public:
  static constexpr dtq::sdk::PluginInfo kInfo{
      .name = "GitHub user",
      .job_type = "github_user",
      .version = "1.0.0",
      .description = "A GitHub user's public profile, from the GitHub REST API.",
      .payload_schema_json = kSchema,
      .allowed_hosts = kAllowedHosts,
      .default_concurrency = 4,
      .default_timeout_ms = 60000,
      .default_max_attempts = 3,
  };

  GithubUser() : token_(token_from_environment()) {}

  void validate(std::string_view payload, dtq::sdk::Validation& v) const {
    PayloadReader reader(payload, kProperties);
    const Request request = read_request(reader);
    if (reader.report_to(v)) v.normalized(request.to_json());
  }

  std::string run(dtq::sdk::Job& job) {
    PayloadReader reader(job.payload(), kProperties);
    const Request request = read_request(reader);
    reader.throw_if_invalid();

    job.progress(0, "fetching user");
    job.info("fetching GitHub user '" + request.username + "' (" +
             (token_.empty() ? "anonymous" : "with a token") + ")");
    const dtq::sdk::HttpResponse response = fetch(job, request.username);
    const ProviderJson body(kProvider, response.body);
    job.progress(50, "user received");

    std::string output = profile(body).dump();
    job.progress(100, "done");
    return output;
  }

 private:
  // The 200 answer for `username`, waiting out the rate limit when the job's
  // deadline leaves time for it.
  dtq::sdk::HttpResponse fetch(dtq::sdk::Job& job, const std::string& username) const {
    dtq::sdk::HttpRequest request;
    request.url = "https://api.github.com/users/" + username;
    request.headers = {
        {"Accept", "application/vnd.github+json"},
        {"User-Agent", "dtq-github-user-plugin/1.0"},
        {"X-GitHub-Api-Version", "2022-11-28"},
    };
    if (!token_.empty()) request.headers.push_back({"Authorization", "Bearer " + token_});

    for (int waits = 0;; ++waits) {
      dtq::sdk::HttpResponse response = job.http(request);
      if (response.status == 200) return response;
      if (response.status == 404) {
        throw dtq::sdk::permanent_error("user_not_found", "user not found: " + username);
      }
      if (const auto reset = rate_limit_reset(response)) {
        // A second of margin: GitHub's reset is whole seconds, our clocks differ.
        const system_clock::time_point resume = *reset + std::chrono::seconds{1};
        const std::string reset_text = rfc3339_utc(*reset);
        if (resume >= job.deadline()) {
          throw dtq::sdk::permanent_error(
              "rate_limited",
              "GitHub API rate limit exceeded until " + reset_text + ", after the job's deadline");
        }
        if (waits == kMaxRateLimitWaits) {
          throw dtq::sdk::permanent_error(
              "rate_limited", "GitHub API rate limit still exceeded after waiting " +
                                  std::to_string(waits) + " times; it resets at " + reset_text);
        }
        const auto wait =
            std::chrono::duration_cast<std::chrono::milliseconds>(resume - system_clock::now());
        job.info("GitHub API rate limit exceeded; waiting " + std::to_string(wait.count()) +
                 " ms for it to reset at " + reset_text);
        if (!job.sleep_for(wait)) {
          throw dtq::sdk::permanent_error(
              "cancelled", "job cancelled while waiting for the GitHub rate limit to reset");
        }
        continue;
      }
      if (response.status == 401) {
        throw dtq::sdk::permanent_error(
            "unauthorized",
            "GitHub refused the access token (HTTP 401); check DTQ_GITHUB_TOKEN or GITHUB_TOKEN");
      }
      if (response.status == 403) {
        const auto detail = dtq::plugins::error_detail(response.body, "message");
        throw dtq::sdk::permanent_error(
            "forbidden", "GitHub refused the request (HTTP 403)" + (detail ? ": " + *detail : ""));
      }
      dtq::plugins::throw_unexpected_status(kProvider, response);
    }
  }

  const std::string token_;
};

}  // namespace

DTQ_PLUGIN(GithubUser)
