#include "openapi_route.hpp"

#include <string>

namespace dtq::api {

void add_openapi_route(ApiRouteTable& table) {
  table.add("GET", "/openapi.json",
            {Need::kNothing, [](Exchange&) -> std::optional<Reply> {
               return Reply{Pistache::Http::Code::Ok, std::string(openapi_document())};
             }});
}

}  // namespace dtq::api
