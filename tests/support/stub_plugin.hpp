// StubPlugin: a host::Plugin made in the test from metadata and a check
// function, with no library behind it, so that a test can host any job type
// with any metadata and any verdict (the JobTypeRegistry and
// PayloadValidator conformance suites over the engine, the local validator
// and the worker's gRPC face). It is never given a job: run() records a
// permanent failure saying so.
//
// Thread-safety: check() may be called from many threads at once (as
// `check` must allow). Ownership: owns copies of what it is given.
#pragma once

#include <cstdio>
#include <functional>
#include <string>
#include <utility>

#include "dtq/core/ports/job_type_registry.hpp"
#include "dtq/host/job_context.hpp"
#include "dtq/host/plugin.hpp"

namespace dtq::testing {

class StubPlugin final : public host::Plugin {
 public:
  using Check = std::function<StatusOr<ValidationOutcome>(std::string_view payload)>;

  StubPlugin(host::PluginInfo info, Check check)
      : info_(std::move(info)), check_(std::move(check)) {}

  // A plugin whose descriptor says what `type` lists: its metadata, its ABI
  // version ("major.minor") and its concurrency as the default.
  static host::PluginInfo info_of(const JobTypeInfo& type) {
    host::PluginInfo info{.name = type.name,
                          .job_type = type.job_type,
                          .version = type.version,
                          .sdk_version = "1.0.0",
                          .description = type.description,
                          .payload_schema_json = type.payload_schema_json,
                          .default_concurrency = type.concurrency};
    if (std::sscanf(type.abi_version.c_str(), "%u.%u", &info.abi_major, &info.abi_minor) != 2) {
      info.abi_major = DTQ_ABI_VERSION_MAJOR;
      info.abi_minor = DTQ_ABI_VERSION_MINOR;
    }
    return info;
  }

  const host::PluginInfo& info() const noexcept override { return info_; }
  StatusOr<ValidationOutcome> check(std::string_view payload) const override {
    return check_(payload);
  }
  void run(host::JobContext& context) const override {
    context.fail("stub", "a stub plugin runs no job", false);
  }
  void notify_cancel(host::JobContext& /*context*/) const override {}

 private:
  host::PluginInfo info_;
  Check check_;
};

}  // namespace dtq::testing
