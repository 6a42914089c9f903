import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { engineConfigFrom, engineEnvSchema, type EngineConfig } from "./asr/engine-env";
import { awsConfigFrom, awsEnvSchema, queueUrlSchema, type AwsConfig } from "./aws/aws-env";
import { booleanString, describeEnvIssues, positiveInt } from "./env-types";

/** A user name in API_KEYS (`key:user`). */
const USER_ID = /^[A-Za-z0-9._@-]{1,128}$/;

/**
 * The one environment schema. Validated at start (and by `npm run build`), so a bad
 * variable fails fast with its name instead of surfacing as a confusing error later.
 */
export const envSchema = z.object({
  ...engineEnvSchema.shape,
  ...awsEnvSchema.shape,
  NODE_ENV: z.enum(["development", "production", "test"]).default("production"),
  /** Listening port; SM_BATCH_WORKER_LISTEN_PORT wins over PORT, as the worker spec names it. */
  SM_BATCH_WORKER_LISTEN_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  PORT: z.coerce.number().int().min(0).max(65535).optional(),
  HOST: z.string().min(1).default("0.0.0.0"),
  /** Where the SQLite file and the local blob store live unless configured otherwise. */
  DATA_DIR: z.string().min(1).default("./data"),
  /** file:... (SQLite) or postgresql://... (PostgreSQL). Default: SQLite under DATA_DIR. */
  DATABASE_URL: z
    .string()
    .regex(/^(file:|sqlite:|postgres(ql)?:\/\/)/, "must start with file:, sqlite: or postgresql://")
    .optional(),
  /** Engine slots of the embedded worker (`--parallel N` on the command line wins). */
  PARALLEL: positiveInt.max(256).optional(),
  /** Finished top-level jobs kept; older ones are deleted with their outputs. 0 keeps all. */
  SM_BATCH_WORKER_MAX_JOB_HISTORY: z.coerce.number().int().min(0).default(0),
  /** bytes */
  MAX_UPLOAD_BYTES: positiveInt.default(2 * 1024 ** 3),
  /** bytes: an uploaded subtitle file (.srt) is parsed in memory, so it has its own, smaller limit. */
  MAX_SRT_BYTES: positiveInt.default(16 * 1024 * 1024),
  /** bytes: a tRPC request body (JSON); uploads stream through /api/uploads instead. */
  MAX_JSON_BODY_BYTES: positiveInt.default(4 * 1024 * 1024),
  /** bytes: a job's `config` as JSON; it is stored and returned with the job. */
  MAX_CONFIG_BYTES: positiveInt.default(64 * 1024),
  /** s: the longest media accepted, checked when the upload is probed (default 12 h). */
  MAX_AUDIO_SECONDS: positiveInt.default(12 * 3600),
  /** ms a blob no media row references is kept before the periodic sweep deletes it. */
  UNREFERENCED_BLOB_GRACE_MS: positiveInt.default(60 * 60_000),
  /** ms a request may take to arrive whole (headers and body); answering it is not counted. */
  HTTP_REQUEST_TIMEOUT_MS: positiveInt.default(60 * 60_000),
  /** ms a request body may go without a byte before the connection is closed. */
  HTTP_BODY_IDLE_TIMEOUT_MS: positiveInt.default(60_000),
  /** ms a running job's lease lasts without a heartbeat before it is presumed lost. */
  JOB_LEASE_MS: positiveInt.min(500).default(30_000),
  JOB_MAX_ATTEMPTS: positiveInt.max(100).default(3),
  /** ms before a job's second attempt after a transient failure; doubles per attempt (with jitter). */
  JOB_RETRY_BASE_MS: positiveInt.default(2_000),
  /** ms: the longest backoff between attempts. */
  JOB_RETRY_MAX_MS: positiveInt.default(5 * 60_000),
  /** ms between safety polls of the queue (events wake the scheduler; this catches what they miss). */
  JOB_POLL_INTERVAL_MS: positiveInt.min(50).default(2_000),
  /** ms SIGTERM waits for running jobs before putting them back in the queue; a second signal does at once. */
  SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).default(30_000),
  /** Conversions (ffmpeg) running at once in this process; with TRANSPORT=sqs they go to the workers instead. */
  MAX_CONVERT_CONCURRENCY: positiveInt.max(64).default(1),
  /** ms POST /transcribe-batch waits for the job before answering 504 with its job_name. */
  SYNC_TRANSCRIBE_TIMEOUT_MS: positiveInt.default(300_000),
  /** ms a single transcription may run before it is abandoned. */
  JOB_TIMEOUT_MS: positiveInt.default(2 * 60 * 60 * 1000),
  /**
   * Comma-separated API keys. When set, every API request needs `Authorization: Bearer <key>`.
   * `key:user` makes a user's key (the user sees only their own jobs and files); a key
   * without `:user` is an operator key (sees everything). Set but holding no key (" , ") is
   * refused: it would silently leave the API open.
   */
  API_KEYS: z
    .string()
    .optional()
    .transform((value, ctx): ApiKey[] => {
      if (value === undefined || value === "") return [];
      const entries = value
        .split(",")
        .map((entry) => entry.trim())
        .filter(Boolean);
      if (entries.length === 0) ctx.addIssue({ code: "custom", message: "holds no key (unset it to run without keys)" });
      const keys: ApiKey[] = [];
      for (const entry of entries) {
        const colon = entry.lastIndexOf(":");
        const key = colon === -1 ? entry : entry.slice(0, colon).trim();
        const userId = colon === -1 ? null : entry.slice(colon + 1).trim();
        if (!key) ctx.addIssue({ code: "custom", message: `an entry ("${entry.slice(0, 20)}") has no key before ":"` });
        else if (userId !== null && !USER_ID.test(userId)) ctx.addIssue({ code: "custom", message: `user names are 1-128 letters, digits, ".", "_", "@" or "-" (after ":" in an entry)` });
        else if (keys.some((known) => known.key === key)) ctx.addIssue({ code: "custom", message: "a key is listed twice" });
        else keys.push({ key, userId });
      }
      return keys;
    }),
  /**
   * Hosts (names or CIDRs, comma-separated) the server may fetch media from or call webhooks
   * on although they resolve to private, loopback, link-local or metadata addresses.
   */
  OUTBOUND_ALLOW_HOSTS: z
    .string()
    .default("")
    .transform((value) => value.split(",").map((host) => host.trim().toLowerCase()).filter(Boolean)),
  /** ms a media download (fetch_data, media_url, s3://) may take in all. */
  MEDIA_FETCH_TIMEOUT_MS: positiveInt.default(10 * 60_000),
  /** Signs every webhook body: `X-Webhook-Signature: sha256=<hex HMAC-SHA256 of the body>`. */
  WEBHOOK_SIGNING_SECRET: z.string().min(1).optional(),
  /** ms one webhook delivery attempt may take. */
  WEBHOOK_TIMEOUT_MS: positiveInt.default(10_000),
  /** ms before the second delivery attempt; doubles per attempt up to WEBHOOK_RETRY_MAX_MS. */
  WEBHOOK_RETRY_BASE_MS: positiveInt.default(10_000),
  WEBHOOK_RETRY_MAX_MS: positiveInt.default(15 * 60_000),
  /** ms after the first attempt that a webhook is still retried (at least an hour by default: a day). */
  WEBHOOK_GIVE_UP_AFTER_MS: positiveInt.default(24 * 3600_000),
  /**
   * POST /v2/jobs when its engines are busy: "reject" answers 503 (seed 000's worker), "queue"
   * accepts and queues the job (what clients of the vendor's SaaS expect).
   */
  V2_WHEN_BUSY: z.enum(["reject", "queue"]).default("reject"),
  /** How /v2 spells statuses: "auto" = lowercase for Bearer-authenticated clients, else uppercase. */
  V2_STATUS_STYLE: z.enum(["auto", "upper", "lower"]).default("auto"),
  /** Serve the Next.js dashboard from the same port (needs `npm run build`). */
  SERVE_UI: booleanString.default(true),
  /** Write every finished job's transcripts and log under this directory (`--all-formats`). */
  ALL_FORMATS_DIR: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
  /** Any OpenAI-compatible chat completions endpoint, for fix_srt. */
  OPENAI_BASE_URL: z.url().default("https://api.openai.com/v1"),
  OPENAI_API_KEY: z.string().min(1).optional(),
  /** The model fix_srt uses when a job names none. */
  LLM_MODEL: z.string().min(1).default("gpt-4o-mini"),
  /** LLM requests in flight at once, across every job and batch of this process. */
  MAX_LLM_CONCURRENCY: positiveInt.max(1000).default(4),
  /** ms one LLM request may take before it is abandoned and retried. */
  LLM_TIMEOUT_MS: positiveInt.default(120_000),
  /** Retries of a request after 429, 5xx, a timeout or a connection failure (backoff honours Retry-After). */
  LLM_MAX_RETRIES: z.coerce.number().int().min(0).max(20).default(5),
  /** in-process: the embedded engine slots run every task. sqs: tasks go to remote workers (gpu-worker/). */
  TRANSPORT: z.enum(["in-process", "sqs"]).default("in-process"),
  SQS_TASKS_QUEUE_URL: queueUrlSchema.optional(),
  SQS_RESULTS_QUEUE_URL: queueUrlSchema.optional(),
  /** The tasks queue's dead-letter queue: a task that lands there fails its job. */
  SQS_DLQ_URL: queueUrlSchema.optional(),
  /** With TRANSPORT=sqs: tasks in flight at once (the remote fleet's queue, not engines here). */
  SQS_MAX_IN_FLIGHT: positiveInt.max(100_000).default(1000),
  /** ms a task may wait in the SQS queue for a worker before its attempt is presumed lost and retried. */
  SQS_TASK_PICKUP_TIMEOUT_MS: positiveInt.default(6 * 60 * 60 * 1000),
  /** filesystem: DATA_DIR/blobs. s3: S3_BUCKET (workers in other machines need it). */
  BLOB_STORE: z.enum(["filesystem", "s3"]).default("filesystem"),
  S3_BUCKET: z.string().min(3).optional(),
  S3_PREFIX: z.string().default(""),
}).superRefine((e, ctx) => {
  if (e.TRANSPORT === "sqs") {
    for (const name of ["SQS_TASKS_QUEUE_URL", "SQS_RESULTS_QUEUE_URL", "SQS_DLQ_URL"] as const) {
      if (!e[name]) ctx.addIssue({ code: "custom", path: [name], message: "is required when TRANSPORT=sqs" });
    }
    if (e.BLOB_STORE !== "s3") ctx.addIssue({ code: "custom", path: ["BLOB_STORE"], message: "must be s3 when TRANSPORT=sqs (remote workers cannot read this machine's disk)" });
  }
  if (e.BLOB_STORE === "s3" && !e.S3_BUCKET) ctx.addIssue({ code: "custom", path: ["S3_BUCKET"], message: "is required when BLOB_STORE=s3" });
});

