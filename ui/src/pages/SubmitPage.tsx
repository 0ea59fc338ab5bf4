// Submit: pick a job type (query jobTypes), fill the form generated from its
// plugin's JSON Schema, submit (mutation submitJob), and go watch the job.
// The plugin's validate() is the authority on the payload: its field errors
// (extensions.code invalid_payload, extensions.details as JSON Pointers) are
// shown on their fields.
import Form from "@rjsf/core";
import type { ErrorSchema, RJSFValidationError, RJSFSchema } from "@rjsf/utils";
import { useMutation, useQuery } from "@apollo/client/react";
import { useMemo, useRef, useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";
import { describeError, toApiError } from "../api/client";
import { JOB_TYPES, SUBMIT_JOB } from "../api/documents";
import { JOB_PRIORITIES, type JobPriority, type JobType } from "../api/types";
import { Alert } from "../components/Alert";
import { useAuthorized } from "../components/useAuthorized";
import { toErrorSchema, pointerToPath } from "../lib/errorSchema";
import { priorityLabel } from "../lib/format";
import { deriveUiSchema, formSchema, validator } from "../lib/formSchema";
import { useTitle } from "../lib/useTitle";

type FormData = Record<string, unknown>;

/** The API's bound on a delay (365 days), as on run_at. */
export const MAX_DELAY_SECONDS = 365 * 24 * 3600;

/**
 * The form's "when": nothing (run now), a delay in whole seconds, or a local
 * date and time sent as RFC 3339 UTC — or why it cannot be sent.
 */
export function scheduleOf(
  delay: string,
  runAt: string,
): { delaySeconds?: number; runAt?: string } | { error: string } {
  const hasDelay = delay.trim() !== "";
  const hasRunAt = runAt.trim() !== "";
  if (hasDelay && hasRunAt) return { error: "Give a delay or a time to run at, not both." };
  if (hasDelay) {
    const seconds = Number(delay);
    if (!Number.isInteger(seconds) || seconds < 0 || seconds > MAX_DELAY_SECONDS) {
      return { error: `The delay is a whole number of seconds, 0 to ${MAX_DELAY_SECONDS} (365 days).` };
    }
    return { delaySeconds: seconds };
  }
  if (hasRunAt) {
    const at = new Date(runAt);
    if (Number.isNaN(at.getTime())) return { error: "The time to run at is not a date and time." };
    return { runAt: at.toISOString() };
  }
  return {};
}

export function SubmitPage() {
  const types = useQuery(JOB_TYPES);
  const [params, setParams] = useSearchParams();
  // Local state answers the click at once; the address follows (for links and reloads).
  const [chosen, setChosen] = useState(params.get("type"));
  const jobTypes = types.data?.jobTypes ?? [];
  const selected = jobTypes.find((t) => t.jobType === chosen) ?? jobTypes[0];
  useTitle(selected ? `Submit ${selected.name}` : "Submit a job");
  const choose = (jobType: string) => {
    setChosen(jobType);
    setParams({ type: jobType }, { replace: true });
  };

  return (
    <div className="page">
      <h1>Submit a job</h1>
      {types.error !== undefined && !types.data && (
        <Alert
          title="Could not load the job types"
          action={
            <button type="button" className="button button-secondary" onClick={() => void types.refetch().catch(() => {})}>
              Try again
            </button>
          }
        >
          {describeError(types.error)}
        </Alert>
      )}
      {types.loading && !types.data && <p className="muted">Loading job types…</p>}
      {types.data?.jobTypes && jobTypes.length === 0 && (
        <Alert kind="info" title="No job types">
          This server hosts no plugins. Put plugin libraries in its plugin folder and restart it.
        </Alert>
      )}
      {selected && (
        <div className="submit-layout">
          <fieldset className="type-picker">
            <legend>Job type</legend>
            {jobTypes.map((type) => (
              <label key={type.jobType} className="type-option">
                <input
                  type="radio"
                  name="job_type"
                  value={type.jobType}
                  checked={type.jobType === selected.jobType}
                  onChange={() => choose(type.jobType)}
                  aria-labelledby={`type-${type.jobType}-name`}
                  aria-describedby={`type-${type.jobType}-description`}
                />
                <span className="type-option-body">
                  <span className="type-option-name" id={`type-${type.jobType}-name`}>
                    {type.name}
                  </span>
                  <span className="type-option-description" id={`type-${type.jobType}-description`}>
                    {type.description}
                  </span>
                </span>
              </label>
            ))}
          </fieldset>
          <section className="card form-card" aria-labelledby="form-title">
            <h2 id="form-title">{selected.name}</h2>
            {typeof selected.payloadSchema.description === "string" && (
              <p className="muted">{selected.payloadSchema.description}</p>
            )}
            <JobForm key={selected.jobType} type={selected} />
          </section>
        </div>
      )}
    </div>
  );
}

/**
 * Friendlier words for the schema checks the browser runs before submitting;
 * generic, for any plugin's schema.
 */
export function transformErrors(errors: RJSFValidationError[], schema: RJSFSchema): RJSFValidationError[] {
  return errors.map((error) => {
    const name = error.property?.replace(/^\./, "") ?? "";
    const property = (schema.properties as Record<string, RJSFSchema> | undefined)?.[name];
    const examples = Array.isArray(property?.examples) ? property.examples.slice(0, 3).join(", ") : "";
    switch (error.name) {
      case "required":
        return { ...error, message: "Required" };
      case "pattern":
        return { ...error, message: examples ? `Not in the expected form, e.g. ${examples}` : "Not in the expected form" };
      default:
        return { ...error, message: error.message ? error.message.charAt(0).toUpperCase() + error.message.slice(1) : "" };
    }
  });
}

function JobForm({ type }: { type: JobType }) {
  const [submitJob] = useMutation(SUBMIT_JOB);
  const authorized = useAuthorized();
  const navigate = useNavigate();
  const schema = useMemo(() => formSchema(type.payloadSchema), [type]);
  const uiSchema = useMemo(() => deriveUiSchema(type.payloadSchema), [type]);
  const [formData, setFormData] = useState<FormData>({});
  const [extraErrors, setExtraErrors] = useState<ErrorSchema | undefined>();
  const [failure, setFailure] = useState<{ title: string; text: string } | null>(null);
  const [submitting, setSubmitting] = useState(false);
  const [priority, setPriority] = useState<JobPriority>("NORMAL");
  const [delay, setDelay] = useState("");
  const [runAt, setRunAt] = useState("");
  const container = useRef<HTMLDivElement>(null);

  const submit = async (payload: FormData) => {
    setFailure(null);
    setExtraErrors(undefined);
    const when = scheduleOf(delay, runAt);
    if ("error" in when) {
      setFailure({ title: "The job was not submitted", text: when.error });
      return;
    }
    setSubmitting(true);
    try {
      const submitted = await authorized(async () => {
        const { data } = await submitJob({ variables: { jobType: type.jobType, payload, priority, ...when } });
        return data!.submitJob;
      });
      navigate(`/jobs/${submitted.jobId}`, { state: { submitted: true } });
    } catch (raw) {
      setSubmitting(false);
      const error = toApiError(raw);
      if (error.code === "invalid_payload" && error.details.length > 0) {
        setExtraErrors(toErrorSchema(error.details));
        const fields = error.details.map((d) => pointerToPath(d.field).join(".") || "payload");
        setFailure({
          title: "The plugin refused this payload",
          text: `Check ${fields.length === 1 ? "the highlighted field" : "the highlighted fields"}: ${[...new Set(fields)].join(", ")}.`,
        });
        // Keyboard and screen-reader users land on the first field at fault.
        const first = error.details[0] ? pointerToPath(error.details[0].field) : [];
        requestAnimationFrame(() => {
          const input = first.length ? container.current?.querySelector<HTMLElement>(`#root_${first.join("_")}`) : null;
          input?.focus();
        });
      } else {
        setFailure({ title: "The job was not submitted", text: describeError(error) });
      }
    }
  };

  return (
    <div ref={container}>
      {failure && <Alert title={failure.title}>{failure.text}</Alert>}
      <div className="form-group priority-field">
        <label htmlFor="job-priority">Priority</label>
        <select
          id="job-priority"
          value={priority}
          onChange={(event) => setPriority(event.target.value as JobPriority)}
          aria-describedby="job-priority-help"
        >
          {JOB_PRIORITIES.map((p) => (
            <option key={p} value={p}>
              {priorityLabel(p)}
            </option>
          ))}
        </select>
        <p className="hint" id="job-priority-help">
          Within its type, a high job runs before normal and low ones; low jobs still get a turn.
        </p>
      </div>
      <fieldset className="form-group schedule-fields">
        <legend>When (optional)</legend>
        <label htmlFor="job-delay">Delay, seconds</label>
        <input
          id="job-delay"
          type="number"
          min={0}
          max={MAX_DELAY_SECONDS}
          inputMode="numeric"
          value={delay}
          onChange={(event) => setDelay(event.target.value)}
          aria-describedby="job-when-help"
        />
        <label htmlFor="job-run-at">or run at</label>
        <input
          id="job-run-at"
          type="datetime-local"
          value={runAt}
          onChange={(event) => setRunAt(event.target.value)}
          aria-describedby="job-when-help"
        />
        <p className="hint" id="job-when-help">
          Empty: it runs now. Otherwise it waits, scheduled, until then (at most 365 days ahead), and can be cancelled
          meanwhile.
        </p>
      </fieldset>
      <Form
        schema={schema}
        uiSchema={{
          ...uiSchema,
          "ui:submitButtonOptions": {
            submitText: submitting ? "Submitting…" : "Submit job",
            props: { disabled: submitting, className: "button button-primary" },
          },
        }}
        validator={validator}
        formData={formData}
        extraErrors={extraErrors}
        showErrorList={false}
        noHtml5Validate
        focusOnFirstError
        transformErrors={(errors) => transformErrors(errors, schema)}
        onChange={(event) => {
          setFormData((event.formData ?? {}) as FormData);
          // A server-side error belongs to the values it was about.
          if (extraErrors) setExtraErrors(undefined);
        }}
        onSubmit={(event) => void submit((event.formData ?? {}) as FormData)}
        onError={() => setFailure(null)} // the errors show on their fields
      />
      <p className="hint">
        Fields and checks come from the <code>{type.jobType}</code> plugin ({type.version}); the plugin validates the
        payload again on the server. <Link to="/jobs">See all jobs</Link>
      </p>
    </div>
  );
}
