import { DeleteMessageCommand, GetQueueAttributesCommand, SendMessageBatchCommand, type Message, type SQSClient } from "@aws-sdk/client-sqs";
import { z } from "zod";
import { receiveUntilStopped } from "../aws/receive-messages";
import { describeError } from "../errors";
import type { Logger } from "../logger";
import type { BlobStore } from "../storage/blob-store";
import type { TaskTransport } from "./in-process-transport";
import {
  TASK_CONTRACT_VERSION,
  resultsQueueMessageSchema,
  taskResultSchema,
  transcribeTaskSchema,
  type TaskResult,
  type TranscribeTask,
} from "../../worker/task-contract";

export type SqsTransportOptions = {
  sqs: SQSClient;
  blobs: BlobStore;
  logger: Logger;
  tasksQueueUrl: string;
  resultsQueueUrl: string;
  dlqUrl: string;
  /** Long-poll wait per receive, seconds (SQS allows 0–20). */
  waitTimeSeconds?: number;
  /** ms tasks wait to be sent together in one SendMessageBatch (at most 10 per batch). */
  sendLingerMs?: number;
};

type Waiter = { resolve: (result: TaskResult) => void; reject: (error: Error) => void; lastError: string | null };

const attemptKey = (jobId: string, attempt: number) => `${jobId}#${attempt}`;
const SQS_BATCH_LIMIT = 10;

/**
 * The scale-out transport: tasks go to the SQS tasks queue for gpu-worker processes, and
 * their results come back on the results queue. `execute` resolves when the result for
 * exactly this job and attempt arrives, so the dispatcher's lease, retry and timeout rules
 * apply to remote work unchanged.
 *
 * Exactly-once effects come from the database, not from the queue: a result is applied by
 * the dispatcher's conditional completion for (job, attempt, owner). A duplicate result,
 * or a late one for an attempt that was already retried, finds nobody waiting for it and is
 * dropped. A task that fails on every delivery is moved by SQS to the dead-letter queue;
 * reading it there fails its job with the last error a worker reported.
 */
export class SqsTransport implements TaskTransport {
  private readonly waiters = new Map<string, Waiter>();
  private readonly outbox: { task: TranscribeTask; onError: (error: Error) => void }[] = [];
  private flushTimer: NodeJS.Timeout | null = null;
  private readonly stopping = new AbortController();
  private pollers: Promise<void>[] = [];

  constructor(private readonly options: SqsTransportOptions) {}

  /** Starts consuming the results queue and the dead-letter queue. */
  start(): void {
    this.pollers = [
      this.poll(this.options.resultsQueueUrl, (message) => this.onResultMessage(message)),
      this.poll(this.options.dlqUrl, (message) => this.onDeadLetter(message)),
    ];
  }

  execute(task: TranscribeTask, runtime: { signal: AbortSignal }): Promise<TaskResult> {
    const message = transcribeTaskSchema.parse(task);
    const key = attemptKey(message.jobId, message.attempt);
    return new Promise<TaskResult>((resolve, reject) => {
      const onAbort = () => {
        this.waiters.delete(key);
        // The task may still run remotely; its result will find nobody waiting and be dropped.
        reject(runtime.signal.reason instanceof Error ? runtime.signal.reason : new Error("aborted"));
      };
      if (runtime.signal.aborted) return onAbort();
      runtime.signal.addEventListener("abort", onAbort, { once: true });
      const settle = () => runtime.signal.removeEventListener("abort", onAbort);
      this.waiters.set(key, {
        resolve: (result) => {
          settle();
          resolve(result);
        },
        reject: (error) => {
          settle();
          reject(error);
        },
        lastError: null,
      });
      this.outbox.push({
        task: message,
        onError: (error) => {
          this.waiters.delete(key);
          settle();
          reject(error);
        },
      });
      this.scheduleFlush();
    });
  }

