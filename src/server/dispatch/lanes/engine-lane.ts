import type { JobStore, JobWithMedia } from "../../jobs/job-store";
import type { JobHandlerRegistry } from "../../jobs/registry";
import type { BlobStore } from "../../storage/blob-store";
import type { EnginePool } from "../../../worker/engine-pool";
import type { LocalAttempts } from "../local-attempts";
import { taskWork, type AdmissionTicket, type AsrCapacity, type EngineCapacity, type FillResult, type LaneRunner, type LaneSnapshot } from "./lane";

/**
 * Transcriptions on this process's engine slots (`--parallel`). A job takes as many slots as
 * it asked for (parallel_engines); the claim takes a prefix of the queue whose engines fit
 * the free slots, so a job that needs more than are free holds back the ones behind it
 * rather than being overtaken for ever.
 */
export class EngineLane implements LaneRunner, AsrCapacity {
  readonly name = "engines";
  readonly lanes = ["asr"] as const;

  constructor(
    private readonly deps: {
      pool: EnginePool;
      store: JobStore;
      registry: JobHandlerRegistry;
      attempts: LocalAttempts;
      blobs: BlobStore;
      owner: string;
      leaseMs: number;
      workDir: string;
      /** A slot came free: the scheduler may claim more. */
      onRoom: () => void;
    },
  ) {}

  get maxEnginesPerJob(): number {
    return this.deps.pool.size;
  }

  hasRoom(): boolean {
    return this.deps.pool.unused > 0;
  }

  async capacity(): Promise<EngineCapacity> {
    return this.deps.pool.snapshot();
  }

  /**
   * One claim: the prefix of the queue that fits the free slots. The slots are not held
   * while the claim is in flight (the worker API's requests must not see them taken for a
   * claim that may find nothing); a job whose slots an immediate admission took meanwhile
   * goes back to the queue uncounted.
   */
  async fill(): Promise<FillResult> {
    const { pool, store, owner } = this.deps;
    const free = pool.unused;
    if (free === 0) return { claimed: 0, drained: false };
    const jobs = await store.claim({ lanes: this.lanes, owner, leaseMs: this.deps.leaseMs, limit: free, engineBudget: free, maxEngines: pool.size });
    let started = 0;
    for (const job of jobs) {
      if (pool.tryReserve(job.id, job.enginesRequested)) {
        this.run(job);
        started++;
      } else {
        await store.unclaim({ jobId: job.id, attempt: job.attempts, owner }, job);
      }
    }
    // Fewer engines claimed than were free: nothing more is runnable, or the next job needs more engines than that.
    const engines = jobs.reduce((sum, job) => sum + job.enginesRequested, 0);
    return { claimed: started, drained: engines < free };
  }

  /** Reserves engines for a job about to be written RUNNING here; null when not enough are free. */
  async admitNow(jobId: string, engines: number): Promise<AdmissionTicket | null> {
    const { pool } = this.deps;
    if (!pool.tryReserve(jobId, engines)) return null;
    return { start: (job) => this.run(job), release: () => pool.release(jobId) };
  }

  async snapshot(): Promise<LaneSnapshot> {
    const capacity = this.deps.pool.snapshot();
    return { name: this.name, lanes: this.lanes, limit: capacity.maxEngines, running: capacity.usedEngines };
  }

  private run(job: JobWithMedia): void {
    const { pool, registry, blobs, workDir, attempts } = this.deps;
    const work = taskWork(job, registry, { blobs, workDir, engines: async () => (await pool.materialize(job.id)).engines });
    attempts.start(job, work, () => {
      pool.release(job.id);
      this.deps.onRoom();
    });
  }
}
