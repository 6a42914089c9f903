import { z } from "zod";

/** The job state machine: QUEUED → RUNNING → DONE | FAILED | CANCELLED (and RUNNING → QUEUED on retry). */
export const jobStatusSchema = z.enum(["QUEUED", "RUNNING", "DONE", "FAILED", "CANCELLED"]);
export type JobStatus = z.infer<typeof jobStatusSchema>;

export const TERMINAL_STATUSES: readonly JobStatus[] = ["DONE", "FAILED", "CANCELLED"];

/** The terminal statuses as an SQL list, for `"status" IN (...)`. */
export const TERMINAL_STATUSES_SQL = TERMINAL_STATUSES.map((status) => `'${status}'`).join(", ");

export function isTerminal(status: string): boolean {
  return (TERMINAL_STATUSES as readonly string[]).includes(status);
}
