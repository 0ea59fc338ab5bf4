// weather: current conditions in a city, from Open-Meteo (no key). Resolves
// the city with Open-Meteo's geocoding API, reads the current forecast at its
// coordinates, and maps the WMO weather code to text.
#include <dtq/plugin.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/payload.hpp"
#include "common/provider.hpp"

namespace {

using dtq::plugins::PayloadReader;
using dtq::plugins::Presence;
using dtq::plugins::ProviderJson;

constexpr std::string_view kProvider = "Open-Meteo";
constexpr const char* kAllowedHosts[] = {"geocoding-api.open-meteo.com", "api.open-meteo.com"};
constexpr std::array<std::string_view, 3> kProperties = {"city", "country_code", "units"};
constexpr std::array<std::string_view, 2> kUnits = {"metric", "imperial"};

constexpr const char* kSchema = R"json({
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "Weather",
  "description": "Current weather conditions in a city, from Open-Meteo.",
  "type": "object",
  "properties": {
    "city": {
      "title": "City",
      "description": "The city's name, as you would type it into a map search.",
      "type": "string",
      "minLength": 1,
      "maxLength": 100,
      "pattern": "\\S",
      "examples": ["Austin", "Berlin", "Tokyo"]
    },
    "country_code": {
      "title": "Country",
      "description": "ISO 3166-1 alpha-2 code, to choose among cities of one name.",
      "type": "string",
      "pattern": "^[A-Za-z]{2}$",
      "examples": ["US", "DE", "JP"]
    },
    "units": {
      "title": "Units",
      "description": "Temperature in °C (metric) or °F (imperial); wind is in km/h.",
      "type": "string",
      "enum": ["metric", "imperial"],
      "default": "metric"
    }
  },
  "required": ["city"],
  "additionalProperties": false,
  "examples": [
    {"city": "Austin", "country_code": "US", "units": "imperial"},
    {"city": "Berlin"}
  ]
})json";

// WMO weather interpretation codes, as Open-Meteo documents them
// (https://open-meteo.com/en/docs).
struct Condition {
  int64_t wmo_code;
  std::string_view text;
};
constexpr Condition kConditions[] = {
    {0, "Clear sky"},
    {1, "Mainly clear"},
    {2, "Partly cloudy"},
    {3, "Overcast"},
    {45, "Fog"},
    {48, "Fog"},
    {51, "Drizzle"},
    {53, "Drizzle"},
    {55, "Drizzle"},
    {56, "Freezing drizzle"},
    {57, "Freezing drizzle"},
    {61, "Rain"},
    {63, "Rain"},
    {65, "Rain"},
    {66, "Freezing rain"},
    {67, "Freezing rain"},
    {71, "Snow"},
    {73, "Snow"},
    {75, "Snow"},
    {77, "Snow grains"},
    {80, "Rain showers"},
    {81, "Rain showers"},
    {82, "Rain showers"},
    {85, "Snow showers"},
    {86, "Snow showers"},
    {95, "Thunderstorm"},
    {96, "Thunderstorm with hail"},
    {99, "Thunderstorm with hail"},
};

std::string_view condition_for(int64_t wmo_code) {
  for (const Condition& condition : kConditions) {
    if (condition.wmo_code == wmo_code) return condition.text;
  }
  return "Unknown";
}

struct Request {
  std::string city;
  std::optional<std::string> country_code;
  std::string units;

  bool imperial() const { return units == "imperial"; }
  std::string to_json() const {
    nlohmann::ordered_json out{{"city", city}};
    if (country_code) out["country_code"] = *country_code;
    out["units"] = units;
    return out.dump();
  }
};

Request read_request(PayloadReader& reader) {
  Request request;
  request.city = reader.string("city", Presence::kRequired, 1, 100).value_or("");
  request.country_code = reader.letter_code("country_code", Presence::kOptional, 2,
                                            "an ISO 3166-1 alpha-2 country code such as \"US\"");
  request.units = reader.one_of("units", Presence::kOptional, kUnits).value_or("metric");
  return request;
}

struct Place {
  std::string name;
  std::string admin1;        // state or region; Open-Meteo omits it when unknown
  std::string country_code;  // likewise
  double latitude = 0;
  double longitude = 0;

  // "Austin, Texas, US"
  std::string label() const {
    std::string out = name;
    for (const std::string* part : {&admin1, &country_code}) {
      if (!part->empty()) out += ", " + *part;
    }
    return out;
  }
};

struct Current {
  std::string time;
  double temperature = 0;
  int64_t humidity_pct = 0;
  double wind_kph = 0;
  int64_t weather_code = 0;
};

