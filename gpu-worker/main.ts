import path from "node:path";
import { selectEngineFactory } from "../src/server/asr/select-engine";
import { createAwsClients } from "../src/server/aws/aws-env";
import { EnginePool } from "../src/worker/engine-pool";
import { describeError } from "../src/server/errors";
import { batchedWriter, createLogger } from "../src/server/logger";
import { createS3BlobStore } from "../src/server/storage/s3-blob-store";
import { startTaskLoops } from "../src/worker/sqs-task-loop";
import { loadWorkerConfig } from "./worker-env";

/**
 * A stateless transcription worker: long-polls the SQS tasks queue, runs the configured
 * engine on WORKER_SLOTS slots, writes to S3 and reports on the results queue. It never
 * touches the database. SIGTERM drains (DRAIN_TIMEOUT_S), a second signal stops at once.
 */
async function main(): Promise<void> {
  const config = loadWorkerConfig();
  const logger = createLogger(config.logLevel, batchedWriter(process.stdout));
  const { sqs, s3 } = createAwsClients(config.aws);
  const blobs = createS3BlobStore({ client: s3, bucket: config.bucket, prefix: config.prefix, workDir: path.join(config.workDir, "blobs") });
  const pool = new EnginePool(config.slots, await selectEngineFactory(config));
  const engine = await pool.warmUp();
  logger.info("worker ready", { engine: engine.name, model: engine.model, provider: engine.provider, slots: config.slots, loops: config.loops });
  const loops = startTaskLoops({ sqs, blobs, pool, logger, tasksQueueUrl: config.tasksQueueUrl, resultsQueueUrl: config.resultsQueueUrl, loops: config.loops, visibilityTimeoutS: config.visibilityTimeoutS, inlineSegmentsMaxBytes: config.inlineSegmentsMaxBytes, workDir: path.join(config.workDir, "work") });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      // A second signal: hand every running task back to the queue now, then exit.
      logger.info("forced stop", { signal, running: loops.running });
      loops.abortAll();
      return;
    }
    stopping = true;
    logger.info("stopping", { signal, running: loops.running });
    await loops.stop(config.drainTimeoutS * 1000);
    await pool.close();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

main().catch((error: unknown) => {
  process.stderr.write(`worker failed to start: ${describeError(error)}\n`);
  process.exit(1);
});
