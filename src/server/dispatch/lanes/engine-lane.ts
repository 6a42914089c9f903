import { randomBytes } from "node:crypto";
import type { Job } from "../../db/models";
import type { JobStore } from "../../jobs/job-store";
import type { JobHandlerRegistry } from "../../jobs/registry";
import type { BlobStore } from "../../storage/blob-store";
import type { EnginePool } from "../../../worker/engine-pool";
import type { LocalAttempts } from "../local-attempts";
import { taskWork, type AdmissionTicket, type AsrCapacity, type EngineCapacity, type LaneRunner, type LaneSnapshot } from "./lane";

/** Prefix of the reservation that holds the free slots while a claim is in flight. */
const CLAIM_HOLD = "claim-in-flight-";

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
    const { maxEngines, usedEngines, unusedEngines, activeJobs } = this.deps.pool.snapshot();
    // Slots held for a claim in flight are not a job.
    return { maxEngines, usedEngines, unusedEngines, activeJobs: activeJobs.filter((job) => !job.jobId.startsWith(CLAIM_HOLD)) };
  }

  async fill(): Promise<number> {
    const { pool, store } = this.deps;
    let claimed = 0;
    for (;;) {
      const free = pool.unused;
      if (free === 0) return claimed;
      // Held while the claim is in flight, so an immediate admission cannot take the same slots.
      const hold = `${CLAIM_HOLD}${randomBytes(4).toString("hex")}`;
      if (!pool.tryReserve(hold, free)) return claimed;
      let jobs: Job[];
      try {
        jobs = await store.claim({ lanes: this.lanes, owner: this.deps.owner, leaseMs: this.deps.leaseMs, limit: free, engineBudget: free, maxEngines: pool.size });
      } finally {
        pool.release(hold);
      }
      // No await from the release to here: the slots just freed go to exactly these jobs.
      for (const job of jobs) {
        if (!pool.tryReserve(job.id, job.enginesRequested)) throw new Error(`Engine slots for claimed job ${job.id} were taken`);
        this.run(job);
      }
      claimed += jobs.length;
      if (jobs.length === 0) return claimed;
    }
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

  private run(job: Job): void {
    const { pool, registry, blobs, workDir, attempts } = this.deps;
    const work = taskWork(job, registry, { blobs, workDir, engines: async () => (await pool.materialize(job.id)).engines });
    attempts.start(job, work, () => {
      pool.release(job.id);
      this.deps.onRoom();
    });
  }
}
