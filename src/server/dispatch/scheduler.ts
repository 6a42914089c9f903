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

type FillState = {
  running: boolean;
  again: boolean;
  /** A fill asked for while one ran wants the queue looked at afresh (the poll, a resync). */
  againLook: boolean;
  /** Wakes the runner when the earliest backoff it knows of ends. */
  timer: NodeJS.Timeout | null;
  timerAt: number;
  /**
   * Whether the queue may hold runnable jobs for this runner: set by events and timers,
   * cleared when a claim left room and nothing runnable was waiting. A slot that frees up
   * claims only while it is set, so a process busy with work that never queues (the
   * worker API's immediate jobs) does not query the queue at every job's end.
   */
  mayHaveWork: boolean;
};

/**
 * The scheduler of one process. The database is the queue; this only decides when to look:
 * - a lane is filled when an event says jobs became runnable there (NOTIFY on PostgreSQL,
 *   in-process on SQLite), when a slot frees up here while work may be waiting, when a
 *   backoff ends (a timer set from the event's time), and by a slow safety poll, which also
 *   reads the queue's next backoff;
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
    for (const runner of runners) this.fills.set(runner, { running: false, again: false, againLook: false, timer: null, timerAt: Number.POSITIVE_INFINITY, mayHaveWork: true });
  }

  /** Recovers what a crash left behind, then starts listening, polling and sweeping. */
  async start(): Promise<{ requeued: number; failed: number; queued: number }> {
    this.accepting = true;
    this.unsubscribe = this.bus.subscribe((event) => this.onEvent(event));
    const reaped = await this.sweep();
    const lanes = this.runners.flatMap((runner) => runner.lanes);
    const { queued } = await this.store.countByStatus(lanes);
    this.look();
    this.poller = setInterval(() => this.look(), this.options.pollIntervalMs);
    this.poller.unref();
    this.sweeper = setInterval(() => void this.sweep().catch(() => undefined), this.options.sweepIntervalMs);
    this.sweeper.unref();
    return { requeued: reaped.requeued, failed: reaped.failed, queued };
  }

  /** Fills the runners of `lane` (every runner when omitted): jobs may be runnable there. */
  wake(lane?: Lane): void {
    for (const runner of this.runners) if (lane === undefined || runner.lanes.includes(lane)) this.requestFill(runner, false);
  }

  /** A runner of `lane` has room again: it claims if the queue may hold work for it. */
  roomFreed(lane: Lane): void {
    for (const runner of this.runners) if (runner.lanes.includes(lane) && this.fills.get(runner)!.mayHaveWork) this.requestFill(runner, false);
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

  /**
   * Fills every runner and looks at the queue afresh: when the next backoff ends, and whether
   * runnable jobs wait for room (the safety poll, start-up, a resync after missed events).
   */
  private look(): void {
    for (const runner of this.runners) this.requestFill(runner, true);
  }

  private onEvent(event: JobEvent): void {
    switch (event.type) {
      case "runnable": {
        // Runnable now: fill. Runnable later (a backoff): wake then, no query needed.
        const runners = this.runners.filter((runner) => runner.lanes.includes(event.lane));
        for (const runner of runners) {
          if (event.at <= Date.now()) this.requestFill(runner, false);
          else this.wakeAt(runner, event.at);
        }
        return;
      }
      case "resync":
        this.look();
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
    for (const runner of this.runners) if (!runner.hasRoom() && this.fills.get(runner)!.mayHaveWork) this.requestFill(runner, false);
  }

  /**
   * Claims for `runner`. With `look`, also reads when the lane's next backoff ends (one
   * query); without, the events' own times say it.
   */
  private requestFill(runner: LaneRunner, look: boolean): void {
    if (!this.accepting) return;
    const state = this.fills.get(runner)!;
    state.mayHaveWork = true;
    if (state.running) {
      state.again = true;
      state.againLook ||= look;
      return;
    }
    state.running = true;
    void (async () => {
      let lookNow = look;
      do {
        state.again = false;
        state.againLook = false;
        try {
          const { drained } = await runner.fill();
          // A claim that got less than it asked for: nothing runnable that fits is waiting (as far
          // as it saw), until an event, a backoff's end or the poll says otherwise.
          if (drained && !state.again) state.mayHaveWork = false;
          if (lookNow && drained) await this.lookAhead(runner, state);
        } catch (error) {
          this.logger.error("claiming jobs failed; the next poll retries", { lane: runner.name, error: describeError(error) });
        }
        lookNow = state.againLook;
      } while (state.again && this.accepting);
      state.running = false;
    })();
  }

  /**
   * With room left after a claim: when does the lane's next backoff end, and are runnable
   * jobs waiting that did not fit (engines) or that another replica holds locked? Those are
   * claimed when a slot frees up, not in a busy loop.
   */
  private async lookAhead(runner: LaneRunner, state: FillState): Promise<void> {
    const next = await this.store.nextRunAt(runner.lanes);
    if (!next || !this.accepting) return;
    if (next.getTime() <= Date.now()) state.mayHaveWork = true;
    else this.wakeAt(runner, next.getTime());
  }

  /** Fills `runner` when `at` comes (ms since the epoch), unless a nearer wake is set; the poll covers the far future. */
  private wakeAt(runner: LaneRunner, at: number): void {
    const state = this.fills.get(runner)!;
    if (!this.accepting || at >= state.timerAt || at - Date.now() >= this.options.pollIntervalMs) return;
    if (state.timer) clearTimeout(state.timer);
    state.timerAt = at;
    state.timer = setTimeout(() => {
      state.timer = null;
      state.timerAt = Number.POSITIVE_INFINITY;
      this.requestFill(runner, false);
    }, Math.max(0, at - Date.now()) + 5);
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
