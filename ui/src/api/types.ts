// The shapes of the dtq REST API (/v1), as docs/operators.md describes them.
import type { RJSFSchema } from "@rjsf/utils";

export const JOB_STATES = ["queued", "running", "completed", "failed", "cancelled"] as const;
export type JobState = (typeof JOB_STATES)[number];

export function isTerminal(state: JobState): boolean {
  return state === "completed" || state === "failed" || state === "cancelled";
}

/** The status contract (Redis hash `job:{id}:status` in distributed mode). */
export interface JobStatus {
  job_id: string;
  state: JobState;
  progress_percent: number;
  updated_at: string;
  message: string;
  trace_id?: string;
  job_type?: string;
  error_code?: string;
  error_message?: string;
  attempt?: number;
}

/** The result contract (collection `dtq.job_results`), present once a job ended. */
export interface JobResult {
  schema_version: string;
  job_id: string;
  job_type: string;
  input: Record<string, unknown>;
  output: unknown;
  final_state: JobState;
  started_at: string;
  completed_at: string;
  error: { code: string; message: string } | null;
  trace_id: string;
  attempts?: number;
}

export interface Job {
  job_id: string;
  status: JobStatus;
  result?: JobResult;
}

export interface JobType {
  job_type: string;
  name: string;
  version: string;
  description: string;
  payload_schema: RJSFSchema;
  abi_version: string;
  concurrency: number;
  /** Pools taking this type's jobs now; 0: submitted jobs wait. */
  pools: number;
  /** Jobs of this type running now. */
  in_flight: number;
  /** "process": in supervised runner processes; "in_process": inside the host. Absent from older servers. */
  isolation?: string;
  /** Runner processes lost while serving since the host started. */
  runner_crashes?: number;
  /** The plugin's runners keep crashing; last_crash says how the last one ended. */
  crash_looping?: boolean;
  last_crash?: string;
}

export interface JobPage {
  jobs: JobStatus[];
  next_cursor: string | null;
}

export interface Submitted {
  job_id: string;
  trace_id: string;
  status_url: string;
  events_url: string;
}

/** One entry of an error's `details`: `field` is a JSON Pointer into the payload. */
export interface FieldError {
  field: string;
  message: string;
}