  /** Stops polling; attempts still waiting are rejected (the dispatcher re-queues them). */
  async close(): Promise<void> {
    this.stopping.abort();
    if (this.flushTimer) clearTimeout(this.flushTimer);
    await Promise.allSettled(this.pollers);
    for (const waiter of this.waiters.values()) waiter.reject(new Error("The control plane is shutting down"));
    this.waiters.clear();
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

  private scheduleFlush(): void {
    if (this.outbox.length >= SQS_BATCH_LIMIT) {
      void this.flush();
      return;
    }
    this.flushTimer ??= setTimeout(() => void this.flush(), this.options.sendLingerMs ?? 5);
  }

  /** Sends queued tasks in batches of up to 10; a task whose send fails fails its attempt (the dispatcher retries it). */
  private async flush(): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    while (this.outbox.length) {
      const batch = this.outbox.splice(0, SQS_BATCH_LIMIT);
      try {
        const response = await this.options.sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: this.options.tasksQueueUrl,
            Entries: batch.map((entry, index) => ({ Id: String(index), MessageBody: JSON.stringify(entry.task) })),
          }),
        );
        for (const failed of response.Failed ?? []) {
          const entry = batch[Number(failed.Id)];
          entry?.onError(new Error(`SQS refused the task: ${failed.Message ?? failed.Code ?? "unknown error"}`));
        }
      } catch (error) {
        for (const entry of batch) entry.onError(new Error(`Could not send the task to SQS: ${describeError(error)}`));
      }
    }
  }

  private poll(queueUrl: string, handle: (message: Message) => Promise<void>): Promise<void> {
    const { sqs, logger } = this.options;
    return receiveUntilStopped(
      sqs,
      { QueueUrl: queueUrl, MaxNumberOfMessages: SQS_BATCH_LIMIT, WaitTimeSeconds: this.options.waitTimeSeconds ?? 20, MessageSystemAttributeNames: ["ApproximateReceiveCount"] },
      {
        signal: this.stopping.signal,
        logger,
        onMessages: (messages) =>
          Promise.all(
            messages.map(async (message) => {
              try {
                await handle(message);
              } catch (error) {
                // Unreadable messages are logged and dropped: redelivering them cannot help.
                logger.error("dropped an unreadable queue message", { queueUrl, error: describeError(error), body: message.Body?.slice(0, 500) });
              }
              await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle })).catch((error: unknown) => {
                logger.warn("deleting a queue message failed (it will be redelivered and ignored)", { queueUrl, error: describeError(error) });
              });
            }),
          ).then(() => undefined),
      },
    );
  }

  private async onResultMessage(message: Message): Promise<void> {
    const event = resultsQueueMessageSchema.parse(JSON.parse(message.Body ?? ""));
    const waiter = this.waiters.get(attemptKey(event.jobId, event.attempt));
    if ("kind" in event) {
      this.options.logger.warn("a worker failed one delivery of a task; SQS will redeliver it", { jobId: event.jobId, attempt: event.attempt, delivery: event.receiveCount, worker: event.worker, error: event.error });
      if (waiter) waiter.lastError = event.error;
      return;
    }
    if (!waiter) {
      this.options.logger.info("ignored a result nobody is waiting for (a duplicate, or an attempt already retried)", { jobId: event.jobId, attempt: event.attempt });
      return;
    }
    this.waiters.delete(attemptKey(event.jobId, event.attempt));
    waiter.resolve(await this.inlineSegments(event));
  }

  private async onDeadLetter(message: Message): Promise<void> {
    const task = transcribeTaskSchema.parse(JSON.parse(message.Body ?? ""));
    const key = attemptKey(task.jobId, task.attempt);
    const waiter = this.waiters.get(key);
    const deliveries = Number(message.Attributes?.ApproximateReceiveCount ?? 0);
    this.options.logger.warn("a task reached the dead-letter queue", { jobId: task.jobId, attempt: task.attempt, waiting: Boolean(waiter) });
    if (!waiter) return;
    this.waiters.delete(key);
    const last = waiter.lastError ? `; the last error was: ${waiter.lastError}` : "";
    waiter.resolve({
      version: TASK_CONTRACT_VERSION,
      ok: false,
      jobId: task.jobId,
      attempt: task.attempt,
      error: `Every worker that took this task failed, so it was moved to the dead-letter queue${deliveries ? ` (${deliveries} deliveries)` : ""}${last}`,
      permanent: true,
    });
  }

  /** Loads segments a worker left in the blob store, so handlers always see them inline. */
  private async inlineSegments(result: TaskResult): Promise<TaskResult> {
    if (!result.ok || !result.segmentsBlobKey) return result;
    const segments = z.array(z.unknown()).parse(JSON.parse((await this.options.blobs.getObject(result.segmentsBlobKey)).toString("utf8")));
    return taskResultSchema.parse({ ...result, segments, segmentsBlobKey: undefined });
  }
}
