// quote: a random quote from dummyjson.com (no key), optionally no longer than
// a given number of characters.
#include <dtq/plugin.hpp>

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "common/payload.hpp"
#include "common/provider.hpp"

namespace {

using dtq::plugins::PayloadReader;
using dtq::plugins::Presence;

constexpr std::string_view kProvider = "dummyjson";
constexpr const char* kAllowedHosts[] = {"dummyjson.com"};
constexpr std::array<std::string_view, 1> kProperties = {"max_length"};
// The API has no length filter, so a short quote is found by drawing again.
constexpr int kMaxDraws = 5;

constexpr const char* kSchema = R"json({
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "Quote",
  "description": "A random quote and its author, from dummyjson.com.",
  "type": "object",
  "properties": {
    "max_length": {
      "title": "Maximum length",
      "description": "Longest acceptable quote, in characters; up to 5 quotes are drawn.",
      "type": "integer",
      "minimum": 20,
      "maximum": 1000,
      "examples": [80, 140]
    }
  },
  "additionalProperties": false,
  "examples": [{}, {"max_length": 140}]
})json";

struct Request {
  std::optional<int64_t> max_length;

  std::string to_json() const {
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    if (max_length) out["max_length"] = *max_length;
    return out.dump();
  }
};

Request read_request(PayloadReader& reader) {
  return Request{.max_length = reader.integer("max_length", Presence::kOptional, 20, 1000)};
}

struct Quote {
  std::string text;
  std::string author;
  int64_t id = 0;
};

Quote draw(dtq::sdk::Job& job) {
  const dtq::sdk::HttpResponse response = job.get("https://dummyjson.com/quotes/random");
  if (response.status != 200) dtq::plugins::throw_unexpected_status(kProvider, response);
  const dtq::plugins::ProviderJson body(kProvider, response.body);
  const simdjson::dom::object root = body.root();
  return Quote{
      .text = std::string(body.string(root, "quote")),
      .author = std::string(body.string(root, "author")),
      .id = body.integer(root, "id"),
  };
}

class QuotePlugin {
 public:
  static constexpr dtq::sdk::PluginInfo kInfo{
      .name = "Quote",
      .job_type = "quote",
      .version = "1.0.0",
      .description = "A random quote and its author, from dummyjson.com.",
      .payload_schema_json = kSchema,
      .allowed_hosts = kAllowedHosts,
      .default_concurrency = 8,
      .default_timeout_ms = 15000,
      .default_max_attempts = 3,
  };

  void validate(std::string_view payload, dtq::sdk::Validation& v) const {
    PayloadReader reader(payload, kProperties);
    const Request request = read_request(reader);
    if (reader.report_to(v)) v.normalized(request.to_json());
  }

  std::string run(dtq::sdk::Job& job) {
    PayloadReader reader(job.payload(), kProperties);
    const Request request = read_request(reader);
    reader.throw_if_invalid();

    job.progress(0, "fetching a quote");
    std::optional<Quote> quote;
    for (int draw_number = 1; !quote && draw_number <= kMaxDraws; ++draw_number) {
      job.throw_if_cancelled();
      job.info("drawing a quote (" + std::to_string(draw_number) + " of " +
               std::to_string(request.max_length ? kMaxDraws : 1) + ")");
      Quote candidate = draw(job);
      const size_t length = dtq::plugins::utf8_length(candidate.text);
      if (!request.max_length || length <= static_cast<size_t>(*request.max_length)) {
        quote = std::move(candidate);
      } else {
        job.info("quote " + std::to_string(candidate.id) + " has " + std::to_string(length) +
                 " characters, more than " + std::to_string(*request.max_length));
      }
    }
    if (!quote) {
      throw dtq::sdk::permanent_error("no_short_quote",
                                      "no quote of at most " + std::to_string(*request.max_length) +
                                          " characters in " + std::to_string(kMaxDraws) + " draws");
    }
    job.progress(50, "quote received");

    const nlohmann::ordered_json out{
        {"quote", quote->text},
        {"author", quote->author},
        {"id", quote->id},
        {"source", "dummyjson"},
    };
    job.progress(100, "done");
    return out.dump();
  }
};

}  // namespace

DTQ_PLUGIN(QuotePlugin)
