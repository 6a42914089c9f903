import type { JobStore, JobWithMedia } from "../../jobs/job-store";
import type { Lane } from "../../jobs/lanes";
import type { AttemptWork, LocalAttempts } from "../local-attempts";
import type { FillResult, LaneRunner, LaneSnapshot } from "./lane";

/**
 * A lane of at most `limit` jobs running in this process: fix_srt under the LLM limit (a
 * batch of 10,000 SRTs holds MAX_LLM_CONCURRENCY rows RUNNING, the rest stay QUEUED), and
 * the embedded ffmpeg pool for conversions.
 */
export class BoundedLane implements LaneRunner {
  readonly lanes: readonly Lane[];
  private running = 0;

  constructor(
    readonly name: string,
    lane: Lane,
    private readonly limit: number,
    private readonly deps: {
      store: JobStore;
      attempts: LocalAttempts;
      owner: string;
      leaseMs: number;
      work: (job: JobWithMedia) => AttemptWork;
      onRoom: () => void;
    },
  ) {
    this.lanes = [lane];
  }

  hasRoom(): boolean {
    return this.running < this.limit;
  }

  /** One claim for all the room there is: fewer jobs back means the lane has no more runnable now. */
  async fill(): Promise<FillResult> {
    const room = this.limit - this.running;
    if (room <= 0) return { claimed: 0, drained: false };
    const jobs = await this.deps.store.claim({ lanes: this.lanes, owner: this.deps.owner, leaseMs: this.deps.leaseMs, limit: room });
    for (const job of jobs) {
      this.running++;
      this.deps.attempts.start(job, this.deps.work(job), () => {
        this.running--;
        this.deps.onRoom();
      });
    }
    return { claimed: jobs.length, drained: jobs.length < room };
  }

  async snapshot(): Promise<LaneSnapshot> {
    return { name: this.name, lanes: this.lanes, limit: this.limit, running: this.running };
  }
}
