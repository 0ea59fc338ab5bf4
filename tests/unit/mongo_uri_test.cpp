// dtq::mongo::parse_uri: the connection string into MongoSettings, no
// server needed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "dtq/mongo/mongo_uri.hpp"

namespace dtq::mongo {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(MongoUri, PassesTheConnectionStringToTheDriverAsItIs) {
  for (const char* text : {"mongodb://u:p@m1:27017,m2:27017/?replicaSet=rs0&tls=true",
                           "mongodb+srv://cluster.example.org/"}) {
    auto settings = parse_uri(text);
    ASSERT_TRUE(settings.ok()) << text << ": " << settings.status().message();
    EXPECT_EQ(settings->uri, text);
    EXPECT_EQ(settings->database, MongoSettings{}.database)
        << "the URI's path is not where results go";
  }
}

TEST(MongoUri, RefusesAnotherSchemeWithoutEchoingThePassword) {
  auto settings = parse_uri("postgres://u:s3cret@db:5432/");
  ASSERT_FALSE(settings.ok());
  EXPECT_EQ(settings.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(settings.status().message(), HasSubstr("is not a mongodb:// connection string"));
  EXPECT_THAT(settings.status().message(), Not(HasSubstr("s3cret")));
  EXPECT_FALSE(parse_uri("").ok());
}

}  // namespace
}  // namespace dtq::mongo
