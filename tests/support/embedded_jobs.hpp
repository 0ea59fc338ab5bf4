// EmbeddedJobs: what an engine test needs around the engine — the embedded
// stores in one data folder, and the JobService a client would use over
// them, with a registry's plugins validating payloads. Header-only: the
// tests that use it link dtq::embedded.
//
// Thread-safety: open() and close() from the test's thread; the members are
// as thread-safe as the ports. Ownership: borrows the registry, which must
// outlive it.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>

#include "dtq/core/job_service.hpp"
#include "dtq/core/status_progress_query.hpp"
#include "dtq/embedded/embedded_backends.hpp"
#include "dtq/host/engine.hpp"

namespace dtq::testing {

struct EmbeddedJobs {
  Status open(const std::filesystem::path& data_dir, const host::PluginRegistry& registry) {
    auto opened = embedded::open_embedded({.data_dir = data_dir,
                                           .role = embedded::Role::kOwner,
                                           .poll_interval = std::chrono::milliseconds(20)});
    if (!opened.ok()) return opened.status();
    backends = std::move(opened).value();
    validator = std::make_unique<host::LocalPayloadValidator>(registry);
    progress = std::make_unique<StatusProgressQuery>(*backends.statuses);
    jobs = std::make_unique<JobService>(*backends.queue, *backends.statuses, *backends.results,
                                        *validator, *progress);
    return {};
  }
  void close() {
    jobs.reset();
    progress.reset();
    validator.reset();
    backends = {};
  }
  // The ports an engine over these stores takes.
  host::EnginePorts ports() const {
    return host::EnginePorts{*backends.queue, *backends.statuses, *backends.results};
  }

  embedded::EmbeddedBackends backends;
  std::unique_ptr<host::LocalPayloadValidator> validator;
  std::unique_ptr<StatusProgressQuery> progress;
  std::unique_ptr<JobService> jobs;
};

}  // namespace dtq::testing
