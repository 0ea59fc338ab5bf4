// JobTypeRegistry port: the job types some worker can run, with each
// plugin's metadata, for GET /v1/job-types and the UI. Embedded: the plugins
// loaded in this process. Distributed: hosts register the plugins they run
// in Redis with a heartbeat, and a type whose pools stop beating is dropped.
//
// A type can be paused: its pools take no new jobs (those running finish;
// queued and newly submitted ones wait, accepted as usual) until it is
// resumed. Embedded, the engine's pools stop at once and the pause lasts as
// long as the process; distributed, the pause is a Redis key that every
// worker reads at its heartbeat, and it survives restarts of either side.
//
// Thread-safety: every member function is thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
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
  // Paused (set_paused): its pools take no new jobs.
  bool paused = false;
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
  // Pauses (true) or resumes (false) taking `job_type`'s jobs; list() shows
  // it at once, the pools follow (embedded: before this returns, so that no
  // job starts after a pause has answered; distributed: at each worker's next
  // heartbeat). Idempotent. NotFound when no pool hosts `job_type` now.
  virtual Status set_paused(std::string_view job_type, bool paused) = 0;
};

}  // namespace dtq
