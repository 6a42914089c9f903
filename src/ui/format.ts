/** Display formatting shared by every page. Pure functions, no React. */

import { isBatchType } from "../server/jobs/job-types";

/** 75.4 → "1:15"; 3725 → "1:02:05". */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  const total = Math.max(0, Math.round(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mm = h > 0 ? String(m).padStart(2, "0") : String(m);
  return `${h > 0 ? `${h}:` : ""}${mm}:${String(s).padStart(2, "0")}`;
}

/** Seconds with tenths for player positions: 65.27 → "1:05.2". */
export function formatClock(seconds: number): string {
  const whole = Math.floor(seconds);
  const tenths = Math.floor((seconds - whole) * 10);
  return `${formatDuration(whole)}.${tenths}`;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

export function formatDateTime(date: Date | null | undefined): string {
  if (!date) return "—";
  return date.toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

/** How long a job ran (or has been running): "12.3 s", "4:05". */
export function formatElapsed(start: Date | null, end: Date | null, now = new Date()): string {
  if (!start) return "—";
  const seconds = ((end ?? now).getTime() - start.getTime()) / 1000;
  return seconds < 60 ? `${seconds.toFixed(1)} s` : formatDuration(seconds);
}

export function formatPercent(fraction: number): string {
  return `${Math.round(Math.min(1, Math.max(0, fraction)) * 100)}%`;
}

const TYPE_LABELS: Record<string, string> = {
  transcribe: "Transcript",
  generate_srt: "Subtitles (SRT)",
  fix_srt: "Fix SRT (LLM)",
  convert: "Convert",
  batch_transcribe: "Batch · transcript",
  batch_generate_srt: "Batch · subtitles",
  batch_fix_srt: "Batch · fix SRT",
  batch_convert: "Batch · convert",
};

export function jobTypeLabel(type: string): string {
  return TYPE_LABELS[type] ?? type;
}

/** Where a job's page is: batches have their own. */
export function jobHref(job: { id: string; type: string }): string {
  return isBatchType(job.type) ? `/batches/${encodeURIComponent(job.id)}` : `/jobs/${encodeURIComponent(job.id)}`;
}
