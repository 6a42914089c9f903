import type { Engine } from "../asr/engine";
import type { BatchStep } from "../db/sql/sql-client";
import type { Job } from "../db/models";

export type JobHandlerContext = {
  job: Job;
  /** This attempt's number (1-based). */
  attempt: number;
  /** Engine slots leased for the job (job.enginesRequested of them). */
  engines: Engine[];
  signal: AbortSignal;
  /** Buffers a job log line; written with the job's next state change. */
  log(level: "info" | "warn" | "error", message: string): void;
  /** 0..1; throttled before it reaches the database. */
  reportProgress(fraction: number): void;
};

export type JobOutcome = {
  /** Stored as Job.result (JSON). */
  result: unknown;
  /** Statements that write the job's outputs, run in the transaction that marks it DONE (so they are written once). */
  outputs?: readonly BatchStep[];
};

export type JobHandler = (ctx: JobHandlerContext) => Promise<JobOutcome>;

/** Handlers keyed by job type; a job whose type has no handler fails with a clear reason. */
export class JobHandlerRegistry {
  private readonly handlers = new Map<string, JobHandler>();

  register(type: string, handler: JobHandler): this {
    if (this.handlers.has(type)) throw new Error(`A handler for job type "${type}" is already registered`);
    this.handlers.set(type, handler);
    return this;
  }

  get(type: string): JobHandler | undefined {
    return this.handlers.get(type);
  }

  types(): string[] {
    return [...this.handlers.keys()];
  }
}
