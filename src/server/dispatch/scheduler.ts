import { describeError } from "../errors";
import type { BatchAggregator } from "../jobs/batch-aggregator";
import type { JobEvent, JobEventBus } from "../jobs/job-events";
import type { JobStore } from "../jobs/job-store";
import type { Lane } from "../jobs/lanes";
import { retryDelayMs, type RetryPolicy } from "../jobs/retry-policy";
import type { Logger } from "../logger";
import type { LaneRunner, LaneSnapshot } from "./lanes/lane";
import type { LocalAttempts } from "./local-attempts";

export type SchedulerOptions = {
  /** ms between safety polls of every lane (events wake the lanes; this catches what they miss). */
  pollIntervalMs: number;
  /** ms between sweeps for expired leases and batches left unfinished. */
  sweepIntervalMs: number;
  retry: RetryPolicy;
};

type FillState = { running: boolean; again: boolean; timer: NodeJS.Timeout | null };

/**
 * The scheduler of one process. The database is the queue; this only decides when to look:
 * - a lane is filled when an event says jobs became runnable there (NOTIFY on PostgreSQL,
 *   in-process on SQLite), when a slot frees up here, at the next backoff's end (a timer),
 *   and by a slow safety poll;
 * - one fill per lane runs at a time, and requests during it coalesce into one more;
 * - expired leases are swept (any replica recovers any other's jobs), and batches whose
 *   last child's process died before aggregating are finalised;
 * - a cancel heard from any replica aborts the attempt if it runs here.
 * Nothing here is needed for correctness after a crash: every state is in the database.
 */
export class Scheduler {
  private readonly fills = new Map<LaneRunner, FillState>();
  private unsubscribe: (() => void) | null = null;
  private poller: NodeJS.Timeout | null = null;
  private sweeper: NodeJS.Timeout | null = null;
  private accepting = false;
  private sweeping: Promise<void> | null = null;

  constructor(
    private readonly store: JobStore,
    private readonly bus: JobEventBus,
    private readonly runners: readonly LaneRunner[],
    private readonly attempts: LocalAttempts,
    private readonly aggregator: BatchAggregator,
    private readonly logger: Logger,
    private readonly options: SchedulerOptions,
  ) {
    for (const runner of runners) this.fills.set(runner, { running: false, again: false, timer: null });
  }

  /** Recovers what a crash left behind, then starts listening, polling and sweeping. */
  async start(): Promise<{ requeued: number; failed: number; queued: number }> {
    this.accepting = true;
    this.unsubscribe = this.bus.subscribe((event) => this.onEvent(event));
    const reaped = await this.sweep();
    const lanes = this.runners.flatMap((runner) => runner.lanes);
    const { queued } = await this.store.countByStatus(lanes);
    this.wakeAll();
    this.poller = setInterval(() => this.wakeAll(), this.options.pollIntervalMs);
    this.poller.unref();
    this.sweeper = setInterval(() => void this.sweep().catch(() => undefined), this.options.sweepIntervalMs);
    this.sweeper.unref();
    return { requeued: reaped.requeued, failed: reaped.failed, queued };
  }

  /** Fills the runners of `lane` (every runner when omitted). */
  wake(lane?: Lane): void {
    for (const runner of this.runners) if (lane === undefined || runner.lanes.includes(lane)) this.requestFill(runner);
  }

  async snapshots(): Promise<LaneSnapshot[]> {
    return Promise.all(this.runners.map((runner) => runner.snapshot()));
  }

  /**
   * Stops claiming and waits up to `graceMs` for the attempts running here; the rest are
   * aborted and go back to the queue (as `forceStop` does at once).
   */
  async close(graceMs: number): Promise<void> {
    this.stopClaiming();
    await this.attempts.drain(graceMs);
    await this.sweeping;
  }

  /** Aborts every attempt running here now; each goes back to the queue. Works during a graceful close. */
  forceStop(): void {
    this.stopClaiming();
    this.attempts.abortAll("shutdown", "The server is shutting down");
  }

  private stopClaiming(): void {
    this.accepting = false;
    this.unsubscribe?.();
    this.unsubscribe = null;
    if (this.poller) clearInterval(this.poller);
    if (this.sweeper) clearInterval(this.sweeper);
    for (const state of this.fills.values()) if (state.timer) clearTimeout(state.timer);
  }

  private wakeAll(): void {
    this.wake();
  }

  private onEvent(event: JobEvent): void {
    switch (event.type) {
      case "runnable":
        this.wake(event.lane);
        return;
      case "resync":
        this.wakeAll();
        return;
      case "changed":
        // Whoever cancelled it (any replica), an attempt running here stops now.
        if (event.status === "CANCELLED") this.attempts.abort(event.jobId, "cancelled", "The job was cancelled");
        // A remote job finished: the fleet has room again, as counted in the database.
        else if (event.status !== "RUNNING") this.wakeRoomless();
        return;
    }
  }

  /** Runners that stopped for want of room elsewhere (the fleet's in-flight limit) look again. */
  private wakeRoomless(): void {
    for (const runner of this.runners) if (!runner.hasRoom()) this.requestFill(runner);
  }

  private requestFill(runner: LaneRunner): void {
    if (!this.accepting) return;
    const state = this.fills.get(runner)!;
    if (state.running) {
      state.again = true;
      return;
    }
    state.running = true;
    void (async () => {
      do {
        state.again = false;
        try {
          await runner.fill();
          await this.armTimer(runner, state);
        } catch (error) {
          this.logger.error("claiming jobs failed; the next poll retries", { lane: runner.name, error: describeError(error) });
        }
      } while (state.again && this.accepting);
      state.running = false;
    })();
  }

  /** With room left, wake at the next backoff's end (capped by the poll interval). */
  private async armTimer(runner: LaneRunner, state: FillState): Promise<void> {
    if (state.timer) clearTimeout(state.timer);
    state.timer = null;
    if (!runner.hasRoom() || !this.accepting) return;
    const next = await this.store.nextRunAt(runner.lanes);
    if (!next || !this.accepting) return;
    const delay = next.getTime() - Date.now();
    // Runnable now yet not claimed: it does not fit (engines) or another replica holds it locked;
    // a slot freeing up, an event or the poll will bring us back, not a busy loop.
    if (delay <= 0 || delay >= this.options.pollIntervalMs) return;
    state.timer = setTimeout(() => {
      state.timer = null;
      this.requestFill(runner);
    }, delay + 5);
    state.timer.unref();
  }

  private sweep(): Promise<{ requeued: number; failed: number }> {
    const work = (async () => {
      const reaped = await this.store.reapExpiredLeases((attempt) => new Date(Date.now() + retryDelayMs(this.options.retry, attempt)));
      for (const job of reaped.failed) this.logger.warn("job failed after its worker was lost", { jobId: job.id, attempt: job.attempts });
      for (const job of reaped.requeued) this.logger.info("job re-queued after its worker was lost", { jobId: job.id, attempt: job.attempts, worker: job.leaseOwner });
      await this.aggregator.sweep();
      return { requeued: reaped.requeued.length, failed: reaped.failed.length };
    })();
    const done = work.then(
      () => undefined,
      (error: unknown) => this.logger.error("lease sweep failed", { error: describeError(error) }),
    );
    this.sweeping = done;
    return work;
  }
}
