// The OpenAPI document (api/openapi.yaml, served at /openapi.json) and the
// server kept in step: every route of ApiServer's route table is an
// operation of the document and every operation is a route, the server
// serves exactly the document it was built with, and the document is a
// consistent OpenAPI 3.1 one (every $ref resolves, every path parameter is
// declared). Fields and status codes are checked against a real server by
// conformance.py and Schemathesis (tests/openapi/, docs/openapi.md).
#include <curl/curl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>

#include "dtq/api/api_server.hpp"
#include "dtq/core/job_service.hpp"
#include "fakes/memory_job_queue.hpp"
#include "fakes/memory_job_type_registry.hpp"
#include "fakes/memory_payload_validator.hpp"
#include "fakes/memory_progress_query.hpp"
#include "fakes/memory_result_store.hpp"
#include "fakes/memory_status_store.hpp"

namespace dtq {
namespace {

using nlohmann::json;

json load_document() {
  std::ifstream in(DTQ_OPENAPI_JSON);
  std::stringstream text;
  text << in.rdbuf();
  return json::parse(text.str());
}

std::string upper(std::string text) {
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

// "METHOD /path" of every operation of the document.
std::set<std::string> document_operations(const json& document) {
  static const std::set<std::string> kMethods = {"get",     "put",  "post",  "delete",
                                                 "options", "head", "patch", "trace"};
  std::set<std::string> operations;
  for (const auto& [path, item] : document.at("paths").items()) {
    for (const auto& [method, operation] : item.items()) {
      if (kMethods.count(method)) operations.insert(upper(method) + " " + path);
    }
  }
  return operations;
}

class OpenApiDriftTest : public ::testing::Test {
 protected:
  fakes::MemoryJobQueue queue_;
  fakes::MemoryStatusStore statuses_;
  fakes::MemoryResultStore results_;
  fakes::MemoryPayloadValidator validator_;
  fakes::MemoryProgressQuery progress_;
  fakes::MemoryJobTypeRegistry registry_;
  JobService jobs_{queue_, statuses_, results_, validator_, progress_};
};

TEST_F(OpenApiDriftTest, EveryRouteIsAnOperationAndEveryOperationARoute) {
  api::ApiServer server(api::ApiSettings{}, jobs_, statuses_, registry_);
  const auto routes = server.routes();
  const std::set<std::string> served(routes.begin(), routes.end());
  ASSERT_EQ(served.size(), routes.size()) << "a route is in the table twice";
  const auto documented = document_operations(load_document());
  for (const auto& route : served) {
    EXPECT_TRUE(documented.count(route)) << route << " is served but not in api/openapi.yaml";
  }
  for (const auto& operation : documented) {
    EXPECT_TRUE(served.count(operation))
        << operation << " is in api/openapi.yaml but the server has no such route";
  }
}

size_t collect(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

// (That it needs no key is conformance.py's, against `dtq serve` with keys.)
TEST_F(OpenApiDriftTest, TheServerServesTheDocumentItWasBuiltWith) {
  api::ApiServer server(api::ApiSettings{}, jobs_, statuses_, registry_);
  ASSERT_TRUE(server.start().ok());
  CURL* curl = curl_easy_init();
  std::string body;
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/openapi.json";
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
  ASSERT_EQ(curl_easy_perform(curl), CURLE_OK);
  long code = 0;
  char* type = nullptr;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
  const std::string content_type = type ? type : "";
  curl_easy_cleanup(curl);
  EXPECT_EQ(code, 200);
  EXPECT_EQ(content_type, "application/json");
  EXPECT_EQ(json::parse(body), load_document());
}

// Every {"$ref": "#/..."} in `node` resolves in `document`.
void expect_refs_resolve(const json& document, const json& node, const std::string& where) {
  if (node.is_object()) {
    for (const auto& [key, value] : node.items()) {
      if (key == "$ref" && value.is_string()) {
        const std::string ref = value.get<std::string>();
        ASSERT_EQ(ref.rfind("#/", 0), 0u) << where << ": only local references: " << ref;
        EXPECT_TRUE(document.contains(json::json_pointer(ref.substr(1))))
            << where << ": " << ref << " does not resolve";
      } else {
        expect_refs_resolve(document, value, where + "/" + key);
      }
    }
  } else if (node.is_array()) {
    for (size_t i = 0; i < node.size(); ++i)
      expect_refs_resolve(document, node[i], where + "/" + std::to_string(i));
  }
}

TEST(OpenApiDocumentTest, IsOpenApi31WithEveryReferenceResolvedAndEveryPathParameterDeclared) {
  const json document = load_document();
  EXPECT_EQ(document.at("openapi").get<std::string>().rfind("3.1", 0), 0u);
  EXPECT_TRUE(document.contains(json::json_pointer("/components/securitySchemes/bearerAuth")));
  expect_refs_resolve(document, document, "");
  for (const auto& [path, item] : document.at("paths").items()) {
    for (const auto& [method, operation] : item.items()) {
      std::set<std::string> declared;
      for (const auto& parameter : operation.value("parameters", json::array())) {
        const json& resolved =
            parameter.contains("$ref")
                ? document.at(json::json_pointer(parameter["$ref"].get<std::string>().substr(1)))
                : parameter;
        if (resolved.at("in") == "path") declared.insert(resolved.at("name").get<std::string>());
      }
      for (size_t open = path.find('{'); open != std::string::npos;
           open = path.find('{', open + 1)) {
        const std::string name = path.substr(open + 1, path.find('}', open) - open - 1);
        EXPECT_TRUE(declared.count(name)) << method << " " << path << " does not declare " << name;
      }
      EXPECT_TRUE(operation.contains("operationId")) << method << " " << path;
      EXPECT_TRUE(operation.contains("responses")) << method << " " << path;
    }
  }
}

}  // namespace
}  // namespace dtq
