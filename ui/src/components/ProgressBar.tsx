import type { JobState } from "../api/types";

export function ProgressBar({
  value,
  state,
  label,
  compact = false,
}: {
  value: number;
  state: JobState;
  label: string;
  compact?: boolean;
}) {
  const clamped = Math.max(0, Math.min(100, Math.round(value)));
  return (
    <div className={`progress${compact ? " progress-compact" : ""}`}>
      <div
        className={`progress-track progress-${state.toLowerCase()}`}
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={clamped}
        aria-valuetext={`${clamped}%`}
      >
        <div className="progress-fill" style={{ width: `${clamped}%` }} />
      </div>
      <span className="progress-value" aria-hidden="true">
        {clamped}%
      </span>
    </div>
  );
}