// Open-Meteo explains a request it refuses as 400 {"error":true,"reason":"..."}.
void check_status(const dtq::sdk::HttpResponse& response) {
  if (response.status == 200) return;
  if (response.status == 400) {
    throw dtq::sdk::permanent_error(
        "provider_rejected",
        "Open-Meteo rejected the request: " +
            dtq::plugins::error_detail(response.body, "reason").value_or("HTTP 400"));
  }
  dtq::plugins::throw_unexpected_status(kProvider, response);
}

Place geocode(dtq::sdk::Job& job, const Request& request) {
  std::string url =
      "https://geocoding-api.open-meteo.com/v1/search?name=" + dtq::sdk::url_encode(request.city) +
      "&count=1";
  if (request.country_code) url += "&countryCode=" + *request.country_code;
  const dtq::sdk::HttpResponse response = job.get(url);
  check_status(response);

  const ProviderJson body(kProvider, response.body);
  const simdjson::dom::object root = body.root();
  simdjson::dom::element first;
  // No match is an answer without "results" at all, not an empty list.
  if (root.at_key("results").error() == simdjson::NO_SUCH_FIELD ||
      body.array(root, "results").at(0).get(first) != simdjson::SUCCESS) {
    throw dtq::sdk::permanent_error(
        "city_not_found", "no city named '" + request.city + "'" +
                              (request.country_code ? " (in " + *request.country_code + ")" : ""));
  }
  simdjson::dom::object result;
  if (first.get_object().get(result) != simdjson::SUCCESS) {
    body.throw_bad_response("'results' holds a non-object");
  }
  return Place{
      .name = std::string(body.string(result, "name")),
      .admin1 = std::string(body.optional_string(result, "admin1")),
      .country_code = std::string(body.optional_string(result, "country_code")),
      .latitude = body.number(result, "latitude"),
      .longitude = body.number(result, "longitude"),
  };
}

Current fetch_current(dtq::sdk::Job& job, const Place& place, const Request& request) {
  std::string url =
      "https://api.open-meteo.com/v1/forecast?latitude=" + dtq::plugins::decimal(place.latitude) +
      "&longitude=" + dtq::plugins::decimal(place.longitude) +
      "&current=temperature_2m,relative_humidity_2m,wind_speed_10m,weather_code"
      "&wind_speed_unit=kmh";
  if (request.imperial()) url += "&temperature_unit=fahrenheit";
  const dtq::sdk::HttpResponse response = job.get(url);
  check_status(response);

  const ProviderJson body(kProvider, response.body);
  const simdjson::dom::object current = body.object(body.root(), "current");
  return Current{
      .time = std::string(body.string(current, "time")),
      .temperature = body.number(current, "temperature_2m"),
      // A percentage Open-Meteo reports as a whole number.
      .humidity_pct = std::llround(body.number(current, "relative_humidity_2m")),
      .wind_kph = body.number(current, "wind_speed_10m"),
      .weather_code = body.integer(current, "weather_code"),
  };
}

class Weather {
 public:
  static constexpr dtq::sdk::PluginInfo kInfo{
      .name = "Weather",
      .job_type = "weather",
      .version = "1.0.0",
      .description =
          "Current temperature, humidity, wind and conditions in a city, from Open-Meteo.",
      .payload_schema_json = kSchema,
      .allowed_hosts = kAllowedHosts,
      .default_concurrency = 8,
      .default_timeout_ms = 30000,
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

    job.progress(0, "resolving city");
    job.info("geocoding '" + request.city + "'" +
             (request.country_code ? " in " + *request.country_code : ""));
    const Place place = geocode(job, request);
    const std::string label = place.label();
    job.progress(20, "city resolved: " + label);
    job.throw_if_cancelled();

    job.info("fetching current conditions for " + label + " at " +
             dtq::plugins::decimal(place.latitude) + "," + dtq::plugins::decimal(place.longitude));
    const Current current = fetch_current(job, place, request);
    job.progress(50, "forecast received");
    job.throw_if_cancelled();

    const std::string_view condition = condition_for(current.weather_code);
    job.info("WMO code " + std::to_string(current.weather_code) + " is '" + std::string(condition) +
             "'");
    job.progress(80, "conditions mapped");

    nlohmann::ordered_json out{
        {"city", place.name},
        {"country_code", place.country_code.empty() ? nlohmann::ordered_json()
                                                    : nlohmann::ordered_json(place.country_code)},
        {"latitude", place.latitude},
        {"longitude", place.longitude},
        {"temperature", current.temperature},
        {"temperature_unit", request.imperial() ? "°F" : "°C"},
        {"condition", condition},
        {"weather_code", current.weather_code},
        {"humidity_pct", current.humidity_pct},
        {"wind_kph", current.wind_kph},
        {"units", request.units},
        {"observed_at", current.time},
    };
    job.progress(100, "done");
    return out.dump();
  }
};

}  // namespace

DTQ_PLUGIN(Weather)
