// Jobs: newest first, filtered by state and type, paged with the API's
// cursor, kept up to date live, with a cancel button on each job that has
// not ended.
//
// One SSE stream of every job (GET /v1/events) keeps the list live, without
// polling: a change to a row on the page updates it in place; a job the page
// does not show, while on the first page, re-reads the page (debounced, so a
// burst of submits costs one read); so does each (re)opening of the stream,
// which does not resend what it missed. The stream is filtered by type only:
// filtered by state, it would never tell of a row leaving that state.
import { useCallback, useEffect, useId, useLayoutEffect, useRef, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { ApiError, describeError } from "../api/client";
import { useServices, useToken } from "../api/context";
import { watchJobs, type StreamState } from "../api/events";
import { JOB_STATES, isTerminal, type JobPage, type JobState, type JobStatus } from "../api/types";
import { Alert } from "../components/Alert";
import { ProgressBar } from "../components/ProgressBar";
import { StateBadge } from "../components/StateBadge";
import { useAuthorized } from "../components/useAuthorized";
import { formatAgo, formatTime, shortId } from "../lib/format";
import { useLoad } from "../lib/useLoad";
import { useTitle } from "../lib/useTitle";

export const PAGE_SIZE = 20;
export const RELOAD_DEBOUNCE_MS = 500;
// How often "updated … ago" is redrawn; nothing is fetched.
const CLOCK_MS = 10_000;

type ListStreamState = Exclude<StreamState, "ended">;

const STREAM_LABELS: Record<ListStreamState, string> = {
  connecting: "Connecting…",
  live: "Updating live",
  reconnecting: "Reconnecting…",
};

// A terminal status is final: a cancel's reply (still "running") or an
// event that arrives after it is older news.
function withStatus(page: JobPage | undefined, next: JobStatus): JobPage | undefined {
  return (
    page && {
      ...page,
      jobs: page.jobs.map((job) => (job.job_id === next.job_id && !isTerminal(job.state) ? { ...job, ...next } : job)),
    }
  );
}

export function JobsPage() {
  const { api, connection, eventSource } = useServices();
  const apiKey = useToken();
  const authorized = useAuthorized();
  const [params, setParams] = useSearchParams();
  const stateFilter = (JOB_STATES as readonly string[]).includes(params.get("state") ?? "")
    ? (params.get("state") as JobState)
    : "";
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

  const [page, setPage] = useState<JobPage>();
  const [error, setError] = useState<unknown>();
  const [loading, setLoading] = useState(true);
  const [cancelling, setCancelling] = useState<Record<string, boolean>>({});
  const [notice, setNotice] = useState<{ kind: "error" | "success"; text: string }>();
  const [now, setNow] = useState(Date.now());
  const [stream, setStream] = useState<ListStreamState>("connecting");
  const types = useLoad((signal) => api.jobTypes(signal), "job-types");
  useTitle("Jobs");

  const load = useCallback(
    async (signal?: AbortSignal) => {
      try {
        const next = await api.jobs({ state: stateFilter, job_type: typeFilter, cursor, limit: PAGE_SIZE }, signal);
        setPage(next);
        setError(undefined);
        setNow(Date.now());
      } catch (reason) {
        if (!signal?.aborted) setError(reason);
      } finally {
        if (!signal?.aborted) setLoading(false);
      }
    },
    // The key: a page refused for want of one is read again once it is set.
    [api, stateFilter, typeFilter, cursor, apiKey],
  );

  // When the connection comes back, the stream's reopening re-reads the page.
  useEffect(() => {
    const controller = new AbortController();
    setLoading(true);
    void load(controller.signal);
    return () => controller.abort();
  }, [load]);

  // What the stream's handlers need of the latest render, without
  // reopening the stream each time it changes. Kept in a layout effect: a
  // passive one may run after the user already acts on what is shown.
  const latest = useRef({ load, page, stateFilter, firstPage: cursor === undefined });
  useLayoutEffect(() => {
    latest.current = { load, page, stateFilter, firstPage: cursor === undefined };
  });

  useEffect(() => {
    let reloadTimer: ReturnType<typeof setTimeout> | undefined;
    const reloadSoon = () => {
      if (reloadTimer !== undefined) return;
      reloadTimer = setTimeout(() => {
        reloadTimer = undefined;
        void latest.current.load();
      }, RELOAD_DEBOUNCE_MS);
    };
    const stop = watchJobs(
      api,
      { job_type: typeFilter },
      {
        onStatus(next) {
          const { page: shown, stateFilter: state, firstPage } = latest.current;
          const matches = state === "" || next.state === state;
          if (shown?.jobs.some((job) => job.job_id === next.job_id)) {
            setPage((current) => withStatus(current, next));
            setNow(Date.now());
            // It no longer belongs on a page filtered by state.
            if (!matches) reloadSoon();
          } else if (firstPage && matches) {
            reloadSoon();
          }
        },
        onOpen: () => void latest.current.load(),
        onStreamState: setStream,
      },
      { eventSource, connection },
    );
    return () => {
      clearTimeout(reloadTimer);
      stop();
    };
    // The key: a stream refused for want of one reopens with it.
  }, [api, connection, eventSource, typeFilter, apiKey]);

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
    setCancelling((current) => ({ ...current, [job.job_id]: true }));
    setNotice(undefined);
    try {
      const updated = await authorized(() => api.cancel(job.job_id));
      setPage((current) => withStatus(current, updated));
      setNotice({ kind: "success", text: `Job ${shortId(job.job_id)} cancelled.` });
    } catch (reason) {
      setNotice({
        kind: "error",
        text:
          reason instanceof ApiError && reason.status === 409
            ? `Job ${shortId(job.job_id)} had already ended.`
            : `Could not cancel job ${shortId(job.job_id)}: ${describeError(reason)}`,
      });
      void load();
    } finally {
      setCancelling(({ [job.job_id]: _, ...rest }) => rest);
    }
  };

  const stateId = useId();
  const typeId = useId();
  const jobs = page?.jobs ?? [];
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
          <select id={stateId} value={stateFilter} onChange={(event) => setFilter("state", event.target.value)}>
            <option value="">All states</option>
            {JOB_STATES.map((state) => (
              <option key={state} value={state}>
                {state.charAt(0).toUpperCase() + state.slice(1)}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor={typeId}>Type</label>
          <select id={typeId} value={typeFilter} onChange={(event) => setFilter("type", event.target.value)}>
            <option value="">All types</option>
            {(types.data ?? []).map((type) => (
              <option key={type.job_type} value={type.job_type}>
                {type.name}
              </option>
            ))}
            {typeFilter && !types.data?.some((t) => t.job_type === typeFilter) && (
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
      {error !== undefined && (
        <Alert title="Could not load the jobs">{describeError(error)}</Alert>
      )}

      {!page && loading && <p className="muted">Loading jobs…</p>}
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
                <tr key={job.job_id} data-job-id={job.job_id}>
                  <td data-label="Job">
                    <Link to={`/jobs/${job.job_id}`} className="mono" aria-label={`Job ${shortId(job.job_id)}`}>
                      {shortId(job.job_id)}
                    </Link>
                  </td>
                  <td data-label="Type">{job.job_type ?? "—"}</td>
                  <td data-label="State">
                    <StateBadge state={job.state} />
                  </td>
                  <td data-label="Progress">
                    <ProgressBar
                      value={job.progress_percent}
                      state={job.state}
                      label={`Progress of job ${shortId(job.job_id)}`}
                      compact
                    />
                  </td>
                  <td data-label="Message" className="cell-message">
                    {job.state === "failed" && job.error_message ? job.error_message : job.message}
                  </td>
                  <td data-label="Updated">
                    <time dateTime={job.updated_at} title={formatTime(job.updated_at)}>
                      {formatAgo(job.updated_at, now)}
                    </time>
                  </td>
                  <td className="cell-actions">
                    {!isTerminal(job.state) && (
                      <button
                        type="button"
                        className="button button-danger button-small"
                        onClick={() => void cancel(job)}
                        disabled={cancelling[job.job_id]}
                        aria-label={`Cancel job ${shortId(job.job_id)}`}
                      >
                        {cancelling[job.job_id] ? "Cancelling…" : "Cancel"}
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      {(cursor !== undefined || page?.next_cursor) && (
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
            disabled={!page?.next_cursor}
            onClick={() => page?.next_cursor && setCursors((c) => [...c, page.next_cursor!])}
          >
            Older →
          </button>
        </nav>
      )}
    </div>
  );
}
