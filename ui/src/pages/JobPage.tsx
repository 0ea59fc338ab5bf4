// One job, live: state, progress, message and a timeline: the job's stored
// history (query job { history }: every attempt, retry, cancel request,
// dead-letter move and replay, even for a job that ended before the page
// opened) and every change seen live, pushed by the server through the
// jobUpdated subscription (its snapshot first, then every change, over the
// GraphQL WebSocket; no polling); the
// result (query job) once it ended; cancelJob to cancel; retryJob to run a
// failed job again (a new job, whose page it opens).
import { useApolloClient, useMutation, useQuery, useSubscription } from "@apollo/client/react";
import { useEffect, useRef, useState } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { describeError, toApiError, type ApiError } from "../api/client";
import { useConnection, useToken } from "../api/context";
import { CANCEL_JOB, JOB, JOB_TYPES, JOB_UPDATED, RETRY_JOB } from "../api/documents";
import { isTerminal, scheduledFor, type JobResult, type JobStatus } from "../api/types";
import { Alert } from "../components/Alert";
import { JobHistory } from "../components/JobHistory";
import { ProgressBar } from "../components/ProgressBar";
import { RawJson, ResultCard } from "../components/ResultCard";
import { StateBadge } from "../components/StateBadge";
import { useAuthorized } from "../components/useAuthorized";
import { durationBetween, formatClock, formatTime, priorityLabel, shortId } from "../lib/format";
import { useTitle } from "../lib/useTitle";

type StreamState = "connecting" | "live" | "reconnecting" | "ended";

interface TimelineEntry {
  key: string;
  state: JobStatus["state"];
  progress: number;
  message: string;
  at: string;
}

function sameStep(a: TimelineEntry | undefined, status: JobStatus) {
  return !!a && a.state === status.state && a.progress === status.progressPercent && a.message === (status.message ?? "");
}

const STREAM_LABELS: Record<StreamState, string> = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  ended: "Final",
};

/** Errors after which following the job again cannot help. */
const FATAL = new Set(["unknown_job", "malformed_id"]);
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 15000;

export function JobPage() {
  const { id = "" } = useParams();
  const apiKey = useToken();
  // A new key follows the job afresh: a subscription refused for want of one works then.
  return <JobView key={`${id}\n${apiKey}`} id={id} />;
}

