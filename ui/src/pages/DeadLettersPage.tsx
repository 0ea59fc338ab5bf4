// Dead letters: the jobs that failed for good (a permanent error, or their
// attempts exhausted), of one job type or of every type (query
// deadLetters), each with its error, attempts and payload; Replay one,
// Delete one, and Replay all of the selected type after a confirmation.
// Every action needs an admin key; the list is read again after each.
import { useMutation, useQuery } from "@apollo/client/react";
import { useId, useState, type ReactNode } from "react";
import { Link, useSearchParams } from "react-router";
import { describeError, toApiError } from "../api/client";
import { DEAD_LETTERS, DELETE_DEAD_LETTER, JOB_TYPES, REPLAY_DEAD_LETTER, REPLAY_DEAD_LETTERS } from "../api/documents";
import type { DeadLetter } from "../api/types";
import { Alert } from "../components/Alert";
import { RawJson } from "../components/ResultCard";
import { useAuthorized } from "../components/useAuthorized";
import { formatTime, shortId } from "../lib/format";
import { useTitle } from "../lib/useTitle";

const PAGE = 100;

type Notice = { kind: "success" | "error"; text: ReactNode };

export function DeadLettersPage() {
  const [params, setParams] = useSearchParams();
  const type = params.get("type") ?? "";
  const typeId = useId();
  const types = useQuery(JOB_TYPES);
  const letters = useQuery(DEAD_LETTERS, {
    variables: { jobType: type || null, first: PAGE },
    fetchPolicy: "network-only",
  });
  const authorized = useAuthorized("admin");
  const [replayOne] = useMutation(REPLAY_DEAD_LETTER);
  const [replayAll] = useMutation(REPLAY_DEAD_LETTERS);
  const [deleteOne] = useMutation(DELETE_DEAD_LETTER);
  const [busy, setBusy] = useState<string>();
  const [confirming, setConfirming] = useState(false);
  const [notice, setNotice] = useState<Notice>();
  useTitle("Dead letters");

  const typeName = (jobType: string) => types.data?.jobTypes.find((t) => t.jobType === jobType)?.name ?? jobType;
  const list = letters.data?.deadLetters ?? [];
  const waiting = list.filter((letter) => !letter.replayedAs).length;

  // Runs one action, then reads the list again; its outcome becomes the notice.
  const act = async (key: string, action: () => Promise<Notice>) => {
    setBusy(key);
    setNotice(undefined);
    try {
      setNotice(await authorized(action));
    } catch (raw) {
      const error = toApiError(raw);
      setNotice({
        kind: "error",
        text:
          error.code === "conflict"
            ? `Already done: ${error.message}`
            : error.code === "unknown_job"
              ? "This dead letter is gone (deleted or trimmed meanwhile)."
              : describeError(error),
      });
    } finally {
      setBusy(undefined);
      void letters.refetch().catch(() => {});
    }
  };

  const replay = (letter: DeadLetter) =>
    act(`replay ${letter.jobId}`, async () => {
      const id = (await replayOne({ variables: { id: letter.jobId } })).data!.replayDeadLetter;
      return {
        kind: "success",
        text: (
          <>
            Job {shortId(letter.jobId)} replayed as <Link to={`/jobs/${id}`}>{shortId(id)}</Link>.
          </>
        ),
      };
    });

  const remove = (letter: DeadLetter) =>
    act(`delete ${letter.jobId}`, async () => {
      await deleteOne({ variables: { id: letter.jobId } });
      return { kind: "success", text: `Dead letter of job ${shortId(letter.jobId)} deleted.` };
    });

  const replayEvery = () =>
    act("replay all", async () => {
      setConfirming(false);
      const done = (await replayAll({ variables: { jobType: type } })).data!.replayDeadLetters;
      return {
        kind: "success",
        text: `Replayed ${done.replayed} dead letter${done.replayed === 1 ? "" : "s"} of ${typeName(done.jobType)}.`,
      };
    });

  return (
    <div className="page">
      <div className="page-heading">
        <h1>Dead letters</h1>
        <button type="button" className="button button-secondary" onClick={() => void letters.refetch().catch(() => {})}>
          Refresh
        </button>
      </div>
      <p className="muted">
        Jobs that failed for good — a permanent error, or every attempt used — are kept here. Replay runs one again as a new
        job with the same payload; these actions need an admin key.
      </p>

      <form className="filters" aria-label="Choose a job type" onSubmit={(event) => event.preventDefault()}>
        <div className="field">
          <label htmlFor={typeId}>Type</label>
          <select
            id={typeId}
            value={type}
            onChange={(event) => {
              setConfirming(false);
              setParams(event.target.value ? { type: event.target.value } : {}, { replace: true });
            }}
          >
            <option value="">All types</option>
            {(types.data?.jobTypes ?? []).map((t) => (
              <option key={t.jobType} value={t.jobType}>
                {t.name}
              </option>
            ))}
            {type && !types.data?.jobTypes.some((t) => t.jobType === type) && <option value={type}>{type}</option>}
          </select>
        </div>
        {type && !confirming && (
          <button
            type="button"
            className="button button-primary"
            disabled={busy !== undefined || waiting === 0}
            onClick={() => setConfirming(true)}
          >
            Replay all
          </button>
        )}
      </form>

      {confirming && (
        <Alert
          kind="warning"
          title={`Replay every dead letter of ${typeName(type)} not replayed yet?`}
          action={
            <div className="actions">
              <button type="button" className="button button-primary" onClick={() => void replayEvery()}>
                Replay them
              </button>
              <button type="button" className="button button-ghost" onClick={() => setConfirming(false)}>
                Keep them
              </button>
            </div>
          }
        >
          {waiting} listed here wait{waiting === 1 ? "s" : ""} for a replay; each becomes a new job.
        </Alert>
      )}
      {notice && <Alert kind={notice.kind}>{notice.text}</Alert>}
      {letters.error !== undefined && <Alert title="Could not load the dead letters">{describeError(letters.error)}</Alert>}
      {letters.loading && !letters.data && <p className="muted">Loading dead letters…</p>}
      {letters.data && list.length === 0 && (
        <div className="empty card">
          <p>{type ? `No dead letters of ${typeName(type)}.` : "No dead letters: no job has failed for good."}</p>
        </div>
      )}

      <ul className="dead-letters" aria-label="Dead letters, newest first">
        {list.map((letter) => (
          <li key={letter.jobId} className="card dead-letter" aria-labelledby={`dead-${letter.jobId}`}>
            <div className="card-heading">
              <h2 id={`dead-${letter.jobId}`}>
                {typeName(letter.jobType)} <Link to={`/jobs/${letter.jobId}`} className="mono">{shortId(letter.jobId)}</Link>
              </h2>
              <span className="muted">
                failed <time dateTime={letter.failedAt}>{formatTime(letter.failedAt)}</time>
              </span>
            </div>
            <p className="dead-letter-error">
              <strong>{letter.error.code || "failed"}</strong>: {letter.error.message}
            </p>
            <dl className="details">
              <dt>Attempts</dt>
              <dd>{letter.attempts}</dd>
              <dt>Submitted</dt>
              <dd>{formatTime(letter.submittedAt)}</dd>
              {letter.replayedAs && (
                <>
                  <dt>Replayed as</dt>
                  <dd>
                    <Link to={`/jobs/${letter.replayedAs}`} className="mono">
                      {shortId(letter.replayedAs)}
                    </Link>
                  </dd>
                </>
              )}
            </dl>
            <details className="raw">
              <summary>Payload</summary>
              <RawJson value={letter.payload} />
            </details>
            <div className="actions">
              <button
                type="button"
                className="button button-primary"
                disabled={busy !== undefined || !!letter.replayedAs}
                onClick={() => void replay(letter)}
              >
                {busy === `replay ${letter.jobId}` ? "Replaying…" : letter.replayedAs ? "Replayed" : "Replay"}
              </button>
              <button
                type="button"
                className="button button-danger"
                disabled={busy !== undefined}
                onClick={() => void remove(letter)}
              >
                {busy === `delete ${letter.jobId}` ? "Deleting…" : "Delete"}
              </button>
            </div>
          </li>
        ))}
      </ul>
    </div>
  );
}
