import { setMaxListeners } from "node:events";
import os from "node:os";
import { randomBytes } from "node:crypto";
import { ChangeMessageVisibilityCommand, DeleteMessageCommand, SendMessageCommand, type Message, type SQSClient } from "@aws-sdk/client-sqs";
import { receiveUntilStopped } from "../server/aws/receive-messages";
import { describeError } from "../server/errors";
import type { Logger } from "../server/logger";
import type { BlobStore } from "../server/storage/blob-store";
import type { EnginePool } from "./engine-pool";
import { enginesFor, runWorkerTask } from "./run-task";
import { TASK_CONTRACT_VERSION, workerTaskSchema, type ResultsQueueMessage, type TaskResult, type WorkerTask } from "./task-contract";

export type TaskLoopOptions = {
  sqs: SQSClient;
  blobs: BlobStore;
  pool: EnginePool;
  logger: Logger;
  tasksQueueUrl: string;
  resultsQueueUrl: string;
  loops: number;
  visibilityTimeoutS: number;
  /** Local scratch space for conversions. */
  workDir: string;
  /** Long-poll wait per receive, seconds. */
  waitTimeSeconds?: number;
  /** Segments JSON above this many bytes goes to the blob store (an SQS message holds 256 KiB). */
  inlineSegmentsMaxBytes?: number;
  /** Called when a task is received (benchmarks measure dispatch latency with it). */
  onReceived?: (task: WorkerTask) => void;
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
/** ms between progress reports at most: progress is for people watching, the heartbeat keeps the lease. */
const PROGRESS_REPORT_MIN_MS = 1_000;

/** s before a task that failed for a passing reason is delivered again: 1, 2, 4, … capped by the visibility timeout. */
export function redeliveryDelayS(receiveCount: number, visibilityTimeoutS: number): number {
  return Math.min(visibilityTimeoutS, 2 ** Math.max(0, receiveCount - 1));
}

class TaskTimeout extends Error {
  constructor(ms: number) {
    super(`The task timed out after ${Math.round(ms / 1000)} s`);
    this.name = "TaskTimeout";
  }
}

/**
 * The worker's receive loops: each long-polls the tasks queue for one task, keeps it
 * invisible to other workers while it runs (renewing the visibility timeout every third of
 * it), reports heartbeats and progress on the results queue (the control plane renews the
 * job's lease on each, so the lease follows this worker, not the replica that sent the
 * task), runs the task, publishes the result, and only then deletes the task.
 *
 * - A crash (even SIGKILL) before the delete: the task reappears after its visibility
 *   timeout and another worker runs it; the control plane applies one result per attempt.
 * - A failure a retry may fix: a delivery-failed event is published and the task made
 *   visible again after a delay that doubles per delivery (redeliveryDelayS); after the queue's maxReceiveCount SQS moves it to the DLQ.
 * - A permanent failure (bad media, the task's timeout): published as a failed result.
 * - Stopping: the task is made visible again at once and a handed-back event published.
 */
export function startTaskLoops(options: TaskLoopOptions): TaskLoops {
  const { sqs, logger } = options;
  const worker = `${os.hostname()}:${process.pid}`;
  const stopping = new AbortController();
  // Every loop's receive in flight listens on this signal (the SDK adds an abort listener per
  // request and removes it when the request ends): N loops are N listeners, not a leak, so
  // Node's warning past 10 would only be noise.
  setMaxListeners(options.loops + 10, stopping.signal);
  const inFlight = new Map<string, { controller: AbortController; done: Promise<void> }>();

  const visibility = (message: Message, seconds: number) =>
    sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: options.tasksQueueUrl, ReceiptHandle: message.ReceiptHandle, VisibilityTimeout: seconds }));

  const publish = (body: ResultsQueueMessage) => sqs.send(new SendMessageCommand({ QueueUrl: options.resultsQueueUrl, MessageBody: JSON.stringify(body) }));

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
    if (!result.ok || result.kind !== "transcribe") return result;
    const json = JSON.stringify(result.segments);
    if (Buffer.byteLength(json) <= (options.inlineSegmentsMaxBytes ?? INLINE_SEGMENTS_MAX_BYTES)) return result;
    const key = `outputs/${result.jobId}/${result.attempt}-${randomBytes(4).toString("hex")}.segments.json`;
    await options.blobs.putObject(key, Buffer.from(json));
    return { ...result, segments: [], segmentsBlobKey: key };
  };

  const handle = async (message: Message, controller: AbortController): Promise<void> => {
    const receiveCount = Number(message.Attributes?.ApproximateReceiveCount ?? 1);
    let task: WorkerTask;
    try {
      task = workerTaskSchema.parse(JSON.parse(message.Body ?? ""));
    } catch (error) {
      // Not a task of this contract version: no worker of this version can run it.
      logger.error("dropped an unreadable task", { error: describeError(error), body: message.Body?.slice(0, 500) });
      await sqs.send(new DeleteMessageCommand({ QueueUrl: options.tasksQueueUrl, ReceiptHandle: message.ReceiptHandle }));
      return;
    }
    const log = { jobId: task.jobId, attempt: task.attempt, kind: task.kind, delivery: receiveCount };
    logger.info("task received", log);
    options.onReceived?.(task);

    // Heartbeats: at once (the control plane learns which worker holds the task), then
    // every heartbeatMs, and sooner (at most once a second) when progress moved.
    const heartbeatMs = task.heartbeatMs ?? Math.max(1000, (options.visibilityTimeoutS * 1000) / 3);
    let progress: number | undefined;
    let reportedProgress: number | undefined;
    let lastBeat = 0;
    const beat = () => {
      lastBeat = Date.now();
      reportedProgress = progress;
      publish({ version: TASK_CONTRACT_VERSION, kind: "heartbeat", jobId: task.jobId, attempt: task.attempt, worker, receiveCount, ...(progress === undefined ? {} : { progress }) }).catch((error: unknown) =>
        logger.warn("sending a heartbeat failed", { ...log, error: describeError(error) }),
      );
    };
    beat();
    const heartbeat = setInterval(beat, heartbeatMs);
    const onProgress = (fraction: number) => {
      progress = Math.min(1, Math.max(0, fraction));
      if (progress !== reportedProgress && Date.now() - lastBeat >= PROGRESS_REPORT_MIN_MS) beat();
    };
    const renew = setInterval(() => {
      visibility(message, options.visibilityTimeoutS).catch((error: unknown) => logger.warn("renewing the task's visibility failed", { ...log, error: describeError(error) }));
    }, Math.max(200, (options.visibilityTimeoutS * 1000) / 3));
    const timeout = task.timeoutMs === undefined ? null : setTimeout(() => controller.abort(new TaskTimeout(task.timeoutMs!)), task.timeoutMs);
    const leaseId = `${task.jobId}#${task.attempt}#${randomBytes(3).toString("hex")}`;
    try {
      const engines = enginesFor(task);
      const lease = engines > 0 ? await leaseEngines(leaseId, engines, controller.signal) : null;
      const result = await runWorkerTask(task, { blobs: options.blobs, engines: lease?.engines ?? [], signal: controller.signal, onProgress, workDir: options.workDir });
      if (result.ok || result.permanent) {
        await publish(await outputs(result));
        await sqs.send(new DeleteMessageCommand({ QueueUrl: options.tasksQueueUrl, ReceiptHandle: message.ReceiptHandle }));
        logger.info(result.ok ? "task done" : "task failed permanently", { ...log, ...(result.ok ? {} : { error: result.error }) });
      } else {
        await publish({ version: TASK_CONTRACT_VERSION, kind: "delivery-failed", jobId: task.jobId, attempt: task.attempt, error: result.error, receiveCount, worker });
        // Back in the queue after a pause that doubles with each delivery: a passing fault (the
        // blob store unreachable for seconds) would otherwise use up every delivery at once.
        await visibility(message, redeliveryDelayS(receiveCount, options.visibilityTimeoutS));
        logger.warn("task failed; handed back to the queue for another delivery", { ...log, error: result.error });
      }
    } catch (error) {
      const reason: unknown = controller.signal.reason;
      if (controller.signal.aborted && reason instanceof TaskTimeout) {
        // Running longer than the job allows will not end differently on another worker.
        await publish({ version: TASK_CONTRACT_VERSION, ok: false, jobId: task.jobId, attempt: task.attempt, error: reason.message, permanent: true }).catch(() => undefined);
        await sqs.send(new DeleteMessageCommand({ QueueUrl: options.tasksQueueUrl, ReceiptHandle: message.ReceiptHandle })).catch(() => undefined);
        logger.warn("task timed out", { ...log, timeoutMs: task.timeoutMs });
      } else if (controller.signal.aborted) {
        // Stopping: let another worker take it now rather than after the visibility timeout.
        await visibility(message, 0).catch(() => undefined);
        await publish({ version: TASK_CONTRACT_VERSION, kind: "handed-back", jobId: task.jobId, attempt: task.attempt, worker }).catch(() => undefined);
        logger.info("task handed back to the queue (worker stopping)", log);
      } else {
        logger.error("task handling failed; it will be redelivered", { ...log, error: describeError(error) });
      }
    } finally {
      clearInterval(heartbeat);
      clearInterval(renew);
      if (timeout) clearTimeout(timeout);
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
            const entry = { controller, done: handle(message, controller) };
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
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), drainMs);
      });
      if ((await Promise.race([drained.then(() => "drained" as const), timedOut])) === "timeout") abortAll();
      clearTimeout(timer);
      await Promise.allSettled(loops);
    },
  };
}
