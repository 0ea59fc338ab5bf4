// Jobs: newest first, filtered by state and type, paged with the API's
// cursor (query jobs), kept up to date live, with a cancel button
// (mutation cancelJob) on each job that has not ended.
//
// One subscription to every job's changes (jobChanges, over the GraphQL
// WebSocket) keeps the list live, without polling: a change to a row on the
// page updates it in place (the cache holds one entry per job, which the
// event updates); a job the page does not show, while on the first page,
// re-reads the page (debounced, so a burst of submits costs one read).
// Nothing resends what changed while no watch was registered (before the
// first, or during a loss), so the page is re-read each time the server
// says its watch is established; only then is the list "Updating live".
// The subscription is filtered by type only: filtered by state, it would
// never tell of a row leaving that state.
import { useMutation, useQuery, useSubscription } from "@apollo/client/react";
import { useEffect, useId, useLayoutEffect, useRef, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { describeError, toApiError } from "../api/client";
import { useConnection, useToken } from "../api/context";
import { CANCEL_JOB, JOB_CHANGES, JOB_TYPES, JOBS } from "../api/documents";
import { JOB_STATES, isTerminal, scheduledFor, type JobState, type JobStatus } from "../api/types";
import { Alert } from "../components/Alert";
import { ProgressBar } from "../components/ProgressBar";
import { StateBadge } from "../components/StateBadge";
import { useAuthorized } from "../components/useAuthorized";
import { formatAgo, formatTime, priorityLabel, shortId } from "../lib/format";
import { useTitle } from "../lib/useTitle";

export const PAGE_SIZE = 20;
export const RELOAD_DEBOUNCE_MS = 500;
// How often "updated … ago" is redrawn; nothing is fetched.
const CLOCK_MS = 10_000;
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 15000;

type ListStreamState = "connecting" | "live" | "reconnecting";

const STREAM_LABELS: Record<ListStreamState, string> = {
  connecting: "Connecting…",
  live: "Updating live",
  reconnecting: "Reconnecting…",
};

/** The state filter as the address spells it (?state=running) and as the schema does. */
function parseState(value: string | null): JobState | "" {
  const upper = (value ?? "").toUpperCase();
  return (JOB_STATES as readonly string[]).includes(upper) ? (upper as JobState) : "";
}

export function JobsPage() {
  const connection = useConnection();
  const apiKey = useToken();
  const authorized = useAuthorized();
  const [cancelJob] = useMutation(CANCEL_JOB);
  const [params, setParams] = useSearchParams();
  const stateFilter = parseState(params.get("state"));
  const typeFilter = params.get("type") ?? "";
  const filterKey = `${stateFilter}|${typeFilter}`;

  // Cursors of the pages before this one; the last is this page's.
  const [cursors, setCursors] = useState<string[]>([]);
  const [cursorsFor, setCursorsFor] = useState(filterKey);
  if (cursorsFor !== filterKey) {
    setCursorsFor(filterKey);
    setCursors([]);
  }
  const cursor = cursors.at(-1);

  const [cancelling, setCancelling] = useState<Record<string, boolean>>({});
  const [notice, setNotice] = useState<{ kind: "error" | "success"; text: string }>();
  const [now, setNow] = useState(Date.now());
  const types = useQuery(JOB_TYPES);
  useTitle("Jobs");

  const list = useQuery(JOBS, {
    variables: { state: stateFilter || null, jobType: typeFilter || null, first: PAGE_SIZE, after: cursor ?? null },
  });
  const page = list.data?.jobs;
  useEffect(() => setNow(Date.now()), [page]);

  // What the subscription's handler needs of the latest render, without
  // subscribing again each time it changes. Kept in a layout effect: a
  // passive one may run after the user already acts on what is shown.
  const latest = useRef({ refetch: list.refetch, page, stateFilter, firstPage: cursor === undefined });
  useLayoutEffect(() => {
    latest.current = { refetch: list.refetch, page, stateFilter, firstPage: cursor === undefined };
  });
  const retryMs = useRef(RETRY_MIN_MS);
  const reloadTimer = useRef<ReturnType<typeof setTimeout>>(undefined);
  useEffect(() => () => clearTimeout(reloadTimer.current), []);
  const reloadSoon = () => {
    if (reloadTimer.current !== undefined) return;
    reloadTimer.current = setTimeout(() => {
      reloadTimer.current = undefined;
      void latest.current.refetch().catch(() => {});
    }, RELOAD_DEBOUNCE_MS);
  };

  // The type filter of the watch the server has said is established.
  const [establishedFor, setEstablishedFor] = useState<string>();
  const events = useSubscription(JOB_CHANGES, {
    variables: { jobType: typeFilter || null },
    onData: ({ data }) => {
      const change = data.data?.jobChanges;
      if (!change) return;
      retryMs.current = RETRY_MIN_MS;
      if (change.watching) {
        setEstablishedFor(typeFilter);
        void latest.current.refetch().catch(() => {});
        return;
      }
      const next = change.status;
      if (!next) return;
      const { page: shown, stateFilter: state, firstPage } = latest.current;
      const matches = state === "" || next.state === state;
      if (shown?.nodes.some((job) => job.jobId === next.jobId)) {
        // The row itself is updated by the cache.
        setNow(Date.now());
        // It no longer belongs on a page filtered by state.
        if (!matches) reloadSoon();
      } else if (firstPage && matches) {
        reloadSoon();
      }
    },
  });
  // Refused (too many streams, a backend away): subscribe again later.
  const eventsError = events.error ? toApiError(events.error) : undefined;
  if (eventsError && establishedFor !== undefined) setEstablishedFor(undefined);
  const { restart } = events;
  const retryable = !!eventsError && eventsError.code !== "unauthorized" && eventsError.code !== "forbidden";
  useEffect(() => {
    if (!retryable) return;
    const timer = setTimeout(restart, retryMs.current);
    retryMs.current = Math.min(retryMs.current * 2, RETRY_MAX_MS);
    return () => clearTimeout(timer);
  }, [retryable, restart]);
  // A new key: subscribe with it (one refused for want of a key works then).
  const keyUsed = useRef(apiKey);
  useEffect(() => {
    if (keyUsed.current === apiKey) return;
    keyUsed.current = apiKey;
    restart();
  }, [apiKey, restart]);

  const stream: ListStreamState =
    connection.state === "lost" || eventsError
      ? "reconnecting"
      : establishedFor === typeFilter
        ? "live"
        : "connecting";

  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), CLOCK_MS);
    return () => clearInterval(timer);
  }, []);

  const setFilter = (name: "state" | "type", value: string) => {
    const next = new URLSearchParams(params);
    if (value) next.set(name, value);
    else next.delete(name);
    setParams(next, { replace: true });
  };

  const cancel = async (job: JobStatus) => {
    setCancelling((current) => ({ ...current, [job.jobId]: true }));
    setNotice(undefined);
    try {
      // The reply updates the row through the cache.
      await authorized(() => cancelJob({ variables: { id: job.jobId } }));
      setNotice({ kind: "success", text: `Job ${shortId(job.jobId)} cancelled.` });
    } catch (raw) {
      const reason = toApiError(raw);
      setNotice({
        kind: "error",
        text:
          reason.code === "conflict"
            ? `Job ${shortId(job.jobId)} had already ended.`
            : `Could not cancel job ${shortId(job.jobId)}: ${describeError(reason)}`,
      });
      void list.refetch().catch(() => {});
    } finally {
      setCancelling(({ [job.jobId]: _, ...rest }) => rest);
    }
  };

  const stateId = useId();
  const typeId = useId();
  const jobs = page?.nodes ?? [];
  const filtered = stateFilter !== "" || typeFilter !== "";

  return (
    <div className="page">
      <div className="page-heading">
        <h1>Jobs</h1>
        <Link to="/" className="button button-primary">
          Submit a job
        </Link>
      </div>

      <form className="filters" role="search" aria-label="Filter jobs" onSubmit={(event) => event.preventDefault()}>
        <div className="field">
          <label htmlFor={stateId}>State</label>
          <select
            id={stateId}
            value={stateFilter.toLowerCase()}
            onChange={(event) => setFilter("state", event.target.value)}
          >
            <option value="">All states</option>
            {JOB_STATES.map((state) => (
              <option key={state} value={state.toLowerCase()}>
                {state.charAt(0) + state.slice(1).toLowerCase()}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor={typeId}>Type</label>
          <select id={typeId} value={typeFilter} onChange={(event) => setFilter("type", event.target.value)}>
            <option value="">All types</option>
            {(types.data?.jobTypes ?? []).map((type) => (
              <option key={type.jobType} value={type.jobType}>
                {type.name}
              </option>
            ))}
            {typeFilter && !types.data?.jobTypes.some((t) => t.jobType === typeFilter) && (
              <option value={typeFilter}>{typeFilter}</option>
            )}
          </select>
        </div>
        {filtered && (
          <button
            type="button"
            className="button button-ghost"
            onClick={() => setParams(new URLSearchParams(), { replace: true })}
          >
            Clear filters
          </button>
        )}
        <span className="spacer" />
        <span className={`stream stream-${stream}`} aria-live="off" title="Updates are pushed by the server">
          {STREAM_LABELS[stream]}
        </span>
      </form>

      {notice && (
        <Alert kind={notice.kind}>{notice.text}</Alert>
      )}
      {list.error !== undefined && (
        <Alert title="Could not load the jobs">{describeError(list.error)}</Alert>
      )}

      {!page && list.loading && <p className="muted">Loading jobs…</p>}
      {page && jobs.length === 0 && (
        <div className="empty card">
          {filtered || cursor ? (
            <p>No jobs match these filters.</p>
          ) : (
            <p>
              No jobs yet. <Link to="/">Submit the first one.</Link>
            </p>
          )}
        </div>
      )}
      {jobs.length > 0 && (
        <div className="table-wrap">
          <table className="jobs-table">
            <caption className="sr-only">Jobs, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Job</th>
                <th scope="col">Type</th>
                <th scope="col">State</th>
                <th scope="col">Priority</th>
                <th scope="col">Progress</th>
                <th scope="col">Message</th>
                <th scope="col">Updated</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {jobs.map((job) => (
                <tr key={job.jobId} data-job-id={job.jobId}>
                  <td data-label="Job">
                    <Link to={`/jobs/${job.jobId}`} className="mono" aria-label={`Job ${shortId(job.jobId)}`}>
                      {shortId(job.jobId)}
                    </Link>
                  </td>
                  <td data-label="Type">{job.jobType ?? "—"}</td>
                  <td data-label="State">
                    <StateBadge state={job.state} />
                    {scheduledFor(job) && (
                      <time className="hint scheduled-at" dateTime={scheduledFor(job)!}>
                        {" "}
                        {formatTime(scheduledFor(job)!)}
                      </time>
                    )}
                  </td>
                  <td data-label="Priority">{job.priority ? priorityLabel(job.priority) : "—"}</td>
                  <td data-label="Progress">
                    <ProgressBar
                      value={job.progressPercent}
                      state={job.state}
                      label={`Progress of job ${shortId(job.jobId)}`}
                      compact
                    />
                  </td>
                  <td data-label="Message" className="cell-message">
                    {job.state === "FAILED" && job.errorMessage ? job.errorMessage : job.message}
                  </td>
                  <td data-label="Updated">
                    <time dateTime={job.updatedAt} title={formatTime(job.updatedAt)}>
                      {formatAgo(job.updatedAt, now)}
                    </time>
                  </td>
                  <td className="cell-actions">
                    {!isTerminal(job.state) && (
                      <button
                        type="button"
                        className="button button-danger button-small"
                        onClick={() => void cancel(job)}
                        disabled={cancelling[job.jobId]}
                        aria-label={`Cancel job ${shortId(job.jobId)}`}
                      >
                        {cancelling[job.jobId] ? "Cancelling…" : "Cancel"}
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      {(cursor !== undefined || page?.pageInfo.hasNextPage) && (
        <nav className="pager" aria-label="Pages">
          <button
            type="button"
            className="button button-secondary"
            disabled={cursors.length === 0}
            onClick={() => setCursors((c) => c.slice(0, -1))}
          >
            ← Newer
          </button>
          <span className="muted">Page {cursors.length + 1}</span>
          <button
            type="button"
            className="button button-secondary"
            disabled={!page?.pageInfo.endCursor}
            onClick={() => page?.pageInfo.endCursor && setCursors((c) => [...c, page.pageInfo.endCursor!])}
          >
            Older →
          </button>
        </nav>
      )}
    </div>
  );
}
