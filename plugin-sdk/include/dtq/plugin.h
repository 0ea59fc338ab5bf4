/*
 * dtq plugin ABI — the stable C boundary between the dtq worker host and a job
 * plugin (a shared library such as weather.so).
 *
 * Only this header crosses the boundary. Rules (docs/plugin-authoring.md):
 *  - Only extern "C" functions and plain C structs; no C++ types, no exceptions.
 *  - Memory is never freed on the other side. Data the host passes in is valid
 *    for the duration of the call. Data the plugin hands back (results, errors,
 *    normalized payloads, log lines) goes through host functions that copy it.
 *  - Strings are spans (dtq_str): a pointer and a length, not NUL-terminated,
 *    and UTF-8. Descriptor metadata strings are NUL-terminated and static.
 *  - Every struct begins with `struct_size` and only ever grows at its end.
 *    A reader touches a field only when DTQ_FIELD_FITS says the writer's struct
 *    is large enough to hold it.
 *  - Versioning: the host calls dtq_plugin_get_descriptor() before any other
 *    plugin code and accepts the plugin only when its ABI major equals the
 *    host's and its ABI minor is not newer than the host's.
 *
 * Thread-safety is written on each hook below. Libraries are never unloaded
 * while the host runs, so static data in a plugin lives as long as the process.
 */
#ifndef DTQ_PLUGIN_H
#define DTQ_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DTQ_ABI_VERSION_MAJOR 1
#define DTQ_ABI_VERSION_MINOR 0

/* The one symbol every plugin exports; see dtq_descriptor_fn. */
#define DTQ_DESCRIPTOR_SYMBOL "dtq_plugin_get_descriptor"

#if defined(_WIN32)
#define DTQ_PLUGIN_EXPORT __declspec(dllexport)
#else
#define DTQ_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

/* True when the struct at `ptr` (whose first member is struct_size) is large
 * enough to contain `field`. */
#ifdef __cplusplus
#define DTQ_FIELD_FITS(ptr, type, field) \
  ((ptr)->struct_size >= offsetof(type, field) + sizeof(type::field))
#else
#define DTQ_FIELD_FITS(ptr, type, field) \
  ((ptr)->struct_size >= offsetof(type, field) + sizeof(((type*)0)->field))
#endif

/* A borrowed UTF-8 string: `ptr` may be NULL only when `len` is 0. */
typedef struct dtq_str {
  const char* ptr;
  size_t len;
} dtq_str;

/* Results of host calls. Values are stable; new ones are only appended. */
typedef enum dtq_status {
  DTQ_OK = 0,
  DTQ_ERR_INVALID_ARGUMENT = 1, /* the call's arguments were malformed */
  DTQ_ERR_DENIED = 2,           /* outbound host not in the plugin's allow-list */
  DTQ_ERR_TIMEOUT = 3,          /* no answer within the request's time limit */
  DTQ_ERR_TRANSPORT = 4,        /* DNS, connect, TLS or connection reset */
  DTQ_ERR_CANCELLED = 5,        /* the job was cancelled or its deadline passed */
  DTQ_ERR_JOB_ENDED = 6         /* the job has already finished; call ignored */
} dtq_status;

typedef enum dtq_log_level {
  DTQ_LOG_DEBUG = 0,
  DTQ_LOG_INFO = 1,
  DTQ_LOG_WARN = 2,
  DTQ_LOG_ERROR = 3
} dtq_log_level;

/* Opaque host handles. A dtq_job_ctx names one attempt of one job; a
 * dtq_validation collects the outcome of one validate() call. */
typedef struct dtq_job_ctx dtq_job_ctx;
typedef struct dtq_validation dtq_validation;

typedef struct dtq_http_header {
  dtq_str name;
  dtq_str value;
} dtq_http_header;

/* An outbound request made through the host. The URL must name a host the
 * plugin declared in allowed_hosts; the host may rewrite its origin to an
 * operator-configured base URL (tests, proxies). */
typedef struct dtq_http_request {
  uint32_t struct_size;
  dtq_str method; /* "GET", "POST", ... ; empty means GET */
  dtq_str url;
  const dtq_http_header* headers;
  size_t header_count;
  dtq_str body;
  uint32_t timeout_ms;   /* per attempt; 0 = host default */
  uint32_t max_attempts; /* 0 = host default; 1 = no retry */
} dtq_http_request;

/* Filled by the host. Every pointer inside stays valid until the plugin's
 * run() returns; the plugin must not free any of it. */
typedef struct dtq_http_response {
  uint32_t struct_size; /* set by the plugin to sizeof(dtq_http_response) */
  int32_t status_code;  /* HTTP status of the final attempt; 0 if none */
  dtq_str body;
  const dtq_http_header* headers; /* names lower-cased */
  size_t header_count;
  uint32_t attempts; /* how many attempts the host made */
  dtq_str error;     /* transport error text when the call did not return DTQ_OK */
} dtq_http_response;

/* The job handed to run(). Valid for the duration of run(). */
typedef struct dtq_job {
  uint32_t struct_size;
  dtq_str job_id;
  dtq_str job_type;
  dtq_str trace_id;
  dtq_str payload;  /* the normalized payload returned by validate() */
  uint32_t attempt; /* 1 for the first delivery */
  int64_t deadline_unix_ms;
} dtq_job;

