import { EventEmitter } from "node:events";
import type { JobStatus } from "./job-status";

export type JobSettledEvent = { jobId: string; parentId: string | null; status: JobStatus };

/** In-process notifications of job state changes (sync waiters, parent aggregation, exports). */
export class JobEvents {
  private readonly emitter = new EventEmitter();

  constructor() {
    // Every synchronous /transcribe-batch request waits here; there can be many.
    this.emitter.setMaxListeners(0);
  }

  emitSettled(event: JobSettledEvent): void {
    this.emitter.emit("settled", event);
  }

  onSettled(listener: (event: JobSettledEvent) => void): () => void {
    this.emitter.on("settled", listener);
    return () => this.emitter.off("settled", listener);
  }
}
