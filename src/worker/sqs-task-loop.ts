import os from "node:os";
import { randomBytes } from "node:crypto";
import { ChangeMessageVisibilityCommand, DeleteMessageCommand, SendMessageCommand, type Message, type SQSClient } from "@aws-sdk/client-sqs";
import { executeTranscribeTask } from "./run-transcribe-task";
import type { EnginePool } from "./engine-pool";
import { TASK_CONTRACT_VERSION, transcribeTaskSchema, type DeliveryFailed, type TaskResult, type TranscribeTask } from "./task-contract";
import { describeError } from "../server/errors";
import type { Logger } from "../server/logger";
import type { BlobStore } from "../server/storage/blob-store";
import { receiveUntilStopped } from "../server/aws/receive-messages";

export type TaskLoopOptions = {
  sqs: SQSClient;
  blobs: BlobStore;
  pool: EnginePool;
  logger: Logger;
  tasksQueueUrl: string;
  resultsQueueUrl: string;
  loops: number;
  visibilityTimeoutS: number;
  /** Long-poll wait per receive, seconds. */
  waitTimeSeconds?: number;
  /** Segments JSON above this many bytes goes to the blob store (an SQS message holds 256 KiB). */
  inlineSegmentsMaxBytes?: number;
  /** Called when a task is received (benchmarks measure dispatch latency with it). */
  onReceived?: (task: TranscribeTask) => void;
};

export type TaskLoops = {
  /** Stops receiving; waits `drainMs` for running tasks, then aborts them and hands them back to the queue. */
  stop(drainMs: number): Promise<void>;
  /** Aborts every running task now (each is handed back to the queue); a pending stop() then ends. */
  abortAll(): void;
  readonly running: number;
};

/** Default for `inlineSegmentsMaxBytes`: room for the rest of the result under SQS's 256 KiB. */
const INLINE_SEGMENTS_MAX_BYTES = 200_000;

/**
 * The worker's receive loops: each long-polls the tasks queue for one task, keeps it
 * invisible to other workers while it runs (renewing the visibility timeout every third of
 * it), runs the engines, publishes the result, and only then deletes the task.
 *
 * - A crash (even SIGKILL) before the delete: the task reappears after its visibility
 *   timeout and another worker runs it; the control plane applies one result per attempt.
 * - A failure a retry may fix: a delivery-failed event is published and the task made
 *   visible again at once; after the queue's maxReceiveCount SQS moves it to the DLQ.
 * - A permanent failure (bad media): published as a failed result, task deleted.
 */
