import path from "node:path";
import { fileURLToPath } from "node:url";
import { openDatabase, type Database } from "./db/client";
import { migrateDatabase } from "./db/migrate";
import { openSqlClient } from "./db/sql/open-sql-client";
import type { EngineFactory, EngineInfo } from "./asr/engine";
import { selectEngineFactory } from "./asr/select-engine";
import { EnginePool } from "../worker/engine-pool";
import { InProcessDispatcher } from "./dispatch/in-process-dispatcher";
import { createInProcessTransport } from "./dispatch/in-process-transport";
import type { AppConfig } from "./env";
import { describeError } from "./errors";
import { createTranscribeHandler } from "./jobs/handlers/transcribe-handler";
import { createFixSrtHandler } from "./jobs/handlers/fix-srt-handler";
import { createConvertHandler } from "./jobs/handlers/convert-handler";
import { LlmLimiter } from "./llm/llm-limiter";
import { DEFAULT_RETRY_POLICY } from "./llm/llm-retry";
import { createOpenAiComplete } from "./llm/openai-complete";
import { JobEvents } from "./jobs/job-events";
import { JobStore } from "./jobs/job-store";
import { JobHandlerRegistry } from "./jobs/registry";
import { pruneJobHistory } from "./jobs/retention";
import { createLogger, type Logger } from "./logger";
import { exportJobOutputs } from "./services/export-outputs";
import { JobService } from "./services/job-service";
import { MediaService } from "./services/media-service";
import { createFilesystemBlobStore } from "./storage/filesystem-blob-store";
import { createS3BlobStore } from "./storage/s3-blob-store";
import { createAwsClients } from "./aws/aws-env";
import { createRemoteSlotFactory } from "./dispatch/remote-slots";
import { SqsTransport } from "./dispatch/sqs-transport";

/** The committed migrations, found from this file so the server may start from any directory. */
const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../prisma/migrations");

/** Everything the APIs need, built once per process. */
export type App = {
  config: AppConfig;
  logger: Logger;
  database: Database;
  jobs: JobService;
  media: MediaService;
  dispatcher: InProcessDispatcher;
  pool: EnginePool;
  /** With TRANSPORT=sqs: the remote fleet's backlog (tasks queued, running, dead-lettered). */
  remote: { queueStats(): Promise<{ queued: number; running: number; deadLettered: number }> } | null;
  /** The engine the slots run, or the reason it could not start (reported by /live). */
  engine: { info: EngineInfo | null; error: string | null };
  /** Graceful stop; `force` aborts running attempts at once. Safe to call twice. */
  close(opts?: { force?: boolean }): Promise<void>;
};

export type CreateAppOptions = {
  logger?: Logger;
  /** Replaces the configured engine (tests). */
  engineFactory?: EngineFactory;
};

/**
 * Wires the embedded control plane: database (migrated), blob store, engine slots,
 * dispatcher, services. Recovers jobs left by a previous run before returning.
 */
export async function createApp(config: AppConfig, options: CreateAppOptions = {}): Promise<App> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const migration = await migrateDatabase(config.databaseUrl, { log: (line) => logger.debug(line), migrationsDir: MIGRATIONS_DIR });
  if (migration.applied.length) logger.info("database migrated", { applied: migration.applied });
  const database = await openDatabase(config.databaseUrl);
  const db = database.prisma;
  const sqlClient = openSqlClient(config.databaseUrl);

  const aws = config.sqs || config.blobStore.kind === "s3" ? createAwsClients(config.aws) : null;
  const blobs =
    config.blobStore.kind === "s3"
      ? createS3BlobStore({ client: aws!.s3, bucket: config.blobStore.bucket, prefix: config.blobStore.prefix, workDir: path.join(config.dataDir, "s3-work") })
      : createFilesystemBlobStore(path.join(config.dataDir, "blobs"));
  const store = new JobStore(sqlClient);
  const media = new MediaService(db, sqlClient, blobs, config.maxUploadBytes);
  const events = new JobEvents();

  const engineFactory = config.sqs ? createRemoteSlotFactory() : (options.engineFactory ?? (await selectEngineFactory(config)));
  const pool = new EnginePool(config.sqs ? config.sqs.maxInFlight : config.parallel, engineFactory);
  const engine: App["engine"] = { info: null, error: null };
  try {
    engine.info = await pool.warmUp();
    logger.info("engine ready", { engine: engine.info.name, model: engine.info.model, provider: engine.info.provider, slots: config.parallel });
  } catch (error) {
    // Keep serving (status, transcripts, /live with the reason); jobs fail with this message.
    engine.error = describeError(error);
    logger.error("engine unavailable", { error: engine.error });
  }

  const registry = new JobHandlerRegistry();
  const sqsTransport = config.sqs ? new SqsTransport({ sqs: aws!.sqs, blobs, logger, ...config.sqs }) : null;
  sqsTransport?.start();
  const transport = sqsTransport ?? createInProcessTransport(blobs);
  const transcribe = createTranscribeHandler({ media, transport });
  registry.register("transcribe", transcribe).register("generate_srt", transcribe);
  const llmLimiter = new LlmLimiter(config.llm.maxConcurrency);
  const complete = createOpenAiComplete({
    baseURL: config.llm.baseURL,
    // Local OpenAI-compatible servers often need no key; the SDK insists on one.
    apiKey: config.llm.apiKey ?? "no-key",
    timeoutMs: config.llm.timeoutMs,
    limiter: llmLimiter,
    retry: { ...DEFAULT_RETRY_POLICY, maxRetries: config.llm.maxRetries },
    onRetry: (message) => logger.warn(message),
  });
  registry.register("fix_srt", createFixSrtHandler({ media, complete, endpoint: config.llm.baseURL }));
  registry.register("convert", createConvertHandler({ media, workDir: path.join(config.dataDir, "convert") }));

  const dispatcher = new InProcessDispatcher(store, pool, registry, events, logger, { leaseMs: config.leaseMs, jobTimeoutMs: config.jobTimeoutMs });
  const jobs = new JobService({ db, store, dispatcher, pool, media, events, logger, maxAttempts: config.maxAttempts, defaultLlmModel: config.llm.model });

  let pruning: Promise<unknown> = Promise.resolve();
  events.onSettled((event) => {
    const work = async () => {
      if (event.parentId) await jobs.aggregateParent(event.parentId);
      if (event.status === "DONE" && config.allFormatsDir) await exportJobOutputs(jobs, config.allFormatsDir, event.jobId);
      if (!event.parentId && config.maxJobHistory > 0) {
        // Serialised so two prunes never race over the same rows.
        pruning = pruning.then(() => pruneJobHistory(db, media, config.maxJobHistory));
        await pruning;
      }
    };
    work().catch((error) => logger.error("post-settle work failed", { jobId: event.jobId, error: describeError(error) }));
  });

  const recovered = await dispatcher.start();
  if (recovered.requeued || recovered.failed || recovered.queued) logger.info("recovered jobs from the previous run", recovered);

  let closing: Promise<void> | null = null;
  return {
    config,
    logger,
    database,
    jobs,
    media,
    dispatcher,
    pool,
    engine,
    remote: sqsTransport,
    close(opts = {}) {
      closing ??= (async () => {
        // Remote attempts finish through the results consumer, so it stops after the dispatcher;
        // attempts still waiting then are re-queued by the dispatcher, not failed.
        await dispatcher.close({ graceMs: opts.force ? 0 : 30_000 });
        await sqsTransport?.close();
        await pool.close();
        await sqlClient.close();
        await database.close();
      })();
      return closing;
    },
  };
}
