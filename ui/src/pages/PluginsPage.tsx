// Plugins: each job type this server hosts, with its plugin's metadata and
// its pools' health (query jobTypes): healthy while a pool takes its jobs,
// "no worker" when none does (submitted jobs then wait).
import { useQuery } from "@apollo/client/react";
import { Link } from "react-router";
import { describeError } from "../api/client";
import { JOB_TYPES } from "../api/documents";
import { Alert } from "../components/Alert";
import { describeFields } from "../lib/formSchema";
import { useTitle } from "../lib/useTitle";

export function PluginsPage() {
  const types = useQuery(JOB_TYPES);
  useTitle("Plugins");

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
      {types.error !== undefined && <Alert title="Could not load the plugins">{describeError(types.error)}</Alert>}
      {types.loading && !types.data && <p className="muted">Loading plugins…</p>}
      {types.data?.jobTypes.length === 0 && <Alert kind="info">This server hosts no plugins.</Alert>}
      <ul className="plugin-grid">
        {(types.data?.jobTypes ?? []).map((type) => (
          <li key={type.jobType} className="card plugin" aria-labelledby={`plugin-${type.jobType}`}>
            <div className="card-heading">
              <h2 id={`plugin-${type.jobType}`}>{type.name}</h2>
              <span className={`health ${type.healthy ? "health-healthy" : "health-not-ready"}`}>
                <span className="health-dot" aria-hidden="true" />
                {type.healthy ? "Healthy" : "No worker"}
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
            <Link to={`/?type=${encodeURIComponent(type.jobType)}`} className="button button-secondary">
              New {type.name} job
            </Link>
          </li>
        ))}
      </ul>
    </div>
  );
}