export function startTaskLoops(options: TaskLoopOptions): TaskLoops {
  const { sqs, logger } = options;
  const worker = `${os.hostname()}:${process.pid}`;
  const stopping = new AbortController();
  const inFlight = new Map<string, { controller: AbortController; message: Message; done: Promise<void> }>();

  const visibility = (message: Message, seconds: number) =>
    sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: options.tasksQueueUrl, ReceiptHandle: message.ReceiptHandle, VisibilityTimeout: seconds }));

  const publish = (body: TaskResult | DeliveryFailed) => sqs.send(new SendMessageCommand({ QueueUrl: options.resultsQueueUrl, MessageBody: JSON.stringify(body) }));

  /** Engines for the task: waits while the slots are busy (another loop holds them). */
  const leaseEngines = async (leaseId: string, count: number, signal: AbortSignal) => {
    if (count > options.pool.size) throw new Error(`The task asks for ${count} engines but this worker has ${options.pool.size}`);
    while (!options.pool.tryReserve(leaseId, count)) {
      signal.throwIfAborted();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return options.pool.materialize(leaseId);
  };

  const outputs = async (result: TaskResult): Promise<TaskResult> => {
    if (!result.ok) return result;
    const json = JSON.stringify(result.segments);
    if (Buffer.byteLength(json) <= (options.inlineSegmentsMaxBytes ?? INLINE_SEGMENTS_MAX_BYTES)) return result;
    const key = `outputs/${result.jobId}/${result.attempt}-${randomBytes(4).toString("hex")}.segments.json`;
    await options.blobs.putObject(key, Buffer.from(json));
    return { ...result, segments: [], segmentsBlobKey: key };
  };

  const handle = async (message: Message, controller: AbortController): Promise<void> => {
    const receiveCount = Number(message.Attributes?.ApproximateReceiveCount ?? 1);
    let task: TranscribeTask;
    try {
      task = transcribeTaskSchema.parse(JSON.parse(message.Body ?? ""));
    } catch (error) {
      // Not a task of this contract version: no worker of this version can run it.
      logger.error("dropped an unreadable task", { error: describeError(error), body: message.Body?.slice(0, 500) });
      await sqs.send(new DeleteMessageCommand({ QueueUrl: options.tasksQueueUrl, ReceiptHandle: message.ReceiptHandle }));
      return;
    }
    const log = { jobId: task.jobId, attempt: task.attempt, delivery: receiveCount };
    logger.info("task received", log);
    options.onReceived?.(task);
    const renew = setInterval(() => {
      visibility(message, options.visibilityTimeoutS).catch((error: unknown) => logger.warn("renewing the task's visibility failed", { ...log, error: describeError(error) }));
    }, Math.max(200, (options.visibilityTimeoutS * 1000) / 3));
    const leaseId = `${task.jobId}#${task.attempt}#${randomBytes(3).toString("hex")}`;
    try {
      const lease = await leaseEngines(leaseId, task.engines, controller.signal);
      const result = await executeTranscribeTask(task, { blobs: options.blobs, engines: lease.engines, signal: controller.signal });
      if (result.ok || result.permanent) {
        await publish(await outputs(result));
        await sqs.send(new DeleteMessageCommand({ QueueUrl: options.tasksQueueUrl, ReceiptHandle: message.ReceiptHandle }));
        logger.info(result.ok ? "task done" : "task failed permanently", { ...log, ...(result.ok ? {} : { error: result.error }) });
      } else {
        await publish({ version: TASK_CONTRACT_VERSION, kind: "delivery-failed", jobId: task.jobId, attempt: task.attempt, error: result.error, receiveCount, worker });
        await visibility(message, 0);
        logger.warn("task failed; handed back to the queue for another delivery", { ...log, error: result.error });
      }
    } catch (error) {
      if (controller.signal.aborted) {
        // Stopping: let another worker take it now rather than after the visibility timeout.
        await visibility(message, 0).catch(() => undefined);
        logger.info("task handed back to the queue (worker stopping)", log);
      } else {
        logger.error("task handling failed; it will be redelivered", { ...log, error: describeError(error) });
      }
    } finally {
      clearInterval(renew);
      options.pool.release(leaseId);
    }
  };

  const loop = () =>
    receiveUntilStopped(
      sqs,
      {
        QueueUrl: options.tasksQueueUrl,
        MaxNumberOfMessages: 1,
        WaitTimeSeconds: options.waitTimeSeconds ?? 20,
        VisibilityTimeout: options.visibilityTimeoutS,
        MessageSystemAttributeNames: ["ApproximateReceiveCount"],
      },
      {
        signal: stopping.signal,
        logger,
        onMessages: async (messages) => {
          for (const message of messages) {
            const controller = new AbortController();
            const id = message.MessageId ?? randomBytes(6).toString("hex");
            const entry = { controller, message, done: handle(message, controller) };
            inFlight.set(id, entry);
            await entry.done;
            inFlight.delete(id);
          }
        },
      },
    );

  const loops = Array.from({ length: options.loops }, () => loop());
  const abortAll = () => {
    for (const entry of inFlight.values()) entry.controller.abort(new Error("The worker is stopping"));
  };
  return {
    abortAll,
    get running() {
      return inFlight.size;
    },
    async stop(drainMs) {
      stopping.abort();
      const drained = Promise.allSettled([...inFlight.values()].map((entry) => entry.done));
      const timer = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), drainMs).unref());
      if ((await Promise.race([drained.then(() => "drained" as const), timer])) === "timeout") abortAll();
      await Promise.allSettled(loops);
    },
  };
}
