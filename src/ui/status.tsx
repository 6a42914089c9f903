import type { JobView } from "./trpc";
import { formatPercent } from "./format";

const ACTIVE = new Set(["QUEUED", "RUNNING"]);

export function isActiveStatus(status: string): boolean {
  return ACTIVE.has(status);
}

export function StatusBadge({ status }: { status: JobView["status"] }) {
  return <span className={`badge badge-${status.toLowerCase()}`}>{status.toLowerCase()}</span>;
}

/** A labelled progress bar; `label` names what progresses for screen readers. */
export function ProgressBar({ value, label, status }: { value: number; label: string; status?: string }) {
  const clamped = Math.min(1, Math.max(0, value));
  return (
    <div className="progress-wrap">
      <progress className={`progress ${status ? `progress-${status.toLowerCase()}` : ""}`} max={1} value={clamped} aria-label={label} />
      <span className="progress-text">{formatPercent(clamped)}</span>
    </div>
  );
}
