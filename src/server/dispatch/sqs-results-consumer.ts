import { DeleteMessageCommand, GetQueueAttributesCommand, type Message } from "@aws-sdk/client-sqs";
import type { Job } from "../db/models";
import { receiveUntilStopped } from "../aws/receive-messages";
import { describeError, PermanentJobError } from "../errors";
import type { PendingLogLine } from "../jobs/job-store";
import { resultsQueueMessageSchema, workerTaskSchema, type ResultsQueueMessage, type TaskResult } from "../../worker/task-contract";
import { taskHandlerFor, type FleetDeps } from "./lanes/lane";

export type SqsResultsConsumerOptions = FleetDeps & {
  resultsQueueUrl: string;
  dlqUrl: string;
  /** ms a worker heartbeat extends the job's lease by. */
  leaseMs: number;
  /** Long-poll wait per receive, seconds (SQS allows 0–20). */
  waitTimeSeconds?: number;
};

/** A message that can never be applied: it is logged and deleted, since redelivering it cannot help. */
class UnreadableMessage extends Error {}

/**
 * Every replica consumes the results queue and the tasks' dead-letter queue, and applies
 * whatever it receives through JobStore's conditional transitions on (job, attempt): no
 * replica waits for a particular result, so one that dies, restarts or is replaced in a
 * rolling deploy loses nothing, and a duplicate or late result changes nothing.
 *
 * - heartbeat: the worker holding the task renews the job's lease (and reports progress);
 * - a result: DONE with its outputs, or FAILED (workers only report permanent failures);
 * - delivery-failed / handed-back: the task is back on the queue; the error is kept;
 * - a task in the DLQ: every delivery failed; the job fails with the last error reported.
 * A message that cannot be applied for now (the database is down) is not deleted, so SQS
 * delivers it again after the results queue's visibility timeout.
 */
export class SqsResultsConsumer {
  private readonly stopping = new AbortController();
  private pollers: Promise<void>[] = [];

  constructor(private readonly options: SqsResultsConsumerOptions) {}

  start(): void {
    this.pollers = [
      this.poll(this.options.resultsQueueUrl, (message) => this.onResultMessage(message)),
      this.poll(this.options.dlqUrl, (message) => this.onDeadLetter(message)),
    ];
  }

  /** Stops polling; messages in hand are finished first. Safe to call twice. */
  async close(): Promise<void> {
    this.stopping.abort();
    await Promise.allSettled(this.pollers);
  }

  /** The remote backlog, from SQS's approximate counters (they lag by up to a minute on AWS). */
  async queueStats(): Promise<{ queued: number; running: number; deadLettered: number }> {
    const read = async (queueUrl: string) =>
      (await this.options.sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"] }))).Attributes ?? {};
    const [tasks, dlq] = await Promise.all([read(this.options.tasksQueueUrl), read(this.options.dlqUrl)]);
    return {
      queued: Number(tasks.ApproximateNumberOfMessages ?? 0),
      running: Number(tasks.ApproximateNumberOfMessagesNotVisible ?? 0),
      deadLettered: Number(dlq.ApproximateNumberOfMessages ?? 0),
    };
  }

  private poll(queueUrl: string, handle: (message: Message) => Promise<void>): Promise<void> {
    const { sqs, logger } = this.options;
    const remove = (message: Message) =>
      sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle })).catch((error: unknown) => {
        logger.warn("deleting a queue message failed (it will be delivered again and ignored)", { queueUrl, error: describeError(error) });
      });
    return receiveUntilStopped(
      sqs,
      { QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: this.options.waitTimeSeconds ?? 20, MessageSystemAttributeNames: ["ApproximateReceiveCount"] },
      {
        signal: this.stopping.signal,
        logger,
        onMessages: async (messages) => {
          await Promise.all(
            messages.map(async (message) => {
              try {
                await handle(message);
              } catch (error) {
                if (!(error instanceof UnreadableMessage)) {
                  logger.warn("could not apply a queue message; it will be delivered again", { queueUrl, error: describeError(error) });
                  return;
                }
                logger.error("dropped an unreadable queue message", { queueUrl, error: error.message, body: message.Body?.slice(0, 500) });
              }
              await remove(message);
            }),
          );
        },
      },
    );
  }

  private async onResultMessage(message: Message): Promise<void> {
    let event: ResultsQueueMessage;
    try {
      event = resultsQueueMessageSchema.parse(JSON.parse(message.Body ?? ""));
    } catch (error) {
      throw new UnreadableMessage(describeError(error));
    }
    const { store, logger } = this.options;
    const ref = { jobId: event.jobId, attempt: event.attempt };
    if ("kind" in event && event.kind === "heartbeat") {
      await store.renewRemoteLease(ref, event.worker, this.options.leaseMs, event.progress);
      return;
    }
    if ("kind" in event && event.kind === "delivery-failed") {
      logger.warn("a worker failed one delivery of a task; SQS will deliver it again", { jobId: event.jobId, attempt: event.attempt, delivery: event.receiveCount, worker: event.worker, error: event.error });
      await store.noteRemoteSetback(ref, this.options.pickupTimeoutMs, `Delivery ${event.receiveCount} of attempt ${event.attempt} failed on ${event.worker}, the task goes back to the queue: ${event.error}`, event.error);
      return;
    }
    if ("kind" in event && event.kind === "handed-back") {
      await store.noteRemoteSetback(ref, this.options.pickupTimeoutMs, `${event.worker} stopped and handed attempt ${event.attempt} back to the queue`, null);
      return;
    }
    await this.applyResult(event as TaskResult);
  }

  private async applyResult(result: TaskResult): Promise<void> {
    const { store, settler, logger } = this.options;
    const job = await store.find(result.jobId);
    if (!job || job.status !== "RUNNING" || job.attempts !== result.attempt) {
      logger.info("ignored a result for an attempt that no longer runs (a duplicate, or an attempt already retried or cancelled)", {
        jobId: result.jobId,
        attempt: result.attempt,
        status: job?.status ?? "deleted",
        currentAttempt: job?.attempts,
      });
      return;
    }
    const ref = { jobId: job.id, attempt: result.attempt };
    const log: PendingLogLine[] = [];
    if (!result.ok) {
      await settler.failed(ref, job, result.permanent ? new PermanentJobError(result.error) : new Error(result.error), log, "error");
      return;
    }
    try {
      const outcome = await taskHandlerFor(job, this.options.registry).applyResult(job, result, (level, line) => log.push({ level, message: line, at: new Date() }));
      await settler.succeed(ref, job, outcome, log);
    } catch (error) {
      await settler.failed(ref, job, error, log, "error");
    }
  }

  private async onDeadLetter(message: Message): Promise<void> {
    let task;
    try {
      task = workerTaskSchema.parse(JSON.parse(message.Body ?? ""));
    } catch (error) {
      throw new UnreadableMessage(describeError(error));
    }
    const deliveries = Number(message.Attributes?.ApproximateReceiveCount ?? 0);
    const job: Job | null = await this.options.store.find(task.jobId);
    this.options.logger.warn("a task reached the dead-letter queue", { jobId: task.jobId, attempt: task.attempt, status: job?.status ?? "deleted" });
    if (!job || job.status !== "RUNNING" || job.attempts !== task.attempt) return;
    const last = job.lastError ? `; the last error was: ${job.lastError}` : "";
    await this.options.settler.fail(
      { jobId: job.id, attempt: task.attempt },
      job,
      `Every worker that took this task failed, so it was moved to the dead-letter queue${deliveries ? ` (${deliveries} deliveries)` : ""}${last}`,
      [],
    );
  }
}
