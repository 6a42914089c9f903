import type { Principal } from "./access";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { openDatabase, type Database } from "./db/client";
import { migrateDatabase } from "./db/migrate";
import { openSqlClient } from "./db/sql/open-sql-client";
import type { SqlStats } from "./db/sql/sql-client";
import type { EngineFactory, EngineInfo } from "./asr/engine";
import { selectEngineFactory } from "./asr/select-engine";
import { AttemptSettler } from "./dispatch/attempt-settler";
import { BoundedLane } from "./dispatch/lanes/bounded-lane";
import { EngineLane } from "./dispatch/lanes/engine-lane";
import { localWork, taskWork, type AsrCapacity, type LaneRunner } from "./dispatch/lanes/lane";
import { SqsLane } from "./dispatch/lanes/sqs-lane";
import { LocalAttempts } from "./dispatch/local-attempts";
import { Scheduler } from "./dispatch/scheduler";
import { SqsResultsConsumer } from "./dispatch/sqs-results-consumer";
import type { AppConfig } from "./env";
import { describeError } from "./errors";
import { BatchAggregator } from "./jobs/batch-aggregator";
import { createConvertHandler } from "./jobs/handlers/convert-handler";
import { createFixSrtHandler } from "./jobs/handlers/fix-srt-handler";
import { createTranscribeHandler } from "./jobs/handlers/transcribe-handler";
import { createInProcessJobEventBus, type JobEventBus } from "./jobs/job-events";
import { isTerminal } from "./jobs/job-status";
import type { Lane } from "./jobs/lanes";
import { JobStore } from "./jobs/job-store";
import { createPostgresJobEventBus } from "./jobs/postgres-job-events";
import { JobHandlerRegistry } from "./jobs/registry";
import { pruneJobHistory } from "./jobs/retention";
import { LlmLimiter } from "./llm/llm-limiter";
import { DEFAULT_RETRY_POLICY } from "./llm/llm-retry";
import { createOpenAiComplete } from "./llm/openai-complete";
import { createLogger, type Logger } from "./logger";
import { Metrics } from "./observability/app-metrics";
import { laneSchema } from "./jobs/lanes";
import { exportJobOutputs } from "./services/export-outputs";
import { JobService } from "./services/job-service";
import { MediaService } from "./services/media-service";
import { scopeJobs, type ScopedJobs } from "./services/scoped-jobs";
import { OPERATOR } from "./access";
import { WebhookDeliverer } from "./webhooks/webhook-deliverer";
import { WebhookStore } from "./jobs/webhook-outbox";
import { createAwsClients } from "./aws/aws-env";
import { StorageMaintenance } from "./services/storage-maintenance";
import { createFilesystemBlobStore } from "./storage/filesystem-blob-store";
import { createS3BlobStore } from "./storage/s3-blob-store";
import { EnginePool } from "../worker/engine-pool";

/** The committed migrations, found from this file so the server may start from any directory. */
const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../prisma/migrations");

/** Everything the APIs need, built once per process. */
export type App = {
  config: AppConfig;
  logger: Logger;
  database: Database;
  /** The whole job system, unscoped: internal use, tests and operators' tools. */
  jobs: JobService;
  /** The job system as one caller sees it (a user sees only their own): what every API uses. */
  jobsFor(principal: Principal): ScopedJobs;
  media: MediaService;
  /** Sweeps of partial uploads and unreferenced blobs. */
  maintenance: StorageMaintenance;
  scheduler: Scheduler;
  /** Transcription capacity: this process's engine slots, or the remote fleet's in-flight limit. */
  asr: AsrCapacity;
  events: JobEventBus;
  /** Prometheus metrics (GET /metrics); `webhookAttempt` counts webhook deliveries. */
  metrics: Metrics;
  /** With TRANSPORT=sqs: the remote fleet's backlog (tasks queued, running, dead-lettered). */
  remote: { queueStats(): Promise<{ queued: number; running: number; deadLettered: number }> } | null;
  /** The engine the slots run, or the reason it could not start (reported by /live). */
  engine: { info: EngineInfo | null; error: string | null };
  /** Statements and transactions the job system has run (the benchmark's queries per job). */
  sqlStats(): SqlStats;
  /**
   * Stops: drains running attempts for SHUTDOWN_GRACE_MS (at once with `force`), and they go
   * back to the queue. Safe to call twice; a forced call during a graceful close forces it.
   */
  close(opts?: { force?: boolean }): Promise<void>;
};

/** ms between sweeps of partial uploads and unreferenced blobs. */
const STORAGE_SWEEP_INTERVAL_MS = 10 * 60_000;

export type CreateAppOptions = {
  logger?: Logger;
  /** Replaces the configured engine (tests). */
  engineFactory?: EngineFactory;
};

