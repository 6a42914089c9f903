import { z } from "zod";

/** The job state machine: QUEUED → RUNNING → DONE | FAILED | CANCELLED (and RUNNING → QUEUED on retry). */
export const jobStatusSchema = z.enum(["QUEUED", "RUNNING", "DONE", "FAILED", "CANCELLED"]);
export type JobStatus = z.infer<typeof jobStatusSchema>;

export const TERMINAL_STATUSES: readonly JobStatus[] = ["DONE", "FAILED", "CANCELLED"];

export function isTerminal(status: string): boolean {
  return (TERMINAL_STATUSES as readonly string[]).includes(status);
}
