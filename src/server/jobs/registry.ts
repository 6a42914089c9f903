import type { BatchStep } from "../db/sql/sql-client";
import type { Job, MediaFile } from "../db/models";
import type { TaskSuccess, WorkerTask } from "../../worker/task-contract";

/** A running attempt, as a handler sees it. */
export type JobHandlerContext = {
  job: Job;
  /** This attempt's number (1-based). */
  attempt: number;
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

/** A job this process runs start to end (fix_srt: it waits on an LLM, which any replica can reach). */
export type LocalJobHandler = { kind: "local"; run(ctx: JobHandlerContext): Promise<JobOutcome> };

/**
 * A job that runs as a worker task (transcribe, convert): the control plane builds the
 * task, the worker runtime runs it (in this process, or on the remote fleet), and whichever
 * replica receives the result applies it.
 */
export type TaskJobHandler = {
  kind: "task";
  /**
   * Throws PermanentJobError when the task cannot be built (its media is gone). A claim
   * hands over the job's media file with it, which spares a read.
   */
  buildTask(job: Job & { mediaFile?: MediaFile | null }, attempt: number): Promise<WorkerTask>;
  /** The outcome to commit with the job's completion; `log` lines go with it. */
  applyResult(job: Job, result: TaskSuccess, log: JobHandlerContext["log"]): Promise<JobOutcome>;
};

export type JobHandler = LocalJobHandler | TaskJobHandler;

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