/**
 * Wires the control plane: database (migrated), blob store, the job store and its event
 * bus, the lanes (engine slots or the remote fleet, the ffmpeg pool, the LLM limit), the
 * scheduler and the services. Recovers what a previous run left behind before returning.
 */
export async function createApp(config: AppConfig, options: CreateAppOptions = {}): Promise<App> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const migration = await migrateDatabase(config.databaseUrl, { log: (line) => logger.debug(line), migrationsDir: MIGRATIONS_DIR });
  if (migration.applied.length) logger.info("database migrated", { applied: migration.applied });
  const database = await openDatabase(config.databaseUrl);
  const db = database.prisma;
  const sqlClient = openSqlClient(config.databaseUrl, { onBackgroundError: (message) => logger.warn("a WAL checkpoint failed; the next one retries", { error: message }) });

  const aws = config.sqs || config.blobStore.kind === "s3" ? createAwsClients(config.aws) : null;
  const blobs =
    config.blobStore.kind === "s3"
      ? createS3BlobStore({ client: aws!.s3, bucket: config.blobStore.bucket, prefix: config.blobStore.prefix, workDir: path.join(config.dataDir, "s3-work") })
      : createFilesystemBlobStore(path.join(config.dataDir, "blobs"));

  const onListenerError = (error: unknown) => logger.error("a job event listener failed", { error: describeError(error) });
  const bus: JobEventBus =
    database.provider === "postgresql" ? createPostgresJobEventBus({ url: config.databaseUrl, sql: sqlClient, logger }) : createInProcessJobEventBus(onListenerError);
  const store = new JobStore(sqlClient, bus);
  const media = new MediaService(db, sqlClient, blobs, { maxUploadBytes: config.maxUploadBytes, maxSrtBytes: config.maxSrtBytes, maxAudioSeconds: config.maxAudioSeconds });
  const maintenance = new StorageMaintenance(blobs, media, logger, {
    tempMaxAgeMs: config.http.requestTimeoutMs,
    blobGraceMs: config.unreferencedBlobGraceMs,
    intervalMs: STORAGE_SWEEP_INTERVAL_MS,
  });

  const engine: App["engine"] = { info: null, error: null };
  const pool = config.sqs ? null : new EnginePool(config.parallel, options.engineFactory ?? (await selectEngineFactory(config)));
  if (pool) {
    try {
      engine.info = await pool.warmUp();
      logger.info("engine ready", { engine: engine.info.name, model: engine.info.model, provider: engine.info.provider, slots: config.parallel });
    } catch (error) {
      // Keep serving (status, transcripts, /live with the reason); jobs fail with this message.
      engine.error = describeError(error);
      logger.error("engine unavailable", { error: engine.error });
    }
  } else {
    engine.info = { name: "remote workers (SQS)", model: "as configured on the workers", provider: "sqs", languages: [] };
  }

  const registry = new JobHandlerRegistry();
  const transcribe = createTranscribeHandler({ media, blobs });
  registry.register("transcribe", transcribe).register("generate_srt", transcribe);
  registry.register("convert", createConvertHandler({ media }));
  const llmLimiter = new LlmLimiter(config.llm.maxConcurrency);
  // `asr` is set below, before anything can scrape.
  let asr: AsrCapacity;
  const metrics = new Metrics({
    jobCounts: () => store.countByTypeStatusLane(),
    lanes: laneSchema.options,
    engineCapacity: () => asr.capacity(),
    llmInFlight: () => llmLimiter.stats().active,
    onCollectError: (family, error) => logger.warn("a metric could not be read for this scrape", { metric: family, error: describeError(error) }),
  });
  const complete = createOpenAiComplete({
    baseURL: config.llm.baseURL,
    // Local OpenAI-compatible servers often need no key; the SDK insists on one.
    apiKey: config.llm.apiKey ?? "no-key",
    timeoutMs: config.llm.timeoutMs,
    limiter: llmLimiter,
    retry: { ...DEFAULT_RETRY_POLICY, maxRetries: config.llm.maxRetries },
    onRetry: (message, fields) => {
      logger.warn(message, fields);
      metrics.llmRetry();
    },
  });
  registry.register("fix_srt", createFixSrtHandler({ media, complete, endpoint: config.llm.baseURL }));

  const owner = `${os.hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
  const settler = new AttemptSettler(store, logger, config.retry, metrics);
  const attempts = new LocalAttempts(store, settler, logger, { owner, leaseMs: config.leaseMs, jobTimeoutMs: config.jobTimeoutMs });
  // Set once the scheduler exists: a lane that frees a slot asks it to claim more.
  let roomFreed: (lane: Lane) => void = () => undefined;
  const workDir = path.join(config.dataDir, "work");
  const local = { store, attempts, owner, leaseMs: config.leaseMs };

  const runners: LaneRunner[] = [];
  let results: SqsResultsConsumer | null = null;
  if (config.sqs) {
    const fleet = { sqs: aws!.sqs, store, registry, settler, logger, tasksQueueUrl: config.sqs.tasksQueueUrl, pickupTimeoutMs: config.sqs.pickupTimeoutMs };
    const sqsLane = new SqsLane({ ...fleet, maxInFlight: config.sqs.maxInFlight, owner, leaseMs: config.leaseMs, jobTimeoutMs: config.jobTimeoutMs });
    runners.push(sqsLane);
    asr = sqsLane;
    results = new SqsResultsConsumer({ ...fleet, resultsQueueUrl: config.sqs.resultsQueueUrl, dlqUrl: config.sqs.dlqUrl, leaseMs: config.leaseMs });
  } else {
    const engineLane = new EngineLane({ ...local, pool: pool!, registry, blobs, workDir, onRoom: () => roomFreed("asr") });
    runners.push(engineLane);
    asr = engineLane;
    runners.push(
      new BoundedLane("ffmpeg", "convert", config.maxConvertConcurrency, {
        ...local,
        work: (job) => taskWork(job, registry, { blobs, workDir, engines: async () => [] }),
        onRoom: () => roomFreed("convert"),
      }),
    );
  }
  runners.push(new BoundedLane("llm", "llm", config.llm.maxConcurrency, { ...local, work: (job) => localWork(job, registry), onRoom: () => roomFreed("llm") }));

  const aggregator = new BatchAggregator(store, logger);
  const scheduler = new Scheduler(store, bus, runners, attempts, aggregator, logger, {
    pollIntervalMs: config.pollIntervalMs,
    sweepIntervalMs: Math.max(250, Math.floor(config.leaseMs / 2)),
    retry: config.retry,
  });
  roomFreed = (lane) => scheduler.roomFreed(lane);
  const jobs = new JobService({ db, store, asr, media, events: bus, logger, maxAttempts: config.maxAttempts, leaseMs: config.leaseMs, owner, defaultLlmModel: config.llm.model });

  // Work that follows a transition runs once, in the process that made it.
  let pruning: Promise<unknown> = Promise.resolve();
  const unsubscribe = bus.subscribe((event, origin) => {
    if (origin !== "local" || event.type !== "changed") return;
    if (event.parentId && (isTerminal(event.status) || event.status === "QUEUED")) aggregator.childChanged(event.parentId);
    if (!isTerminal(event.status)) return;
    const work = async () => {
      if (event.status === "DONE" && config.allFormatsDir) await exportJobOutputs(jobs, config.allFormatsDir, event.jobId);
      if (!event.parentId && config.maxJobHistory > 0) {
        // Serialised so two prunes never race over the same rows.
        pruning = pruning.then(() => pruneJobHistory(store, media, config.maxJobHistory));
        await pruning;
      }
    };
    work().catch((error) => logger.error("post-settle work failed", { jobId: event.jobId, error: describeError(error) }));
  });

  // The outbox: webhooks promised with jobs, sent once their job has finished (any replica).
  const webhooks = new WebhookDeliverer({
    store: new WebhookStore(sqlClient),
    jobs: scopeJobs(OPERATOR, jobs, store, media),
    events: bus,
    logger,
    outbound: { allowHosts: config.outbound.allowHosts },
    webhooks: config.webhooks,
    pollIntervalMs: config.pollIntervalMs,
    onAttempt: (outcome) => metrics.webhookAttempt(outcome),
  });

  await maintenance.start();
  const recovered = await scheduler.start();
  results?.start();
  webhooks.start();
  if (recovered.requeued || recovered.failed || recovered.queued) logger.info("recovered jobs from the previous run", recovered);

  let closing: Promise<void> | null = null;
  return {
    config,
    logger,
    database,
    jobs,
    jobsFor: (principal) => scopeJobs(principal, jobs, store, media),
    media,
    maintenance,
    scheduler,
    asr,
    events: bus,
    metrics,
    engine,
    remote: results,
    sqlStats: () => sqlClient.stats(),
    close(opts = {}) {
      if (opts.force) scheduler.forceStop();
      closing ??= (async () => {
        await maintenance.close();
        await scheduler.close(opts.force ? 0 : config.shutdownGraceMs);
        // Results keep being applied while attempts drain; remote tasks need nothing from us.
        await results?.close();
        await webhooks.close(opts.force ? 0 : Math.min(config.shutdownGraceMs, config.webhooks.timeoutMs));
        await aggregator.settled();
        logger.info("job system statistics", { ...sqlClient.stats(), claim: store.claimStats() });
        unsubscribe();
        await pool?.close();
        await bus.close();
        await sqlClient.close();
        await database.close();
      })();
      return closing;
    },
  };
}
