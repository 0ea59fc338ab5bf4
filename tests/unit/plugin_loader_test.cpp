// Every refusal the loader makes, each with its own message, and the
// directory policies (fail fast vs quarantine) and duplicate detection.
#include <dlfcn.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "dtq/host/job_context.hpp"
#include "dtq/host/plugin_loader.hpp"
#include "dtq/host/plugin_registry.hpp"

namespace dtq::host {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

fs::path fixture(const std::string& name) {
  return fs::path(DTQ_TEST_PLUGIN_DIR) / (name + ".so");
}

// A scratch plugin folder holding links to the named fixtures.
class PluginFolder {
 public:
  explicit PluginFolder(std::initializer_list<std::string> fixtures)
      : path_(fs::temp_directory_path() /
              ("dtq-plugins-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++))) {
    fs::create_directories(path_);
    for (const auto& name : fixtures) fs::create_symlink(fixture(name), path_ / (name + ".so"));
  }
  ~PluginFolder() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

std::string refusal(const std::string& name) {
  auto loaded = load_plugin(fixture(name));
  EXPECT_FALSE(loaded.ok()) << name << " was accepted";
  return loaded.ok() ? "" : loaded.status().message();
}

TEST(PluginLoader, AcceptsAPluginWrittenInPlainC) {
  auto loaded = load_plugin(fixture("good_c"));
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  const PluginInfo& info = (*loaded)->info();
  EXPECT_EQ(info.name, "C fixture");
  EXPECT_EQ(info.job_type, "fixture_c");
  EXPECT_EQ(info.version, "1.2.3");
  EXPECT_EQ(info.abi_major, 1u);
  EXPECT_EQ(info.abi_minor, 0u);
  EXPECT_EQ(info.allowed_hosts, std::vector<std::string>{"example.com"});
  EXPECT_EQ(info.default_concurrency, 2u);
  EXPECT_EQ(info.default_timeout_ms, 5000u);
  EXPECT_EQ(info.default_max_attempts, 1u);
  EXPECT_EQ(info.path, fixture("good_c"));
}

TEST(PluginLoader, RefusesMissingDescriptor) {
  EXPECT_THAT(
      refusal("bad_no_descriptor"),
      HasSubstr("missing descriptor: the library does not export dtq_plugin_get_descriptor"));
  EXPECT_THAT(refusal("bad_null_descriptor"),
              HasSubstr("missing descriptor: the descriptor function returned NULL"));
}

TEST(PluginLoader, RefusesAbiMajorMismatchNamingBothVersions) {
  EXPECT_THAT(
      refusal("bad_abi_major"),
      HasSubstr("ABI major version mismatch: plugin built for ABI 2.0, host speaks ABI 1.0"));
}

TEST(PluginLoader, RefusesAbiMinorNewerThanHost) {
  EXPECT_THAT(
      refusal("bad_abi_minor"),
      HasSubstr(
          "ABI minor version newer than the host: plugin needs ABI 1.7, host speaks ABI 1.0"));
}

TEST(PluginLoader, RefusesDescriptorsTooSmall) {
  EXPECT_THAT(refusal("bad_tiny_descriptor"), HasSubstr("too small to carry an ABI version"));
  EXPECT_THAT(refusal("bad_short_descriptor"),
              HasSubstr("invalid metadata: descriptor is 40 bytes"));
}

TEST(PluginLoader, RefusesInvalidMetadata) {
  EXPECT_THAT(
      refusal("bad_job_type"),
      HasSubstr("invalid metadata: job_type \"Bad Type!\" must match [a-z][a-z0-9_]{0,63}"));
  EXPECT_THAT(refusal("bad_version"),
              HasSubstr("invalid metadata: version \"one\" is not MAJOR.MINOR.PATCH"));
  EXPECT_THAT(refusal("bad_schema"),
              HasSubstr("invalid metadata: payload_schema_json is not a JSON Schema"));
  EXPECT_THAT(refusal("bad_host"),
              HasSubstr("invalid metadata: allowed_hosts[0] \"http://x/\" is not a host name"));
  EXPECT_THAT(refusal("bad_null_api"), HasSubstr("invalid metadata: api table is NULL"));
  EXPECT_THAT(refusal("bad_missing_run"),
              HasSubstr("invalid metadata: api table lacks one of init, shutdown, validate, run"));
}

TEST(PluginLoader, RefusesAPluginWhoseInitFails) {
  EXPECT_THAT(refusal("bad_init_fails"), HasSubstr("init failed: the plugin's init returned 42"));
}

TEST(PluginLoader, ReportsTheDynamicLinkersReason) {
  EXPECT_THAT(refusal("bad_undefined_symbol"),
              HasSubstr("undefined symbol: dtq_fixture_symbol_nobody_defines"));
}

TEST(PluginLoader, RefusesAFileThatIsNotALibrary) {
  const fs::path fake = fs::temp_directory_path() / "dtq-not-a-plugin.so";
  std::ofstream(fake) << "#!/bin/sh\necho I am not ELF\n";
  auto loaded = load_plugin(fake);
  fs::remove(fake);
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(loaded.status().message(), HasSubstr("cannot load shared library"));
}

bool mapped(const fs::path& library) {
  void* handle = ::dlopen(library.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (handle == nullptr) return false;
  ::dlclose(handle);
  return true;
}

// Once a plugin's init() ran, its code may still run (threads it started,
// pointers to its statics): the library is never unmapped, even when init()
// failed or the plugin object is gone.
TEST(PluginLoader, AnInitialisedLibraryStaysMappedForTheProcesssLife) {
  {
    auto loaded = load_plugin(fixture("good_c"));
    ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  }
  EXPECT_TRUE(mapped(fixture("good_c")));
  ASSERT_FALSE(load_plugin(fixture("bad_init_fails")).ok());
  EXPECT_TRUE(mapped(fixture("bad_init_fails")));
}

TEST(PluginLoader, ALibraryRefusedBeforeInitIsUnmapped) {
  ASSERT_FALSE(load_plugin(fixture("bad_abi_major")).ok());
  EXPECT_FALSE(mapped(fixture("bad_abi_major")));
}

TEST(PluginLoader, RefusalsNameTheLibrary) {
  EXPECT_THAT(refusal("bad_abi_major"), HasSubstr(fixture("bad_abi_major").string() + ": "));
}

TEST(PluginLoader, InspectDoesNotInitialise) {
  // init() of this fixture fails; inspection must still succeed.
  auto info = inspect_plugin(fixture("bad_init_fails"));
  ASSERT_TRUE(info.ok()) << info.status().message();
  EXPECT_EQ(info->job_type, "fixture_c");
}

TEST(PluginDirectory, LoadsEveryGoodPluginSortedByJobType) {
  PluginFolder folder{"good_c", "echo"};
  auto report = load_plugin_directory(folder.path(), BadPluginPolicy::kFail);
  ASSERT_TRUE(report.ok()) << report.status().message();
  ASSERT_EQ(report->plugins.size(), 2u);
  EXPECT_EQ(report->plugins[0]->info().job_type, "echo");
  EXPECT_EQ(report->plugins[1]->info().job_type, "fixture_c");
  EXPECT_TRUE(report->rejected.empty());
}

TEST(PluginDirectory, FailPolicyStopsAtTheFirstBadPlugin) {
  PluginFolder folder{"good_c", "bad_abi_major"};
  auto report = load_plugin_directory(folder.path(), BadPluginPolicy::kFail);
  ASSERT_FALSE(report.ok());
  EXPECT_THAT(report.status().message(), HasSubstr("ABI major version mismatch"));
}

TEST(PluginDirectory, QuarantinePolicyListsBadPluginsAndKeepsGoodOnes) {
  PluginFolder folder{"good_c", "bad_abi_major", "bad_schema"};
  auto report = load_plugin_directory(folder.path(), BadPluginPolicy::kQuarantine);
  ASSERT_TRUE(report.ok()) << report.status().message();
  ASSERT_EQ(report->plugins.size(), 1u);
  EXPECT_EQ(report->plugins[0]->info().job_type, "fixture_c");
  ASSERT_EQ(report->rejected.size(), 2u);
  EXPECT_THAT(report->rejected[0].reason.message(), HasSubstr("ABI major version mismatch"));
  EXPECT_THAT(report->rejected[1].reason.message(), HasSubstr("payload_schema_json"));
}

TEST(PluginDirectory, RefusesADuplicateJobTypeNamingBothLibraries) {
  PluginFolder folder{"dup_first", "dup_second"};
  auto failed = load_plugin_directory(folder.path(), BadPluginPolicy::kFail);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kAlreadyExists);
  EXPECT_THAT(failed.status().message(), HasSubstr("duplicate job type \"dup\""));
  EXPECT_THAT(failed.status().message(), HasSubstr("dup_first.so and"));
  EXPECT_THAT(failed.status().message(), HasSubstr("dup_second.so both provide it"));

  auto quarantined = load_plugin_directory(folder.path(), BadPluginPolicy::kQuarantine);
  ASSERT_TRUE(quarantined.ok());
  EXPECT_EQ(quarantined->plugins.size(), 1u);
  EXPECT_EQ(quarantined->rejected.size(), 1u);
}

TEST(PluginDirectory, MissingFolderIsNotFound) {
  auto report = load_plugin_directory("/nonexistent/dtq/plugins", BadPluginPolicy::kFail);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), StatusCode::kNotFound);
}

TEST(PluginRegistry, RefusesDuplicatesAndFindsByType) {
  auto first = load_plugin(fixture("dup_first"));
  auto second = load_plugin(fixture("dup_second"));
  ASSERT_TRUE(first.ok() && second.ok());
  PluginRegistry registry;
  ASSERT_TRUE(registry.add(*first).ok());
  const Status duplicate = registry.add(*second);
  EXPECT_EQ(duplicate.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(registry.find("dup"), *first);
  EXPECT_EQ(registry.find("nope"), nullptr);
  EXPECT_EQ(registry.list().size(), 1u);
}

TEST(PluginBoundary, ExceptionsNeverCrossTheAbi) {
  auto loaded = load_plugin(fixture("throwing"));
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  const auto validation = (*loaded)->validate("{}");
  ASSERT_EQ(validation.errors.size(), 1u);
  EXPECT_EQ(validation.errors[0].message, "validate exploded");

  HttpClient http;
  const auto context = JobContext::create({.job_id = "j", .job_type = "throwing", .payload = "{}"},
                                          {}, http, nullptr);
  (*loaded)->run(*context);
  const JobOutcome outcome = context->finish();
  EXPECT_EQ(outcome.kind, JobOutcome::Kind::kFailed);
  EXPECT_EQ(outcome.error_code, "plugin_exception");
  EXPECT_EQ(outcome.error_message, "unknown exception");
  EXPECT_FALSE(outcome.retryable);
}

TEST(PluginBoundary, MalformedPayloadNeverReachesThePlugin) {
  auto loaded = load_plugin(fixture("throwing"));
  ASSERT_TRUE(loaded.ok());
  // Were it passed on, the plugin would say "validate exploded".
  const auto validation = (*loaded)->validate("{not json");
  ASSERT_EQ(validation.errors.size(), 1u);
  EXPECT_THAT(validation.errors[0].message, HasSubstr("malformed JSON"));
}

}  // namespace
}  // namespace dtq::host