/*
 * Functions the host offers a plugin. The table is owned by the host and lives
 * as long as the process. Every function is thread-safe and may be called from
 * any thread running the job it names. Calls that name a job that has already
 * ended are ignored (and return DTQ_ERR_JOB_ENDED where they return a status).
 */
typedef struct dtq_host_api {
  uint32_t struct_size;
  uint32_t abi_major;
  uint32_t abi_minor;

  /* Progress is 0..100, clamped, and never goes down: a lower value keeps the
   * current one (its message is still recorded). */
  void (*report_progress)(dtq_job_ctx* job, int32_t percent, dtq_str message);

  /* A log line tagged with the job's id, type and trace id; `job` may be NULL
   * for a plugin-wide line (from init, say). */
  void (*log)(dtq_job_ctx* job, dtq_log_level level, dtq_str message);

  /* Non-zero once the job has been cancelled or has passed its deadline. A
   * plugin that sees it should stop and return. */
  int (*is_cancelled)(dtq_job_ctx* job);

  /* Sleep for up to `ms`, waking early on cancellation. Returns DTQ_OK after
   * the full sleep, DTQ_ERR_CANCELLED when woken early. */
  dtq_status (*sleep_ms)(dtq_job_ctx* job, uint32_t ms);

  /* Blocking HTTP with host-side timeouts and retries (5xx, 429 honouring
   * Retry-After, timeouts and transport errors, exponential backoff with
   * jitter). DTQ_OK means an HTTP response arrived, whatever its status. */
  dtq_status (*http_request)(dtq_job_ctx* job, const dtq_http_request* request,
                             dtq_http_response* response);

  /* The job's output, a JSON document. The host copies it. Calling it again
   * replaces the earlier value. */
  void (*set_result)(dtq_job_ctx* job, dtq_str output_json);

  /* End the job as failed. `code` is a short machine-readable identifier
   * (e.g. "user_not_found"); `retryable` non-zero lets the host retry. */
  void (*fail)(dtq_job_ctx* job, dtq_str code, dtq_str message, int retryable);

  /* validate() reports through these. The normalized payload defaults to the
   * input when never set; any field error makes the payload invalid. `field`
   * is a JSON Pointer into the payload ("" for the whole payload). */
  void (*set_normalized_payload)(dtq_validation* validation, dtq_str payload_json);
  void (*add_field_error)(dtq_validation* validation, dtq_str field, dtq_str message);
} dtq_host_api;

/* Plugin flags. */
#define DTQ_PLUGIN_SINGLE_THREADED 0x1u /* run() must never run concurrently */

/*
 * Hooks the plugin implements. The table is owned by the plugin and must stay
 * valid for the life of the process (a static).
 */
typedef struct dtq_plugin_api {
  uint32_t struct_size;

  /* Called once, on the host's main thread, before any other hook. Store
   * plugin-wide state in *state (may stay NULL). Return 0 to accept; any other
   * value makes the host refuse the plugin (log why first, with a NULL job). */
  int32_t (*init)(const dtq_host_api* host, void** state);

  /* Called once, on the main thread, after every run() has returned. */
  void (*shutdown)(void* state);

  /* The single authority on the payload's contract. Thread-safe: may be
   * called concurrently with itself and with run(). Reports the normalized
   * payload or field errors through host->set_normalized_payload and
   * host->add_field_error. */
  void (*validate)(void* state, const dtq_host_api* host, dtq_str payload,
                   dtq_validation* validation);

  /* Runs one attempt of one job. Called concurrently on many threads unless
   * the plugin sets DTQ_PLUGIN_SINGLE_THREADED. Ends by calling
   * host->set_result or host->fail; returning without either is a failure. */
  void (*run)(void* state, const dtq_host_api* host, const dtq_job* job, dtq_job_ctx* ctx);

  /* Optional (may be NULL): a hint, from another thread, that the job behind
   * `ctx` was cancelled. Must be thread-safe and return quickly;
   * host->is_cancelled already reports the same thing. */
  void (*cancel)(void* state, dtq_job_ctx* ctx);
} dtq_plugin_api;

/* Static metadata a plugin describes itself with. Strings are NUL-terminated
 * and live as long as the process. The first three fields are frozen across
 * every ABI version so any host can read them. */
typedef struct dtq_plugin_descriptor {
  uint32_t struct_size;
  uint32_t abi_major;
  uint32_t abi_minor;

  const char* name;        /* human name, e.g. "Weather" */
  const char* job_type;    /* [a-z][a-z0-9_]{0,63}, e.g. "weather" */
  const char* version;     /* the plugin's own version, semver */
  const char* sdk_version; /* the SDK it was built with */
  const char* description;
  const char* payload_schema_json; /* JSON Schema (draft 2020-12) of the payload */

  const char* const* allowed_hosts; /* exact host names it may call */
  size_t allowed_host_count;

  uint32_t default_concurrency;  /* 0 = host default */
  uint32_t default_timeout_ms;   /* 0 = host default */
  uint32_t default_max_attempts; /* 0 = host default */
  uint32_t flags;                /* DTQ_PLUGIN_* */

  const dtq_plugin_api* api;
} dtq_plugin_descriptor;

/* The exported entry point, named DTQ_DESCRIPTOR_SYMBOL. It must be safe to
 * call before init(), more than once, from any thread; it must not allocate
 * or have side effects. */
typedef const dtq_plugin_descriptor* (*dtq_descriptor_fn)(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* DTQ_PLUGIN_H */
