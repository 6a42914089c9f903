// Manages the local Whisper model cache: `npm run models -- <command>`.
//
//   download <owner/name> [--variant fp32|fp16|quantized] [--revision main] [--force]
//       Downloads one variant from the Hugging Face hub (resumable; run again after an
//       interruption), verifies every file and installs it atomically.
//   list                      Installed models.
//   path <owner/name> [--variant …]
//       Prints the installed model's directory (usable as ASR_MODEL_DIR).
//
// Env: ASR_MODEL_CACHE (default $DATA_DIR/models), HF_ENDPOINT (default https://huggingface.co),
// HF_TOKEN (private or gated repositories). Progress goes to stderr, results to stdout;
// exit status 0 on success, 1 on any failure, with a one-line message and no stack trace.
import { parseArgs } from "node:util";
import { InvalidModelNameError, listInstalledModels, MODEL_VARIANTS, modelCacheDir, resolveModelDir } from "../src/server/asr/whisper/model-cache";
import { downloadModel, hubEndpoint, ModelDownloadError } from "../src/server/asr/whisper/model-download";
import type { ModelVariant } from "../src/server/asr/whisper/model-files";

const USAGE = `Usage: npm run models -- <command>

  download <owner/name> [--variant fp32|fp16|quantized] [--revision <rev>] [--force]
  list
  path <owner/name> [--variant fp32|fp16|quantized]

Env: ASR_MODEL_CACHE or DATA_DIR (cache location), HF_ENDPOINT, HF_TOKEN`;

/** A mistake on the command line: print it with the usage. */
class UsageError extends Error {}

function parseVariant(value: string | undefined): ModelVariant {
  if (value === undefined) return "fp32";
  const variant = MODEL_VARIANTS.find((candidate) => candidate === value);
  if (!variant) throw new UsageError(`--variant must be one of ${MODEL_VARIANTS.join(", ")}, not "${value}"`);
  return variant;
}

function oneName(positionals: string[], command: string): string {
  if (positionals.length !== 1 || !positionals[0]) throw new UsageError(`${command} takes one model name, e.g. onnx-community/whisper-base`);
  return positionals[0];
}

function formatMb(bytes: number): string {
  return bytes < 1e6 ? `${(bytes / 1e3).toFixed(1)} kB` : `${(bytes / 1e6).toFixed(1)} MB`;
}

/**
 * Percentage lines on stderr: on a terminal one line per file rewritten in place, otherwise
 * (logs, CI) a line every 25% so the output stays short.
 */
function progressPrinter(): (file: string, bytes: number, total: number) => void {
  const tty = process.stderr.isTTY;
  const step = tty ? 1 : 25;
  let current = "";
  let lastShown = -1;
  return (file, bytes, total) => {
    const percent = total === 0 ? 100 : Math.floor((bytes / total) * 100);
    if (file !== current) {
      current = file;
      lastShown = -1;
    }
    const shown = Math.floor(percent / step) * step;
    if (shown === lastShown) return;
    lastShown = shown;
    const line = `${file} ${String(percent).padStart(3)}% (${formatMb(bytes)} of ${formatMb(total)})`;
    process.stderr.write(tty ? `\r\x1b[K${line}${percent === 100 ? "\n" : ""}` : `${line}\n`);
  };
}

async function download(positionals: string[], values: { variant?: string; revision?: string; force?: boolean }): Promise<void> {
  const repo = oneName(positionals, "download");
  const variant = parseVariant(values.variant);
  const cacheDir = modelCacheDir();
  const endpoint = hubEndpoint();
  const controller = new AbortController();
  // Ctrl-C stops the transfer cleanly; the part files stay for the next run to resume.
  const onSigint = () => controller.abort();
  process.once("SIGINT", onSigint);
  process.stderr.write(`Downloading ${repo} (variant ${variant}) from ${endpoint} into ${cacheDir}\n`);
  try {
    const result = await downloadModel({
      repo,
      revision: values.revision,
      variant,
      cacheDir,
      endpoint,
      token: process.env.HF_TOKEN || undefined,
      force: values.force,
      onProgress: progressPrinter(),
      signal: controller.signal,
    });
    const total = result.manifest.files.reduce((sum, file) => sum + file.size, 0);
    process.stderr.write(result.upToDate ? `Already installed and up to date (${formatMb(total)})\n` : `Installed ${result.manifest.files.length} files (${formatMb(total)})\n`);
    process.stdout.write(`${result.dir}\n`);
  } catch (error) {
    if (controller.signal.aborted) throw new Error("Interrupted; run the same command again to resume");
    throw error;
  } finally {
    process.off("SIGINT", onSigint);
  }
}

async function list(): Promise<void> {
  const cacheDir = modelCacheDir();
  const models = await listInstalledModels(cacheDir);
  if (models.length === 0) {
    process.stderr.write(`No models installed in ${cacheDir}\n`);
    return;
  }
  for (const { dir, manifest } of models) {
    const size = manifest.files.reduce((sum, file) => sum + file.size, 0);
    process.stdout.write(`${manifest.repo}\t${manifest.variant}\t${manifest.revision}\t${formatMb(size)}\t${manifest.downloaded_at}\t${dir}\n`);
  }
}

async function printPath(positionals: string[], values: { variant?: string }): Promise<void> {
  const dir = await resolveModelDir({ modelName: oneName(positionals, "path"), variant: parseVariant(values.variant), cacheDir: modelCacheDir() });
  process.stdout.write(`${dir}\n`);
}

async function main(argv: string[]): Promise<void> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      variant: { type: "string" },
      revision: { type: "string" },
      force: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || command === "help") {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (command === "download") return download(rest, values);
  if (command === "list") return list();
  if (command === "path") return printPath(rest, values);
  throw new UsageError(command ? `Unknown command "${command}"` : "No command given");
}

try {
  await main(process.argv.slice(2));
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  // On a terminal the progress line may still be open; start the message on a fresh line.
  process.stderr.write(`${process.stderr.isTTY ? "\n" : ""}models: ${message}\n`);
  // parseArgs reports unknown options as TypeError with a code; those are usage mistakes too.
  const isUsage = error instanceof UsageError || (error instanceof Error && "code" in error && String(error.code).startsWith("ERR_PARSE_ARGS"));
  if (isUsage) process.stderr.write(`\n${USAGE}\n`);
  else if (!(error instanceof ModelDownloadError || error instanceof InvalidModelNameError) && process.env.DEBUG) console.error(error);
  process.exitCode = 1;
}
