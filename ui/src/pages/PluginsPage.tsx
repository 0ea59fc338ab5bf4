// Plugins: each job type this server hosts, with its plugin's metadata and
// its pools' health (query jobTypes): healthy while a pool takes its jobs,
// "no worker" when none does, "paused" while paused (submitted jobs wait in
// both). Pause / Resume per plugin (pauseJobType / resumeJobType) need an
// admin key; the list is read again after each.
import { useMutation, useQuery } from "@apollo/client/react";
import { useState } from "react";
import { Link } from "react-router";
import { describeError, toApiError } from "../api/client";
import { JOB_TYPES, PAUSE_JOB_TYPE, RESUME_JOB_TYPE } from "../api/documents";
import type { JobType } from "../api/types";
import { Alert } from "../components/Alert";
import { useAuthorized } from "../components/useAuthorized";
import { describeFields } from "../lib/formSchema";
import { useTitle } from "../lib/useTitle";

type Notice = { kind: "success" | "error"; text: string };

function health(type: JobType): { className: string; label: string } {
  if (type.paused) return { className: "health-paused", label: "Paused" };
  return type.healthy
    ? { className: "health-healthy", label: "Healthy" }
    : { className: "health-not-ready", label: "No worker" };
}

export function PluginsPage() {
  const types = useQuery(JOB_TYPES);
  const authorized = useAuthorized("admin");
  const [pause] = useMutation(PAUSE_JOB_TYPE);
  const [resume] = useMutation(RESUME_JOB_TYPE);
  const [busy, setBusy] = useState<string>();
  const [notice, setNotice] = useState<Notice>();
  useTitle("Plugins");

  const toggle = async (type: JobType) => {
    setBusy(type.jobType);
    setNotice(undefined);
    try {
      const variables = { jobType: type.jobType };
      await authorized(async () => {
        await (type.paused ? resume({ variables }) : pause({ variables }));
      });
      setNotice({
        kind: "success",
        text: type.paused
          ? `${type.name} resumed: its jobs run again.`
          : `${type.name} paused: its new and queued jobs wait until it is resumed.`,
      });
    } catch (raw) {
      const error = toApiError(raw);
      setNotice({
        kind: "error",
        text: error.code === "unknown_job_type" ? `No worker hosts ${type.name} any more.` : describeError(error),
      });
    } finally {
      setBusy(undefined);
      void types.refetch().catch(() => {});
    }
  };

  return (
    <div className="page">
      <div className="page-heading">
        <h1>Plugins</h1>
        <button
          type="button"
          className="button button-secondary"
          onClick={() => void types.refetch().catch(() => {})}
        >
          Refresh
        </button>
      </div>
      <p className="muted">
        Each plugin is a shared library loaded by the worker host at start-up; its job type, payload schema and defaults
        come from the library itself.
      </p>
      {notice && <Alert kind={notice.kind}>{notice.text}</Alert>}
      {types.error !== undefined && <Alert title="Could not load the plugins">{describeError(types.error)}</Alert>}
      {types.loading && !types.data && <p className="muted">Loading plugins…</p>}
      {types.data?.jobTypes.length === 0 && <Alert kind="info">This server hosts no plugins.</Alert>}
      <ul className="plugin-grid">
        {(types.data?.jobTypes ?? []).map((type) => (
          <li key={type.jobType} className="card plugin" aria-labelledby={`plugin-${type.jobType}`}>
            <div className="card-heading">
              <h2 id={`plugin-${type.jobType}`}>{type.name}</h2>
              <span className={`health ${health(type).className}`}>
                <span className="health-dot" aria-hidden="true" />
                {health(type).label}
              </span>
            </div>
            <p>{type.description}</p>
            <dl className="details">
              <dt>Job type</dt>
              <dd className="mono">{type.jobType}</dd>
              <dt>Version</dt>
              <dd>{type.version}</dd>
              <dt>ABI version</dt>
              <dd>{type.abiVersion}</dd>
              <dt>Concurrency</dt>
              <dd>
                {type.concurrency} worker{type.concurrency === 1 ? "" : "s"}
                {type.pools > 1 ? ` × ${type.pools} pools` : ""}
              </dd>
              <dt>Running now</dt>
              <dd>{type.inFlight}</dd>
              <dt>Payload</dt>
              <dd>
                {describeFields(type.payloadSchema)
                  .map((f) => `${f.title}${f.required ? " (required)" : ""}`)
                  .join(", ") || "no fields"}
              </dd>
            </dl>
            <div className="plugin-actions">
              <Link to={`/?type=${encodeURIComponent(type.jobType)}`} className="button button-secondary">
                New {type.name} job
              </Link>
              <button
                type="button"
                className="button button-secondary"
                aria-label={`${type.paused ? "Resume" : "Pause"} ${type.name}`}
                disabled={busy === type.jobType}
                onClick={() => void toggle(type)}
              >
                {type.paused ? "Resume" : "Pause"}
              </button>
            </div>
          </li>
        ))}
      </ul>
    </div>
  );
}
