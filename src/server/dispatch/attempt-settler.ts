import { describeError, isPermanent } from "../errors";
import type { Job } from "../db/models";
import { formatDelay, type AttemptRef, type JobStore, type PendingLogLine } from "../jobs/job-store";
import { transcriptionResultSchema } from "../jobs/job-types";
import type { JobOutcome } from "../jobs/registry";
import { retryDelayMs, type RetryPolicy } from "../jobs/retry-policy";
import type { Logger } from "../logger";

/**
 * Why an attempt ended without a result:
 * - error: it failed (retried with backoff unless permanent or out of attempts);
 * - timeout: it ran past JOB_TIMEOUT_MS (failed);
 * - shutdown: this process is stopping (back to the queue at once);
 * - lease-lost / cancelled: someone else already moved the job on (nothing to write).
 */
export type AttemptEnd = "error" | "timeout" | "shutdown" | "lease-lost" | "cancelled";

/**
 * Told of every transcription that finished, local or remote (metrics): the audio's length
 * and the seconds the engine took. The settler knows nothing of who listens.
 */
export type SettleObserver = { transcribed(type: string, audioSeconds: number, processingSeconds: number): void };

/** The job fields the outcome of an attempt depends on. */
export type AttemptJob = Pick<Job, "id" | "parentId" | "lane" | "maxAttempts" | "type">;

/**
 * Turns the end of an attempt into its transition: DONE with the outputs, or a retry at a
 * backoff, or FAILED with the reason users see. Shared by attempts run in this process and
 * by results from the remote fleet, so both follow one set of rules.
 */
export class AttemptSettler {
  constructor(
    private readonly store: JobStore,
    private readonly logger: Logger,
    private readonly retry: RetryPolicy,
    private readonly observer?: SettleObserver,
  ) {}

  async succeed(ref: AttemptRef, job: AttemptJob, outcome: JobOutcome, log: PendingLogLine[]): Promise<boolean> {
    const applied = await this.store.complete(ref, job, outcome.result, log, outcome.outputs ?? []);
    if (applied) {
      // A transcription's result says how much audio it was and how long the engine took.
      const transcription = transcriptionResultSchema.safeParse(outcome.result);
      const speed = transcription.success ? transcription.data : null;
      if (speed) this.observer?.transcribed(job.type, speed.durationS, speed.elapsedS);
      this.logger.info("job done", {
        jobId: ref.jobId,
        type: job.type,
        attempt: ref.attempt,
        ...(speed
          ? { audioSeconds: speed.durationS, processingMs: Math.round(speed.elapsedS * 1000), rtfx: speed.elapsedS > 0 ? Math.round((speed.durationS / speed.elapsedS) * 100) / 100 : null }
          : {}),
      });
    } else this.logger.warn("completion ignored: the attempt no longer holds the job", { jobId: ref.jobId, attempt: ref.attempt });
    return applied;
  }

  async failed(ref: AttemptRef, job: AttemptJob, error: unknown, log: PendingLogLine[], end: AttemptEnd): Promise<void> {
    const message = describeError(error);
    switch (end) {
      case "lease-lost":
      case "cancelled":
        return;
      case "shutdown": {
        const reason = "The server shut down during this attempt";
        const requeued = await this.store.retryLater(ref, job, reason, new Date(), [...log, { level: "warn", message: `Attempt ${ref.attempt} interrupted, will retry: ${reason}` }]);
        if (requeued) this.logger.info("job put back in the queue (shutting down)", { jobId: ref.jobId, attempt: ref.attempt });
        return;
      }
      case "timeout":
        await this.fail(ref, job, `The job ${message}`, log);
        return;
      case "error":
        break;
    }
    if (isPermanent(error) || ref.attempt >= job.maxAttempts) {
      const reason = isPermanent(error) || job.maxAttempts === 1 ? message : `${message} (after ${ref.attempt} attempts)`;
      await this.fail(ref, job, reason, log);
      return;
    }
    const delayMs = retryDelayMs(this.retry, ref.attempt);
    const line = `Attempt ${ref.attempt} of ${job.maxAttempts} failed, will retry in ${formatDelay(delayMs)}: ${message}`;
    const requeued = await this.store.retryLater(ref, job, message, new Date(Date.now() + delayMs), [...log, { level: "warn", message: line }]);
    if (requeued) this.logger.warn("job attempt failed; retrying", { jobId: ref.jobId, type: job.type, attempt: ref.attempt, willRetry: true, retryInMs: delayMs, error: message });
  }

  /** FAILED with this reason, whatever attempts remain (a dead-lettered task, an unknown job type). */
  async fail(ref: AttemptRef, job: AttemptJob, reason: string, log: PendingLogLine[]): Promise<void> {
    if (await this.store.fail(ref, job, reason, log)) this.logger.warn("job failed", { jobId: ref.jobId, type: job.type, attempt: ref.attempt, willRetry: false, reason });
  }
}
