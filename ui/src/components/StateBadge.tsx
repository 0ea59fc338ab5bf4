import type { JobState } from "../api/types";

const LABELS: Record<JobState, string> = {
  queued: "Queued",
  running: "Running",
  completed: "Completed",
  failed: "Failed",
  cancelled: "Cancelled",
};

/** The job's state as a coloured badge; the word, not only the colour, carries it. */
export function StateBadge({ state }: { state: JobState }) {
  return (
    <span className={`badge badge-${state}`} data-state={state}>
      {LABELS[state] ?? state}
    </span>
  );
}