export type EnvInput = z.input<typeof envSchema>;

/** One entry of API_KEYS: a user's key, or an operator's (userId null). */
export type ApiKey = { key: string; userId: string | null };

/** Settings after parsing env and command line, with defaults resolved. */
export type AppConfig = EngineConfig & {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl: string;
  parallel: number;
  maxJobHistory: number;
  /** bytes */
  maxUploadBytes: number;
  /** bytes */
  maxSrtBytes: number;
  /** bytes */
  maxJsonBodyBytes: number;
  /** bytes */
  maxConfigBytes: number;
  maxAudioSeconds: number;
  http: { requestTimeoutMs: number; bodyIdleTimeoutMs: number };
  unreferencedBlobGraceMs: number;
  leaseMs: number;
  maxAttempts: number;
  retry: { baseMs: number; maxMs: number };
  pollIntervalMs: number;
  shutdownGraceMs: number;
  maxConvertConcurrency: number;
  syncTranscribeTimeoutMs: number;
  jobTimeoutMs: number;
  apiKeys: ApiKey[];
  outbound: { allowHosts: string[]; mediaFetchTimeoutMs: number };
  webhooks: { signingSecret: string | undefined; timeoutMs: number; retryBaseMs: number; retryMaxMs: number; giveUpAfterMs: number };
  v2WhenBusy: "reject" | "queue";
  v2StatusStyle: "auto" | "upper" | "lower";
  serveUi: boolean;
  allFormatsDir: string | undefined;
  logLevel: "debug" | "info" | "warn" | "error" | "silent";
  aws: AwsConfig;
  llm: { baseURL: string; apiKey: string | undefined; model: string; maxConcurrency: number; timeoutMs: number; maxRetries: number };
  /** null: the embedded transport. */
  sqs: { tasksQueueUrl: string; resultsQueueUrl: string; dlqUrl: string; maxInFlight: number; pickupTimeoutMs: number } | null;
  blobStore: { kind: "filesystem" } | { kind: "s3"; bucket: string; prefix: string };
};

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

