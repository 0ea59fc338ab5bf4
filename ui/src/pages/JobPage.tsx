// One job, live: state, progress, message and a timeline of every change,
// pushed by the server over SSE (no polling); the result once it ended.
import { useEffect, useRef, useState } from "react";
import { Link, useParams } from "react-router";
import { ApiError, describeError } from "../api/client";
import { useServices, useToken } from "../api/context";
import { watchJob, type StreamState } from "../api/events";
import { isTerminal, type JobResult, type JobStatus } from "../api/types";
import { Alert } from "../components/Alert";
import { ProgressBar } from "../components/ProgressBar";
import { RawJson, ResultCard } from "../components/ResultCard";
import { StateBadge } from "../components/StateBadge";
import { useAuthorized } from "../components/useAuthorized";
import { durationBetween, formatClock, formatTime, shortId } from "../lib/format";
import { useLoad } from "../lib/useLoad";
import { useTitle } from "../lib/useTitle";

interface TimelineEntry {
  key: string;
  state: JobStatus["state"];
  progress: number;
  message: string;
  at: string;
}

function sameStep(a: TimelineEntry | undefined, status: JobStatus) {
  return !!a && a.state === status.state && a.progress === status.progress_percent && a.message === status.message;
}

const STREAM_LABELS: Record<StreamState, string> = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  ended: "Final",
};

export function JobPage() {
  const { id = "" } = useParams();
  const { api, connection, eventSource } = useServices();
  const apiKey = useToken();
  const authorized = useAuthorized();
  const [status, setStatus] = useState<JobStatus>();
  const [timeline, setTimeline] = useState<TimelineEntry[]>([]);
  const [result, setResult] = useState<JobResult>();
  const [stream, setStream] = useState<StreamState>("connecting");
  const [fatal, setFatal] = useState<ApiError>();
  const [resultError, setResultError] = useState<unknown>();
  const [cancelling, setCancelling] = useState(false);
  const [cancelError, setCancelError] = useState<string>();
  const resultRequested = useRef(false);
  const types = useLoad((signal) => api.jobTypes(signal), "job-types");

  useEffect(() => {
    setStatus(undefined);
    setTimeline([]);
    setResult(undefined);
    setFatal(undefined);
    setResultError(undefined);
    resultRequested.current = false;
    let active = true;

    const fetchResult = (attempt = 0) => {
      if (!active) return;
      api.job(id).then(
        (job) => {
          if (!active) return;
          if (job.result) setResult(job.result);
          // The result lands just after the terminal status: ask again shortly.
          else if (attempt < 5) setTimeout(() => fetchResult(attempt + 1), 300 * (attempt + 1));
        },
        (error: unknown) => active && setResultError(error),
      );
    };

    const stop = watchJob(
      api,
      id,
      {
        onStatus(next) {
          setStatus(next);
          setTimeline((entries) =>
            sameStep(entries.at(-1), next)
              ? entries
              : [
                  ...entries,
                  {
                    key: `${entries.length}`,
                    state: next.state,
                    progress: next.progress_percent,
                    message: next.message,
                    at: next.updated_at,
                  },
                ],
          );
          if (isTerminal(next.state) && !resultRequested.current) {
            resultRequested.current = true;
            fetchResult();
          }
        },
        onStreamState: setStream,
        onFatal: setFatal,
      },
      { eventSource, connection },
    );
    return () => {
      active = false;
      stop();
    };
    // The key: a stream refused for want of one reopens with it.
  }, [api, connection, eventSource, id, apiKey]);

  const cancel = async () => {
    setCancelling(true);
    setCancelError(undefined);
    try {
      const next = await authorized(() => api.cancel(id));
      setStatus((current) => (current && isTerminal(current.state) ? current : next));
    } catch (error) {
      setCancelError(
        error instanceof ApiError && error.status === 409 ? "The job had already ended." : describeError(error),
      );
    } finally {
      setCancelling(false);
    }
  };

  const jobType = status?.job_type ?? result?.job_type ?? "";
  const typeName = types.data?.find((t) => t.job_type === jobType)?.name ?? jobType;
  useTitle(`${status ? `${status.progress_percent}% ${status.state} · ` : ""}${typeName || "Job"} ${shortId(id)}`);

  if (fatal) {
    return (
      <div className="page">
        <h1>Job {shortId(id)}</h1>
        <Alert title={fatal.status === 404 ? "No such job" : "Cannot show this job"}>
          {fatal.status === 404
            ? "The server has no job with this id. Jobs are kept for a limited time."
            : describeError(fatal)}
        </Alert>
        <p>
          <Link to="/jobs">Back to the jobs</Link>
        </p>
      </div>
    );
  }

  const ended = status ? isTerminal(status.state) : false;

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
        {!status && <p className="muted">Waiting for the first update…</p>}
        {status && (
          <>
            <ProgressBar value={status.progress_percent} state={status.state} label="Job progress" />
            <p className="status-message" data-testid="status-message">
              {status.message || "—"}
            </p>
            {status.state === "failed" && (status.error_code || status.error_message) && (
              <Alert title={`Failed${status.error_code ? `: ${status.error_code}` : ""}`}>{status.error_message}</Alert>
            )}
            <div className="sr-only" aria-live="polite">
              {`State ${status.state}${ended ? "" : `, ${status.progress_percent}%`}`}
            </div>
            {!ended && (
              <div className="actions">
                <button type="button" className="button button-danger" onClick={() => void cancel()} disabled={cancelling}>
                  {cancelling ? "Cancelling…" : "Cancel job"}
                </button>
              </div>
            )}
            {cancelError && <Alert>{cancelError}</Alert>}
          </>
        )}
      </section>

      {ended && (
        <section className="card" aria-labelledby="result-title">
          <h2 id="result-title">Result</h2>
          {result?.output !== undefined && result.output !== null && status?.state === "completed" && (
            <ResultCard jobType={jobType} output={result.output} />
          )}
          {result?.error && (
            <p>
              <strong>{result.error.code}</strong>: {result.error.message}
            </p>
          )}
          {status?.state === "cancelled" && !result?.error && <p className="muted">The job was cancelled.</p>}
          {!result && !resultError && status?.state === "completed" && <p className="muted">Loading the result…</p>}
          {resultError !== undefined && <Alert title="Could not load the result">{describeError(resultError)}</Alert>}
        </section>
      )}

      <div className="two-columns">
        <section className="card" aria-labelledby="timeline-title">
          <h2 id="timeline-title">Timeline</h2>
          {timeline.length === 0 ? (
            <p className="muted">No updates yet.</p>
          ) : (
            <ol className="timeline" aria-label="Status changes">
              {timeline.map((entry) => (
                <li key={entry.key} className={`timeline-item timeline-${entry.state}`}>
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
            <p className="hint">The job had ended before this page opened; the timeline shows what was seen live.</p>
          )}
        </section>

        <section className="card" aria-labelledby="details-title">
          <h2 id="details-title">Details</h2>
          <dl className="details">
            <dt>Job id</dt>
            <dd className="mono">{id}</dd>
            {status?.trace_id && (
              <>
                <dt>Trace id</dt>
                <dd className="mono">{status.trace_id}</dd>
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
                <dd>{formatTime(status.updated_at)}</dd>
              </>
            )}
            {result && (
              <>
                <dt>Started</dt>
                <dd>{formatTime(result.started_at)}</dd>
                <dt>Ended</dt>
                <dd>
                  {formatTime(result.completed_at)}
                  {durationBetween(result.started_at, result.completed_at) &&
                    ` (${durationBetween(result.started_at, result.completed_at)})`}
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
