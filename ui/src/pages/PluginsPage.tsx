// Plugins: each job type this server hosts, with its plugin's metadata and
// its pools' health from GET /v1/job-types: healthy while a pool takes its
// jobs, "no worker" when none does (submitted jobs then wait), "crashing"
// while its runner processes keep dying.
import { Link } from "react-router";
import { describeError } from "../api/client";
import { useServices } from "../api/context";
import { Alert } from "../components/Alert";
import { describeFields } from "../lib/formSchema";
import { useLoad } from "../lib/useLoad";
import { useTitle } from "../lib/useTitle";

export function PluginsPage() {
  const { api } = useServices();
  const types = useLoad((signal) => api.jobTypes(signal), "job-types");
  useTitle("Plugins");

  return (
    <div className="page">
      <div className="page-heading">
        <h1>Plugins</h1>
        <button
          type="button"
          className="button button-secondary"
          onClick={() => types.reload()}
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
      {types.data?.length === 0 && <Alert kind="info">This server hosts no plugins.</Alert>}
      <ul className="plugin-grid">
        {(types.data ?? []).map((type) => (
          <li key={type.job_type} className="card plugin" aria-labelledby={`plugin-${type.job_type}`}>
            <div className="card-heading">
              <h2 id={`plugin-${type.job_type}`}>{type.name}</h2>
              <span
                className={`health ${type.pools > 0 && !type.crash_looping ? "health-healthy" : "health-not-ready"}`}
              >
                <span className="health-dot" aria-hidden="true" />
                {type.crash_looping ? "Crashing" : type.pools > 0 ? "Healthy" : "No worker"}
              </span>
            </div>
            <p>{type.description}</p>
            {type.crash_looping && (
              <Alert title="This plugin keeps crashing">
                Its runner processes keep dying ({type.last_crash}); its jobs fail and are retried, and the other
                plugins are not affected.
              </Alert>
            )}
            <dl className="details">
              <dt>Job type</dt>
              <dd className="mono">{type.job_type}</dd>
              <dt>Version</dt>
              <dd>{type.version}</dd>
              <dt>ABI version</dt>
              <dd>{type.abi_version}</dd>
              <dt>Concurrency</dt>
              <dd>
                {type.concurrency} worker{type.concurrency === 1 ? "" : "s"}
                {type.pools > 1 ? ` × ${type.pools} pools` : ""}
              </dd>
              <dt>Running now</dt>
              <dd>{type.in_flight}</dd>
              {type.isolation !== undefined && type.isolation !== "" && (
                <>
                  <dt>Runs</dt>
                  <dd>
                    {type.isolation === "process" ? "in its own processes" : "inside the host (trusted)"}
                    {type.runner_crashes ? `, ${type.runner_crashes} crashed` : ""}
                  </dd>
                </>
              )}
              <dt>Payload</dt>
              <dd>
                {describeFields(type.payload_schema)
                  .map((f) => `${f.title}${f.required ? " (required)" : ""}`)
                  .join(", ") || "no fields"}
              </dd>
            </dl>
            <Link to={`/?type=${encodeURIComponent(type.job_type)}`} className="button button-secondary">
              New {type.name} job
            </Link>
          </li>
        ))}
      </ul>
    </div>
  );
}
