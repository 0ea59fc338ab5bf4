// JobTypeRegistry port: the job types some worker can run, with each
// plugin's metadata, for GET /v1/job-types and the UI. Embedded: the plugins
// loaded in this process. Distributed: hosts register the plugins they run
// in Redis with a heartbeat, and a type whose pools stop beating is dropped.
//
// Thread-safety: every member function is thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dtq/core/status.hpp"

namespace dtq {

struct JobTypeInfo {
  std::string job_type;
  std::string name;
  std::string version;
  std::string description;
  std::string payload_schema_json;  // a JSON Schema (object text)
  std::string abi_version;          // "major.minor"
  uint32_t concurrency = 0;         // workers per pool
  uint32_t pools = 0;               // pools running it now; 0 = nobody takes its jobs
  uint32_t in_flight = 0;           // jobs running now, across those pools
  // Where the plugin runs: "process" (supervised runner processes) or
  // "in_process"; "" when the registry does not know.
  std::string isolation;
  uint64_t runner_crashes = 0;  // runner processes lost while serving, ever
  // Its runners keep crashing (the last few requests each lost one), and why
  // the last one ended.
  bool crash_looping = false;
  std::string last_crash;
  // WorkerService gRPC addresses ("host:port") of the pools that serve one,
  // for the API's payload validation; empty in embedded mode. Internal: not
  // shown to clients.
  std::vector<std::string> worker_addresses;
};

class JobTypeRegistry {
 public:
  virtual ~JobTypeRegistry() = default;
  // Sorted by job type.
  virtual StatusOr<std::vector<JobTypeInfo>> list() = 0;
};

}  // namespace dtq
