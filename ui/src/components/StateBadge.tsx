import type { JobState } from "../api/types";

const LABELS: Record<JobState, string> = {
  SCHEDULED: "Scheduled",
  QUEUED: "Queued",
  RUNNING: "Running",
  COMPLETED: "Completed",
  FAILED: "Failed",
  CANCELLED: "Cancelled",
};

/** The job's state as a coloured badge; the word, not only the colour, carries it. */
export function StateBadge({ state }: { state: JobState }) {
  const name = state.toLowerCase();
  return (
    <span className={`badge badge-${name}`} data-state={name}>
      {LABELS[state] ?? state}
    </span>
  );
}
