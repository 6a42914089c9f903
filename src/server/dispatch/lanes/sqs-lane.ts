import { SendMessageBatchCommand } from "@aws-sdk/client-sqs";
import type { Job } from "../../db/models";
import { describeError } from "../../errors";
import type { WorkerTask } from "../../../worker/task-contract";
import { taskHandlerFor, type AdmissionTicket, type AsrCapacity, type EngineCapacity, type FillResult, type FleetDeps, type LaneRunner, type LaneSnapshot } from "./lane";

/** SendMessageBatch takes at most 10 messages. */
const SQS_BATCH_LIMIT = 10;

export type SqsLaneOptions = FleetDeps & {
  /** Tasks on the fleet at once, across every replica (SQS_MAX_IN_FLIGHT). */
  maxInFlight: number;
  owner: string;
  /** ms the claim holds a job until its task is sent; a worker's heartbeats then come every third of it. */
  leaseMs: number;
  /** ms a worker may run one task (JOB_TIMEOUT_MS); the worker enforces it. */
  jobTimeoutMs: number;
};

/**
 * Transcriptions and conversions on the remote fleet. Claiming a job here only sends its
 * task: this process holds nothing while it runs. The lease is then the queue's until a
 * worker picks the task up, and the worker's after that (its heartbeats renew it), and any
 * replica applies the result, so a replica can die at any moment without stranding a job.
 * The in-flight limit is counted in the database, across replicas; two replicas claiming at
 * the same instant may pass it by one batch.
 */
export class SqsLane implements LaneRunner, AsrCapacity {
  readonly name = "remote fleet (SQS)";
  readonly lanes = ["asr", "convert"] as const;
  private room = true;

  constructor(private readonly options: SqsLaneOptions) {}

  /** Engines are the workers' business; a job may ask for any number up to the in-flight limit. */
  get maxEnginesPerJob(): number {
    return this.options.maxInFlight;
  }

  hasRoom(): boolean {
    return this.room;
  }

  /** Tasks on the fleet stand in for engines: the limit is SQS_MAX_IN_FLIGHT. */
  async capacity(): Promise<EngineCapacity> {
    const running = await this.options.store.listRunning(this.lanes, this.options.maxInFlight);
    const used = running.length;
    return {
      maxEngines: this.options.maxInFlight,
      usedEngines: used,
      unusedEngines: Math.max(0, this.options.maxInFlight - used),
      activeJobs: running.map((job) => ({ jobId: job.id, parallelEngines: job.enginesRequested })),
    };
  }

  async fill(): Promise<FillResult> {
    const { store } = this.options;
    let claimed = 0;
    for (;;) {
      const free = this.options.maxInFlight - (await store.countByStatus(this.lanes)).running;
      this.room = free > 0;
      if (!this.room) return { claimed, drained: false };
      const limit = Math.min(free, SQS_BATCH_LIMIT);
      const jobs = await store.claim({ lanes: this.lanes, owner: this.options.owner, leaseMs: this.options.leaseMs, limit });
      if (jobs.length > 0) await this.send(jobs);
      claimed += jobs.length;
      if (jobs.length < limit) return { claimed, drained: true };
    }
  }

  /** The fleet has room for one more task (counted in the database); null when it is full. */
  async admitNow(): Promise<AdmissionTicket | null> {
    const { running } = await this.options.store.countByStatus(this.lanes);
    if (running >= this.options.maxInFlight) return null;
    return {
      start: (job) => {
        this.send([job]).catch((error: unknown) => this.options.logger.error("sending a task failed", { jobId: job.id, error: describeError(error) }));
      },
      release: () => undefined,
    };
  }

  async snapshot(): Promise<LaneSnapshot> {
    const { running } = await this.options.store.countByStatus(this.lanes);
    return { name: this.name, lanes: this.lanes, limit: this.options.maxInFlight, running };
  }

  /** Sends the claimed jobs' tasks; a job whose task cannot be built or sent fails its attempt (retried unless permanent). */
  private async send(jobs: readonly Job[]): Promise<void> {
    const { settler, owner } = this.options;
    const ready: { job: Job; task: WorkerTask }[] = [];
    for (const job of jobs) {
      const ref = { jobId: job.id, attempt: job.attempts, owner };
      try {
        const task = await taskHandlerFor(job, this.options.registry).buildTask(job, job.attempts);
        ready.push({ job, task: { ...task, timeoutMs: this.options.jobTimeoutMs, heartbeatMs: Math.max(1000, Math.floor(this.options.leaseMs / 3)) } });
      } catch (error) {
        await settler.failed(ref, job, error, [], "error");
      }
    }
    for (let start = 0; start < ready.length; start += SQS_BATCH_LIMIT) {
      const batch = ready.slice(start, start + SQS_BATCH_LIMIT);
      let failed = new Map<number, string>();
      try {
        const response = await this.options.sqs.send(
          new SendMessageBatchCommand({ QueueUrl: this.options.tasksQueueUrl, Entries: batch.map((entry, index) => ({ Id: String(index), MessageBody: JSON.stringify(entry.task) })) }),
        );
        failed = new Map((response.Failed ?? []).map((entry) => [Number(entry.Id), `SQS refused the task: ${entry.Message ?? entry.Code ?? "unknown error"}`]));
      } catch (error) {
        failed = new Map(batch.map((_, index) => [index, `Could not send the task to SQS: ${describeError(error)}`]));
      }
      const sent = batch.filter((_, index) => !failed.has(index));
      await this.options.store.markSent(sent.map(({ job }) => ({ jobId: job.id, attempt: job.attempts, owner })), this.options.pickupTimeoutMs, "queue");
      if (sent.length) this.options.logger.info("tasks sent to the fleet", { jobIds: sent.map(({ job }) => job.id) });
      // Started here means handed to the fleet; whichever worker takes it reports in its heartbeats.
      for (const { job } of sent) this.options.logger.info("job started", { jobId: job.id, type: job.type, attempt: job.attempts, owner, worker: "sqs" });
      for (const [index, message] of failed) {
        const { job } = batch[index]!;
        await settler.failed({ jobId: job.id, attempt: job.attempts, owner }, job, new Error(message), [], "error");
      }
    }
  }
}
