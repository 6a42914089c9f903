import os from "node:os";
import path from "node:path";
import { z } from "zod";

/**
 * The one environment schema. Validated at start (and by `npm run build`), so a bad
 * variable fails fast with its name instead of surfacing as a confusing error later.
 */
const booleanString = z
  .enum(["true", "false", "1", "0", "yes", "no"])
  .transform((value) => value === "true" || value === "1" || value === "yes");

const positiveInt = z.coerce.number().int().positive();

export const envSchema = z.object({
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
  /** ms a running job's lease lasts without a heartbeat before it is presumed lost. */
  JOB_LEASE_MS: positiveInt.min(500).default(30_000),
  JOB_MAX_ATTEMPTS: positiveInt.max(100).default(3),
  /** ms POST /transcribe-batch waits for the job before answering 504 with its job_name. */
  SYNC_TRANSCRIBE_TIMEOUT_MS: positiveInt.default(300_000),
  /** ms a single transcription may run before it is abandoned. */
  JOB_TIMEOUT_MS: positiveInt.default(2 * 60 * 60 * 1000),
  /** auto: Whisper when a model is configured or installed, else PocketSphinx when installed. */
  ASR_ENGINE: z.enum(["auto", "pocketsphinx", "whisper-onnx"]).default("auto"),
  /** A Whisper ONNX model directory (Hugging Face export layout). */
  ASR_MODEL_DIR: z.string().min(1).optional(),
  /** A model installed in the cache by `npm run models -- download <name>`. */
  ASR_MODEL: z.string().min(1).optional(),
  ASR_MODEL_VARIANT: z.enum(["fp32", "fp16", "quantized"]).default("fp32"),
  /** Where `npm run models` installs models (default DATA_DIR/models). */
  ASR_MODEL_CACHE: z.string().min(1).optional(),
  /** cuda where onnxruntime's CUDA provider is installed (falls back to cpu otherwise). */
  ASR_PROVIDER: z.enum(["cpu", "cuda"]).default("cpu"),
  /** Threads per ONNX operator in each engine slot. */
  ASR_THREADS: positiveInt.max(64).default(1),
  /** Chunks per encoder/decoder batch. */
  ASR_BATCH_SIZE: positiveInt.max(64).default(4),
  /** 1 = greedy decoding; 2–5 = beam search. */
  ASR_BEAM_SIZE: positiveInt.max(5).default(1),
  /** Path of a module exporting `createEngineFactory(): EngineFactory`; replaces ASR_ENGINE. */
  ASR_ENGINE_MODULE: z.string().min(1).optional(),
  /** Comma-separated API keys. When set, every API request needs `Authorization: Bearer <key>`. */
  API_KEYS: z
    .string()
    .optional()
    .transform((value) =>
      value
        ? value
            .split(",")
            .map((key) => key.trim())
            .filter(Boolean)
        : [],
    ),
  /** How /v2 spells statuses: "auto" = lowercase for Bearer-authenticated clients, else uppercase. */
  V2_STATUS_STYLE: z.enum(["auto", "upper", "lower"]).default("auto"),
  /** Serve the Next.js dashboard from the same port (needs `npm run build`). */
  SERVE_UI: booleanString.default(true),
  /** Write every finished job's transcripts and log under this directory (`--all-formats`). */
  ALL_FORMATS_DIR: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
});

export type EnvInput = z.input<typeof envSchema>;

/** Settings after parsing env and command line, with defaults resolved. */
export type AppConfig = {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl: string;
  parallel: number;
  maxJobHistory: number;
  /** bytes */
  maxUploadBytes: number;
  leaseMs: number;
  maxAttempts: number;
  syncTranscribeTimeoutMs: number;
  jobTimeoutMs: number;
  asrEngine: "auto" | "pocketsphinx" | "whisper-onnx";
  asrModelDir: string | undefined;
  asrModel: string | undefined;
  asrModelVariant: "fp32" | "fp16" | "quantized";
  asrModelCache: string;
  asrProvider: "cpu" | "cuda";
  asrThreads: number;
  asrBatchSize: number;
  asrBeamSize: number;
  asrEngineModule: string | undefined;
  apiKeys: string[];
  v2StatusStyle: "auto" | "upper" | "lower";
  serveUi: boolean;
  allFormatsDir: string | undefined;
  logLevel: "debug" | "info" | "warn" | "error" | "silent";
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
    const lines = parsed.error.issues.map((issue) => `${issue.path.join(".") || "(env)"}: ${issue.message}`);
    throw new ConfigError(`Invalid environment:\n  ${lines.join("\n  ")}`);
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
    leaseMs: e.JOB_LEASE_MS,
    maxAttempts: e.JOB_MAX_ATTEMPTS,
    syncTranscribeTimeoutMs: e.SYNC_TRANSCRIBE_TIMEOUT_MS,
    jobTimeoutMs: e.JOB_TIMEOUT_MS,
    asrEngine: e.ASR_ENGINE,
    asrModelDir: e.ASR_MODEL_DIR,
    asrModel: e.ASR_MODEL,
    asrModelVariant: e.ASR_MODEL_VARIANT,
    asrModelCache: path.resolve(e.ASR_MODEL_CACHE ?? path.join(dataDir, "models")),
    asrProvider: e.ASR_PROVIDER,
    asrThreads: e.ASR_THREADS,
    asrBatchSize: e.ASR_BATCH_SIZE,
    asrBeamSize: e.ASR_BEAM_SIZE,
    asrEngineModule: e.ASR_ENGINE_MODULE,
    apiKeys: e.API_KEYS,
    v2StatusStyle: e.V2_STATUS_STYLE,
    serveUi: e.SERVE_UI,
    allFormatsDir: cli.allFormatsDir ?? e.ALL_FORMATS_DIR,
    logLevel: e.LOG_LEVEL,
  };
}
