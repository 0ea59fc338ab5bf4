// The shapes the UI reads from dtq's GraphQL API (gateway/schema.graphql,
// docs/graphql.md): what the documents in documents.ts select.
import type { RJSFSchema } from "@rjsf/utils";

/** The schema's JobState enum. */
export const JOB_STATES = ["SCHEDULED", "QUEUED", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"] as const;
export type JobState = (typeof JOB_STATES)[number];

/** The schema's JobPriority enum: a job's class in its type's queue. */
export const JOB_PRIORITIES = ["HIGH", "NORMAL", "LOW"] as const;
export type JobPriority = (typeof JOB_PRIORITIES)[number];

/**
 * When a SCHEDULED job is due: its runAt, or, in a status from a stream (the
 * status stores need not keep runAt), the time its message names
 * ("scheduled for 2026-12-24T18:00:00.000Z"). Null for any other state.
 */
export function scheduledFor(status: Pick<JobStatus, "state" | "runAt" | "message">): string | null {
  if (status.state !== "SCHEDULED") return null;
  return status.runAt ?? /^scheduled for (\S+)$/.exec(status.message ?? "")?.[1] ?? null;
}

export function isTerminal(state: JobState): boolean {
  return state === "COMPLETED" || state === "FAILED" || state === "CANCELLED";
}

/** The status contract (Redis hash `job:{id}:status` in distributed mode). */
export interface JobStatus {
  __typename?: "JobStatus";
  jobId: string;
  jobType: string | null;
  state: JobState;
  progressPercent: number;
  updatedAt: string;
  message: string | null;
  traceId: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  attempt: number;
  priority: JobPriority;
  /** RFC 3339 UTC: when a SCHEDULED (delayed) job is due; null otherwise. */
  runAt?: string | null;
}

/** One item of jobChanges: the watch established (`watching`, no status), or one job's status. */
export interface JobChange {
  __typename?: "JobChange";
  watching: boolean;
  status: JobStatus | null;
}

/** The result contract (collection `dtq.job_results`), present once a job ended. */
export interface JobResult {
  __typename?: "JobResult";
  jobId: string;
  jobType: string;
  input: unknown;
  output: unknown;
  finalState: JobState;
  startedAt: string | null;
  completedAt: string | null;
  error: { __typename?: "JobError"; code: string; message: string } | null;
  traceId: string | null;
  attempts: number;
}

export interface Job {
  __typename?: "Job";
  id: string;
  status: JobStatus;
  result: JobResult | null;
}

/** One event of a job's stored history (docs/operators.md#job-history). */
export interface JobEvent {
  __typename?: "JobEvent";
  at: string;
  /** submitted, started, retry, completed, ...; a kind added later is shown by its name */
  kind: string;
  jobType: string;
  attempt: number;
  worker: string | null;
  errorCode: string | null;
  relatedJobId: string | null;
  detail: string;
}

export interface JobType {
  __typename?: "JobType";
  jobType: string;
  name: string;
  version: string;
  description: string;
  payloadSchema: RJSFSchema;
  abiVersion: string;
  concurrency: number;
  /** Pools taking this type's jobs now; 0: submitted jobs wait. */
  pools: number;
  /** Jobs of this type running now. */
  inFlight: number;
  healthy: boolean;
  /** Paused (pauseJobType): its pools take no new jobs until resumed. */
  paused: boolean;
}

export interface JobConnection {
  __typename?: "JobConnection";
  nodes: JobStatus[];
  pageInfo: { __typename?: "PageInfo"; hasNextPage: boolean; endCursor: string | null };
}

/** One entry of an error's `extensions.details`: `field` is a JSON Pointer into the payload. */
export interface FieldError {
  field: string;
  message: string;
}

/** A job that failed for good, kept for replay (query deadLetters). */
export interface DeadLetter {
  __typename?: "DeadLetter";
  jobId: string;
  jobType: string;
  traceId: string | null;
  submittedAt: string;
  payload: unknown;
  error: { __typename?: "JobError"; code: string; message: string };
  attempts: number;
  failedAt: string;
  /** The replay's job id; null until replayed. */
  replayedAs: string | null;
}
