// A job's stored history (query job { history }): every state change,
// attempt, retry, cancel request, dead-letter move and replay the server
// recorded, oldest first, with its time and the worker that ran the
// attempt. Read from the store, so it is whole even for a job that ended
// before the page opened; asked again whenever `revision` changes (the
// page passes the live state and attempt), so it follows the job too.
import { useQuery } from "@apollo/client/react";
import { useEffect, useRef } from "react";
import { Link } from "react-router";
import { describeError } from "../api/client";
import { JOB_HISTORY } from "../api/documents";
import type { JobEvent } from "../api/types";
import { formatClock, formatTime, shortId } from "../lib/format";

const LABELS: Record<string, string> = {
  submitted: "Submitted",
  replay_of: "Queued as a replay",
  retry_of: "Queued as a retry",
  scheduled: "Scheduled",
  started: "Attempt started",
  retry: "Attempt failed, retrying",
  released: "Released for redelivery",
  cancel_requested: "Cancel requested",
  completed: "Completed",
  failed: "Failed",
  cancelled: "Cancelled",
  dead_lettered: "Moved to the dead letters",
  replayed: "Replayed",
  retried: "Retried",
};

/** The kind as people read it; a kind this UI does not know, by its name. */
export function eventLabel(kind: string) {
  return LABELS[kind] ?? kind;
}

function EventLine({ event }: { event: JobEvent }) {
  return (
    <li className={`timeline-item history-${event.kind}`}>
      <time dateTime={event.at} title={formatTime(event.at)}>
        {formatClock(event.at)}
      </time>
      <span className="timeline-what">
        <strong>{eventLabel(event.kind)}</strong>
        {event.attempt > 0 && <span className="muted"> · attempt {event.attempt}</span>}
        {event.errorCode && <span className="mono"> · {event.errorCode}</span>}
      </span>
      <span className="timeline-message">
        {event.relatedJobId ? (
          <>
            {event.kind === "replay_of" || event.kind === "retry_of" ? "of " : "as "}
            <Link to={`/jobs/${event.relatedJobId}`} className="mono">
              {shortId(event.relatedJobId)}
            </Link>
          </>
        ) : (
          event.detail
        )}
        {event.worker && <span className="muted"> · on {event.worker}</span>}
      </span>
    </li>
  );
}

export function JobHistory({ id, revision }: { id: string; revision: string }) {
  const { data, error, loading, refetch } = useQuery(JOB_HISTORY, {
    variables: { id },
    fetchPolicy: "network-only",
  });
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    void refetch().catch(() => undefined);  // the error shows through `error`
  }, [revision, refetch]);

  const events = data?.job?.history ?? [];
  if (error && events.length === 0) {
    return <p className="muted">The stored history could not be read: {describeError(error)}</p>;
  }
  if (loading && events.length === 0) return <p className="muted">Loading the history…</p>;
  if (events.length === 0) return <p className="muted">No events recorded yet.</p>;
  return (
    <ol className="timeline" aria-label="Job history">
      {events.map((event, index) => (
        <EventLine key={`${index}-${event.at}-${event.kind}`} event={event} />
      ))}
    </ol>
  );
}