function JobView({ id }: { id: string }) {
  const client = useApolloClient();
  const connection = useConnection();
  const authorized = useAuthorized();
  const [cancelJob] = useMutation(CANCEL_JOB);
  const [status, setStatus] = useState<JobStatus>();
  const [timeline, setTimeline] = useState<TimelineEntry[]>([]);
  const [result, setResult] = useState<JobResult>();
  const [ended, setEnded] = useState(false);
  const [resultError, setResultError] = useState<unknown>();
  const [cancelling, setCancelling] = useState(false);
  const [cancelError, setCancelError] = useState<string>();
  const navigate = useNavigate();
  const retryAsAdmin = useAuthorized("admin");
  const [retryJob] = useMutation(RETRY_JOB);
  const [retrying, setRetrying] = useState(false);
  const [retryError, setRetryError] = useState<string>();
  const resultRequested = useRef(false);
  const retryMs = useRef(RETRY_MIN_MS);
  const types = useQuery(JOB_TYPES);

  const fetchResult = (attempt = 0) => {
    client.query({ query: JOB, variables: { id }, fetchPolicy: "network-only" }).then(
      ({ data }) => {
        if (data?.job?.result) setResult(data.job.result);
        // The result lands just after the terminal status: ask again shortly, a few times.
        else if (attempt < 5) setTimeout(() => fetchResult(attempt + 1), 300 * (attempt + 1));
      },
      (error: unknown) => setResultError(error),
    );
  };

  const subscription = useSubscription(JOB_UPDATED, {
    variables: { id },
    onData: ({ data }) => {
      const next = data.data?.jobUpdated;
      if (!next) return;
      retryMs.current = RETRY_MIN_MS;
      setStatus((current) => (current && isTerminal(current.state) ? current : next));
      setTimeline((entries) =>
        sameStep(entries.at(-1), next)
          ? entries
          : [
              ...entries,
              {
                key: `${entries.length}`,
                state: next.state,
                progress: next.progressPercent,
                message: next.message ?? "",
                at: next.updatedAt,
              },
            ],
      );
      if (isTerminal(next.state)) {
        setEnded(true);
        if (!resultRequested.current) {
          resultRequested.current = true;
          fetchResult();
        }
      }
    },
  });
  const streamError: ApiError | undefined = subscription.error ? toApiError(subscription.error) : undefined;
  const fatal = streamError && FATAL.has(streamError.code) ? streamError : undefined;

  // Refused for a passing reason (too many streams, a backend away): follow again later.
  const { restart } = subscription;
  const retryable = !!streamError && !fatal && streamError.code !== "unauthorized" && streamError.code !== "forbidden";
  useEffect(() => {
    if (!retryable) return;
    const timer = setTimeout(restart, retryMs.current);
    retryMs.current = Math.min(retryMs.current * 2, RETRY_MAX_MS);
    return () => clearTimeout(timer);
  }, [retryable, restart]);

  let stream: StreamState = "live";
  if (ended) stream = "ended";
  else if (connection.state === "lost" || streamError) stream = "reconnecting";
  else if (!status && connection.state === "connecting") stream = "connecting";

  const retry = async () => {
    setRetrying(true);
    setRetryError(undefined);
    try {
      const next = await retryAsAdmin(async () => (await retryJob({ variables: { id } })).data!.retryJob);
      navigate(`/jobs/${next}`);
    } catch (raw) {
      const error = toApiError(raw);
      setRetryError(error.code === "conflict" ? `Cannot retry: ${error.message}` : describeError(error));
    } finally {
      setRetrying(false);
    }
  };

  const cancel = async () => {
    setCancelling(true);
    setCancelError(undefined);
    try {
      const next = await authorized(async () => (await cancelJob({ variables: { id } })).data!.cancelJob);
      setStatus((current) => (current && isTerminal(current.state) ? current : next));
    } catch (raw) {
      const error = toApiError(raw);
      setCancelError(error.code === "conflict" ? "The job had already ended." : describeError(error));
    } finally {
      setCancelling(false);
    }
  };

  const jobType = status?.jobType ?? result?.jobType ?? "";
  const typeName = types.data?.jobTypes.find((t) => t.jobType === jobType)?.name ?? jobType;
  useTitle(`${status ? `${status.progressPercent}% ${status.state.toLowerCase()} · ` : ""}${typeName || "Job"} ${shortId(id)}`);

  if (fatal) {
    return (
      <div className="page">
        <h1>Job {shortId(id)}</h1>
        <Alert title={fatal.code === "unknown_job" ? "No such job" : "Cannot show this job"}>
          {fatal.code === "unknown_job"
            ? "The server has no job with this id. Jobs are kept for a limited time."
            : describeError(fatal)}
        </Alert>
        <p>
          <Link to="/jobs">Back to the jobs</Link>
        </p>
      </div>
    );
  }

  const over = status ? isTerminal(status.state) : false;

  return (
    <div className="page">
      <p className="breadcrumb">
        <Link to="/jobs">Jobs</Link> <span aria-hidden="true">/</span> {shortId(id)}
      </p>
      <div className="page-heading">
        <h1>
          {typeName ? `${typeName} job` : "Job"} <span className="mono muted">{shortId(id)}</span>
        </h1>
        <span className={`stream stream-${stream}`} title="Updates are pushed by the server">
          {STREAM_LABELS[stream]}
        </span>
      </div>

      <section className="card" aria-labelledby="status-title">
        <div className="card-heading">
          <h2 id="status-title">Status</h2>
          {status && <StateBadge state={status.state} />}
        </div>
        {!status && !streamError && <p className="muted">Waiting for the first update…</p>}
        {!status && streamError && <Alert title="Cannot follow this job">{describeError(streamError)}</Alert>}
        {status && (
          <>
            <ProgressBar value={status.progressPercent} state={status.state} label="Job progress" />
            <p className="status-message" data-testid="status-message">
              {status.message || "—"}
            </p>
            {status.state === "FAILED" && (status.errorCode || status.errorMessage) && (
              <Alert title={`Failed${status.errorCode ? `: ${status.errorCode}` : ""}`}>{status.errorMessage}</Alert>
            )}
            {scheduledFor(status) && (
              <p className="scheduled-for" data-testid="scheduled-for">
                Scheduled: it runs at{" "}
                <time dateTime={scheduledFor(status)!}>{formatTime(scheduledFor(status)!)}</time>, then it is queued.
              </p>
            )}
            <div className="sr-only" aria-live="polite">
              {`State ${status.state.toLowerCase()}${over ? "" : `, ${status.progressPercent}%`}`}
            </div>
            {!over && (
              <div className="actions">
                <button type="button" className="button button-danger" onClick={() => void cancel()} disabled={cancelling}>
                  {cancelling ? "Cancelling…" : "Cancel job"}
                </button>
              </div>
            )}
            {cancelError && <Alert>{cancelError}</Alert>}
            {status.state === "FAILED" && (
              <div className="actions">
                <button type="button" className="button button-primary" onClick={() => void retry()} disabled={retrying}>
                  {retrying ? "Retrying…" : "Retry job"}
                </button>
              </div>
            )}
            {retryError && <Alert>{retryError}</Alert>}
          </>
        )}
      </section>

      {over && (
        <section className="card" aria-labelledby="result-title">
          <h2 id="result-title">Result</h2>
          {result?.output !== undefined && result.output !== null && status?.state === "COMPLETED" && (
            <ResultCard jobType={jobType} output={result.output} />
          )}
          {result?.error && (
            <p>
              <strong>{result.error.code}</strong>: {result.error.message}
            </p>
          )}
          {status?.state === "CANCELLED" && !result?.error && <p className="muted">The job was cancelled.</p>}
          {!result && !resultError && status?.state === "COMPLETED" && <p className="muted">Loading the result…</p>}
          {resultError !== undefined && <Alert title="Could not load the result">{describeError(resultError)}</Alert>}
        </section>
      )}

      <div className="two-columns">
        <section className="card" aria-labelledby="timeline-title">
          <h2 id="timeline-title">Timeline</h2>
          <h3>History</h3>
          <JobHistory id={id} revision={`${status?.state ?? ""}/${status?.attempt ?? 0}`} />
          <h3>Seen live</h3>
          {timeline.length === 0 ? (
            <p className="muted">No updates yet.</p>
          ) : (
            <ol className="timeline" aria-label="Status changes">
              {timeline.map((entry) => (
                <li key={entry.key} className={`timeline-item timeline-${entry.state.toLowerCase()}`}>
                  <time dateTime={entry.at} title={formatTime(entry.at)}>
                    {formatClock(entry.at)}
                  </time>
                  <span className="timeline-what">
                    <StateBadge state={entry.state} /> <span className="mono">{entry.progress}%</span>
                  </span>
                  <span className="timeline-message">{entry.message}</span>
                </li>
              ))}
            </ol>
          )}
          {stream === "ended" && timeline.length === 1 && (
            <p className="hint">The job had ended before this page opened: its history above is the stored one.</p>
          )}
        </section>

        <section className="card" aria-labelledby="details-title">
          <h2 id="details-title">Details</h2>
          <dl className="details">
            <dt>Job id</dt>
            <dd className="mono">{id}</dd>
            {status?.traceId && (
              <>
                <dt>Trace id</dt>
                <dd className="mono">{status.traceId}</dd>
              </>
            )}
            {status?.priority && (
              <>
                <dt>Priority</dt>
                <dd>{priorityLabel(status.priority)}</dd>
              </>
            )}
            {status?.attempt !== undefined && (
              <>
                <dt>Attempt</dt>
                <dd>{status.attempt}</dd>
              </>
            )}
            {status && (
              <>
                <dt>Updated</dt>
                <dd>{formatTime(status.updatedAt ?? undefined)}</dd>
              </>
            )}
            {result && (
              <>
                <dt>Started</dt>
                <dd>{formatTime(result.startedAt ?? undefined)}</dd>
                <dt>Ended</dt>
                <dd>
                  {formatTime(result.completedAt ?? undefined)}
                  {durationBetween(result.startedAt ?? undefined, result.completedAt ?? undefined) &&
                    ` (${durationBetween(result.startedAt ?? undefined, result.completedAt ?? undefined)})`}
                </dd>
              </>
            )}
          </dl>
          {result && (
            <details className="raw">
              <summary>Input payload</summary>
              <RawJson value={result.input} />
            </details>
          )}
        </section>
      </div>
    </div>
  );
}
