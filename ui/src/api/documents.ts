// Every operation the UI sends, over one endpoint (/graphql): queries and
// mutations by HTTP POST, subscriptions over the WebSocket
// (graphql-transport-ws). gateway/schema.graphql is the contract.
import { gql, type TypedDocumentNode } from "@apollo/client";
import type { DeadLetter, Job, JobChange, JobConnection, JobEvent, JobPriority, JobState, JobStatus, JobType } from "./types";

const STATUS_FIELDS = gql`
  fragment StatusFields on JobStatus {
    jobId
    jobType
    state
    progressPercent
    updatedAt
    message
    traceId
    errorCode
    errorMessage
    attempt
    priority
    runAt
  }
`;

export const JOB_TYPES: TypedDocumentNode<{ jobTypes: JobType[] }, Record<string, never>> = gql`
  query JobTypes {
    jobTypes {
      jobType
      name
      version
      description
      payloadSchema
      abiVersion
      concurrency
      pools
      inFlight
      healthy
      paused
    }
  }
`;

/** A job's stored history, oldest first: asked apart from the job, so a page shows the rest without it. */
export const JOB_HISTORY: TypedDocumentNode<
  { job: { __typename?: "Job"; id: string; history: JobEvent[] } | null },
  { id: string }
> = gql`
  query JobHistory($id: ID!) {
    job(id: $id) {
      id
      history {
        at
        kind
        jobType
        attempt
        worker
        errorCode
        relatedJobId
        detail
      }
    }
  }
`;

export const JOB: TypedDocumentNode<{ job: Job | null }, { id: string }> = gql`
  query Job($id: ID!) {
    job(id: $id) {
      id
      status {
        ...StatusFields
      }
      result {
        jobId
        jobType
        input
        output
        finalState
        startedAt
        completedAt
        error {
          code
          message
        }
        traceId
        attempts
      }
    }
  }
  ${STATUS_FIELDS}
`;

export interface JobsVariables {
  state?: JobState | null;
  jobType?: string | null;
  first: number;
  after?: string | null;
}

export const JOBS: TypedDocumentNode<{ jobs: JobConnection }, JobsVariables> = gql`
  query Jobs($state: JobState, $jobType: String, $first: Int, $after: String) {
    jobs(state: $state, jobType: $jobType, first: $first, after: $after) {
      nodes {
        ...StatusFields
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
  ${STATUS_FIELDS}
`;

export const SUBMIT_JOB: TypedDocumentNode<
  { submitJob: { jobId: string; traceId: string; status: JobStatus } },
  { jobType: string; payload: unknown; priority?: JobPriority; runAt?: string | null; delaySeconds?: number | null }
> = gql`
  mutation SubmitJob(
    $jobType: String!
    $payload: JSON!
    $priority: JobPriority
    $runAt: String
    $delaySeconds: Int
  ) {
    submitJob(
      input: { jobType: $jobType, payload: $payload, priority: $priority, runAt: $runAt, delaySeconds: $delaySeconds }
    ) {
      jobId
      traceId
      status {
        ...StatusFields
      }
    }
  }
  ${STATUS_FIELDS}
`;

export const CANCEL_JOB: TypedDocumentNode<{ cancelJob: JobStatus }, { id: string }> = gql`
  mutation CancelJob($id: ID!) {
    cancelJob(id: $id) {
      ...StatusFields
    }
  }
  ${STATUS_FIELDS}
`;

/** The job's status now, then every change; the server ends it after the terminal state. */
export const JOB_UPDATED: TypedDocumentNode<{ jobUpdated: JobStatus }, { id: string }> = gql`
  subscription JobUpdated($id: ID!) {
    jobUpdated(id: $id) {
      ...StatusFields
    }
  }
  ${STATUS_FIELDS}
`;

/**
 * Every job's changes (of one type, when given); never ends. Each time the
 * watch is established an item with `watching` comes first: a list read
 * after it misses no change.
 */
export const JOB_CHANGES: TypedDocumentNode<{ jobChanges: JobChange }, { jobType?: string | null }> = gql`
  subscription JobChanges($jobType: String) {
    jobChanges(jobType: $jobType) {
      watching
      status {
        ...StatusFields
      }
    }
  }
  ${STATUS_FIELDS}
`;

/** Dead letters, newest first: of one job type, or of every type. */
export const DEAD_LETTERS: TypedDocumentNode<{ deadLetters: DeadLetter[] }, { jobType?: string | null; first?: number }> = gql`
  query DeadLetters($jobType: String, $first: Int) {
    deadLetters(jobType: $jobType, first: $first) {
      jobId
      jobType
      traceId
      submittedAt
      payload
      error {
        code
        message
      }
      attempts
      failedAt
      replayedAs
    }
  }
`;

/** Replays one dead letter; answers the new job's id. */
export const REPLAY_DEAD_LETTER: TypedDocumentNode<{ replayDeadLetter: string }, { id: string }> = gql`
  mutation ReplayDeadLetter($id: ID!) {
    replayDeadLetter(id: $id)
  }
`;

/** Replays every dead letter of a type not replayed yet. */
export const REPLAY_DEAD_LETTERS: TypedDocumentNode<
  { replayDeadLetters: { jobType: string; replayed: number } },
  { jobType: string }
> = gql`
  mutation ReplayDeadLetters($jobType: String!) {
    replayDeadLetters(jobType: $jobType) {
      jobType
      replayed
    }
  }
`;

export const DELETE_DEAD_LETTER: TypedDocumentNode<{ deleteDeadLetter: string }, { id: string }> = gql`
  mutation DeleteDeadLetter($id: ID!) {
    deleteDeadLetter(id: $id)
  }
`;

/** Runs a failed job again; answers the new job's id. */
export const RETRY_JOB: TypedDocumentNode<{ retryJob: string }, { id: string }> = gql`
  mutation RetryJob($id: ID!) {
    retryJob(id: $id)
  }
`;

/** Pauses a job type: its pools take no new jobs until it is resumed (admin). */
export const PAUSE_JOB_TYPE: TypedDocumentNode<
  { pauseJobType: { jobType: string; paused: boolean } },
  { jobType: string }
> = gql`
  mutation PauseJobType($jobType: String!) {
    pauseJobType(jobType: $jobType) {
      jobType
      paused
    }
  }
`;

/** Resumes a paused job type (admin). */
export const RESUME_JOB_TYPE: TypedDocumentNode<
  { resumeJobType: { jobType: string; paused: boolean } },
  { jobType: string }
> = gql`
  mutation ResumeJobType($jobType: String!) {
    resumeJobType(jobType: $jobType) {
      jobType
      paused
    }
  }
`;
