import { describeError } from "../errors";
import type { Logger } from "../logger";
import { batchResultSchema, type BatchResult } from "./job-types";
import type { JobStatus } from "./job-status";
import type { JobStore } from "./job-store";

/** Parents checked per sweep for children that all finished while nobody aggregated them. */
const SWEEP_LIMIT = 100;
/** ms a parent's recount waits for more of its children to settle: a batch's progress moves 20 times a second at most. */
const COALESCE_MS = 50;

/**
 * Keeps batch parents in step with their children: progress while children run, then the
 * final status (DONE, FAILED "2 of 10 files failed", or CANCELLED) once none is left.
 *
 * Runs in the process that settled a child, coalesced per parent: however many children of
 * one batch settle at once, one aggregation runs at a time (after a short wait that gathers
 * the children settling meanwhile) and at most one more follows it, and each counts the
 * children in the database (one GROUP BY on an index). The final
 * transition is conditional on no child being unfinished, so replicas settling a batch's
 * last children at once finalise it exactly once; `sweep` catches a parent whose last
 * child's process died before aggregating.
 */
export class BatchAggregator {
  private readonly state = new Map<string, { again: boolean }>();
  private idle: Promise<void> = Promise.resolve();
  private inFlight = 0;
  private wakeIdle: (() => void) | null = null;

  constructor(
    private readonly store: JobStore,
    private readonly logger: Logger,
  ) {}

  /** A child of `parentId` settled (or was retried): recompute the parent soon. */
  childChanged(parentId: string): void {
    const running = this.state.get(parentId);
    if (running) {
      running.again = true;
      return;
    }
    const entry = { again: false };
    this.state.set(parentId, entry);
    this.track(
      (async () => {
        do {
          await new Promise((resolve) => setTimeout(resolve, COALESCE_MS));
          entry.again = false;
          try {
            await this.aggregate(parentId);
          } catch (error) {
            this.logger.error("aggregating a batch failed", { jobId: parentId, error: describeError(error) });
          }
        } while (entry.again);
        this.state.delete(parentId);
      })(),
    );
  }

  /** Finalises running batches whose children have all finished (recovery after a crash). */
  async sweep(): Promise<void> {
    for (const parentId of await this.store.settledBatchesStillRunning(SWEEP_LIMIT)) this.childChanged(parentId);
  }

  /** Resolves once no aggregation is running (tests, shutdown). */
  settled(): Promise<void> {
    return this.inFlight === 0 ? Promise.resolve() : this.idle;
  }

  private track(work: Promise<void>): void {
    if (this.inFlight++ === 0) this.idle = new Promise((resolve) => (this.wakeIdle = resolve));
    void work.finally(() => {
      if (--this.inFlight === 0) this.wakeIdle?.();
    });
  }

  private async aggregate(parentId: string): Promise<void> {
    const counts = await this.store.childCounts(parentId);
    const total = counts.QUEUED + counts.RUNNING + counts.DONE + counts.FAILED + counts.CANCELLED;
    const finished = counts.DONE + counts.FAILED + counts.CANCELLED;
    if (finished < total) {
      await this.store.setBatchProgress(parentId, total === 0 ? 1 : finished / total);
      return;
    }
    const status: JobStatus = counts.FAILED > 0 ? "FAILED" : counts.DONE === 0 && counts.CANCELLED > 0 ? "CANCELLED" : "DONE";
    const result: BatchResult = batchResultSchema.parse({ total, done: counts.DONE, failed: counts.FAILED, cancelled: counts.CANCELLED, childIds: await this.store.childIds(parentId) });
    const failureReason = counts.FAILED > 0 ? `${counts.FAILED} of ${total} files failed` : null;
    const finishedNow = await this.store.finishBatch(parentId, status, result, failureReason, {
      level: status === "DONE" ? "info" : "warn",
      message: `Batch finished: ${counts.DONE} done, ${counts.FAILED} failed, ${counts.CANCELLED} cancelled`,
    });
    if (finishedNow) this.logger.info("batch finished", { jobId: parentId, status, total, done: counts.DONE, failed: counts.FAILED, cancelled: counts.CANCELLED });
  }
}