type CliOverrides = { parallel?: number; allFormatsDir?: string };

/** Reads `--parallel N`, `--parallel=N`, `--all-formats [DIR]` and `--run-mode http`. */
export function parseCommandLine(argv: readonly string[]): CliOverrides {
  const overrides: CliOverrides = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    const [flag, inline] = arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    if (flag === "--parallel") {
      const raw = inline ?? argv[++i];
      const value = Number(raw);
      if (!Number.isInteger(value) || value < 1) throw new ConfigError(`--parallel must be a positive integer, got ${JSON.stringify(raw)}`);
      overrides.parallel = value;
    } else if (flag === "--all-formats") {
      const next = inline ?? (argv[i + 1] && !argv[i + 1]!.startsWith("--") ? argv[++i] : undefined);
      // The worker spec: "If omitted, defaults to /tmp/jobs".
      overrides.allFormatsDir = next ?? "/tmp/jobs";
    } else if (flag === "--run-mode") {
      const mode = inline ?? argv[++i];
      if (mode !== "http") throw new ConfigError(`--run-mode ${mode ?? ""} is not supported; only "http" is`);
    }
  }
  return overrides;
}

/** Validates the environment and merges command-line overrides. Throws ConfigError naming the bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env, argv: readonly string[] = process.argv.slice(2)): AppConfig {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(`Invalid environment:\n  ${describeEnvIssues(parsed.error)}`);
  }
  const e = parsed.data;
  const cli = parseCommandLine(argv);
  const dataDir = path.resolve(e.DATA_DIR);
  return {
    port: e.SM_BATCH_WORKER_LISTEN_PORT ?? e.PORT ?? 18000,
    host: e.HOST,
    dataDir,
    databaseUrl: e.DATABASE_URL ?? `file:${path.join(dataDir, "transcribe.db")}`,
    parallel: cli.parallel ?? e.PARALLEL ?? Math.min(4, os.availableParallelism()),
    maxJobHistory: e.SM_BATCH_WORKER_MAX_JOB_HISTORY,
    maxUploadBytes: e.MAX_UPLOAD_BYTES,
    maxSrtBytes: e.MAX_SRT_BYTES,
    maxJsonBodyBytes: e.MAX_JSON_BODY_BYTES,
    maxConfigBytes: e.MAX_CONFIG_BYTES,
    maxAudioSeconds: e.MAX_AUDIO_SECONDS,
    http: { requestTimeoutMs: e.HTTP_REQUEST_TIMEOUT_MS, bodyIdleTimeoutMs: e.HTTP_BODY_IDLE_TIMEOUT_MS },
    unreferencedBlobGraceMs: e.UNREFERENCED_BLOB_GRACE_MS,
    leaseMs: e.JOB_LEASE_MS,
    maxAttempts: e.JOB_MAX_ATTEMPTS,
    retry: { baseMs: e.JOB_RETRY_BASE_MS, maxMs: Math.max(e.JOB_RETRY_BASE_MS, e.JOB_RETRY_MAX_MS) },
    pollIntervalMs: e.JOB_POLL_INTERVAL_MS,
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
    maxConvertConcurrency: e.MAX_CONVERT_CONCURRENCY,
    syncTranscribeTimeoutMs: e.SYNC_TRANSCRIBE_TIMEOUT_MS,
    jobTimeoutMs: e.JOB_TIMEOUT_MS,
    ...engineConfigFrom(e, dataDir),
    apiKeys: e.API_KEYS,
    outbound: { allowHosts: e.OUTBOUND_ALLOW_HOSTS, mediaFetchTimeoutMs: e.MEDIA_FETCH_TIMEOUT_MS },
    webhooks: {
      signingSecret: e.WEBHOOK_SIGNING_SECRET,
      timeoutMs: e.WEBHOOK_TIMEOUT_MS,
      retryBaseMs: e.WEBHOOK_RETRY_BASE_MS,
      retryMaxMs: Math.max(e.WEBHOOK_RETRY_BASE_MS, e.WEBHOOK_RETRY_MAX_MS),
      giveUpAfterMs: e.WEBHOOK_GIVE_UP_AFTER_MS,
    },
    v2WhenBusy: e.V2_WHEN_BUSY,
    v2StatusStyle: e.V2_STATUS_STYLE,
    serveUi: e.SERVE_UI,
    allFormatsDir: cli.allFormatsDir ?? e.ALL_FORMATS_DIR,
    logLevel: e.LOG_LEVEL,
    aws: awsConfigFrom(e),
    llm: { baseURL: e.OPENAI_BASE_URL, apiKey: e.OPENAI_API_KEY, model: e.LLM_MODEL, maxConcurrency: e.MAX_LLM_CONCURRENCY, timeoutMs: e.LLM_TIMEOUT_MS, maxRetries: e.LLM_MAX_RETRIES },
    sqs:
      e.TRANSPORT === "sqs"
        ? { tasksQueueUrl: e.SQS_TASKS_QUEUE_URL!, resultsQueueUrl: e.SQS_RESULTS_QUEUE_URL!, dlqUrl: e.SQS_DLQ_URL!, maxInFlight: e.SQS_MAX_IN_FLIGHT, pickupTimeoutMs: e.SQS_TASK_PICKUP_TIMEOUT_MS }
        : null,
    blobStore: e.BLOB_STORE === "s3" ? { kind: "s3", bucket: e.S3_BUCKET!, prefix: e.S3_PREFIX } : { kind: "filesystem" },
  };
}
