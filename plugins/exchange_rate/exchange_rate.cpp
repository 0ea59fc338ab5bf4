// exchange_rate: converts an amount between two currencies at the latest
// European Central Bank reference rate, from Frankfurter (no key).
#include <dtq/plugin.hpp>

#include <array>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/payload.hpp"
#include "common/provider.hpp"

namespace {

using dtq::plugins::PayloadReader;
using dtq::plugins::Presence;

constexpr std::string_view kProvider = "Frankfurter";
constexpr const char* kAllowedHosts[] = {"api.frankfurter.app"};
constexpr std::array<std::string_view, 3> kProperties = {"base", "target", "amount"};
constexpr double kMaxAmount = 1e12;
constexpr std::string_view kCurrencyCode = "a three-letter ISO 4217 currency code such as \"USD\"";

constexpr const char* kSchema = R"json({
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "Exchange rate",
  "description": "Converts an amount at the latest ECB reference rate, from Frankfurter.",
  "type": "object",
  "properties": {
    "base": {
      "title": "From currency",
      "description": "ISO 4217 code of the currency to convert from.",
      "type": "string",
      "pattern": "^[A-Za-z]{3}$",
      "examples": ["USD", "EUR", "GBP"]
    },
    "target": {
      "title": "To currency",
      "description": "ISO 4217 code of the currency to convert to; must differ from the base.",
      "type": "string",
      "pattern": "^[A-Za-z]{3}$",
      "examples": ["EUR", "JPY", "CHF"]
    },
    "amount": {
      "title": "Amount",
      "description": "How much of the base currency to convert.",
      "type": "number",
      "exclusiveMinimum": 0,
      "maximum": 1000000000000,
      "default": 1,
      "examples": [1, 250.5]
    }
  },
  "required": ["base", "target"],
  "additionalProperties": false,
  "examples": [
    {"base": "USD", "target": "EUR"},
    {"base": "GBP", "target": "JPY", "amount": 250}
  ]
})json";

struct Request {
  std::string base;
  std::string target;
  double amount = 1;

  std::string to_json() const {
    return nlohmann::ordered_json{{"base", base}, {"target", target}, {"amount", amount}}.dump();
  }
};

Request read_request(PayloadReader& reader) {
  Request request;
  request.base = reader.letter_code("base", Presence::kRequired, 3, kCurrencyCode).value_or("");
  request.target = reader.letter_code("target", Presence::kRequired, 3, kCurrencyCode).value_or("");
  if (!request.base.empty() && request.base == request.target) {
    reader.error("target", "must differ from base (" + request.base + ")");
  }
  if (const auto amount = reader.number("amount", Presence::kOptional)) {
    if (*amount > 0 && *amount <= kMaxAmount) {
      request.amount = *amount;
    } else {
      reader.error("amount", "must be greater than 0 and at most 1000000000000");
    }
  }
  return request;
}

class ExchangeRate {
 public:
  static constexpr dtq::sdk::PluginInfo kInfo{
      .name = "Exchange rate",
      .job_type = "exchange_rate",
      .version = "1.0.0",
      .description =
          "Converts an amount between two currencies at the latest ECB reference "
          "rate, from Frankfurter.",
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

    const std::string amount = dtq::plugins::decimal(request.amount);
    job.progress(0, "fetching rate");
    job.info("converting " + amount + " " + request.base + " to " + request.target);
    const dtq::sdk::HttpResponse response =
        job.get("https://api.frankfurter.app/latest?from=" + request.base +
                "&to=" + request.target + "&amount=" + amount);
    // Frankfurter answers 404 {"message":"not found"} for a currency it does not know.
    if (response.status == 404) {
      throw dtq::sdk::permanent_error("unknown_currency",
                                      "Frankfurter has no rate from " + request.base + " to " +
                                          request.target + " (unknown currency)");
    }
    if (response.status != 200) dtq::plugins::throw_unexpected_status(kProvider, response);

    const dtq::plugins::ProviderJson body(kProvider, response.body);
    const simdjson::dom::object root = body.root();
    const double converted = body.number(body.object(root, "rates"), request.target);
    const std::string date(body.string(root, "date"));
    job.progress(50, "rate received");
    job.info("rate of " + date + ": " + amount + " " + request.base + " = " +
             dtq::plugins::decimal(converted) + " " + request.target);

    const nlohmann::ordered_json out{
        {"base", request.base},     {"target", request.target},
        {"amount", request.amount}, {"rate", converted / request.amount},
        {"converted", converted},   {"date", date},
        {"source", "frankfurter"},
    };
    job.progress(100, "done");
    return out.dump();
  }
};

}  // namespace

DTQ_PLUGIN(ExchangeRate)
