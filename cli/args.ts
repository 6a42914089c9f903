import path from "node:path";
import { parseArgs } from "node:util";
import { CONNECTION_OPTIONS } from "./connection";

export const USAGE = `transcribe-cli: bulk uploads and downloads against a transcription server

  transcribe-cli upload <files|dirs...> [--op transcribe|srt|fix|convert] [--language en]
                 [--format srt|vtt|txt|json|json-v2] [--convert-to mp4|m4a|mp3|wav]
                 [--concurrency 4] [--wait] [--out DIR] [--server URL] [--api-key KEY]
  transcribe-cli status <job-id>        [--server URL] [--api-key KEY]
  transcribe-cli list [--status S] [--limit N] [--server URL] [--api-key KEY]
  transcribe-cli download <job-id|batch-id> [--format srt] [--out DIR] [--server URL] [--api-key KEY]

--server defaults to $TRANSCRIBE_SERVER or http://127.0.0.1:18000; --api-key to $TRANSCRIBE_API_KEY
(needed when the server sets API_KEYS). With --out, outputs mirror the input folders (relative
to the folder the inputs share). A re-run of upload skips files already done (state in
<out or cwd>/.transcribe-cli.json); Ctrl-C stops it cleanly (exit 130) for a later re-run.
download of a batch writes every finished file's output, named after the file.`;

export const OPERATIONS = {
  transcribe: { batch: "batch_transcribe", accepts: "media", defaultFormat: "txt" },
  srt: { batch: "batch_generate_srt", accepts: "media", defaultFormat: "srt" },
  fix: { batch: "batch_fix_srt", accepts: "srt", defaultFormat: "srt" },
  convert: { batch: "batch_convert", accepts: "media", defaultFormat: "" },
} as const;
export type Operation = keyof typeof OPERATIONS;
export const FORMATS = ["srt", "vtt", "txt", "json", "json-v2"] as const;
export type Format = (typeof FORMATS)[number];
export const CONVERT_FORMATS = ["mp4", "m4a", "mp3", "wav"] as const;
export type ConvertFormat = (typeof CONVERT_FORMATS)[number];

export function isFormat(value: string): value is Format {
  return (FORMATS as readonly string[]).includes(value);
}

export function isConvertFormat(value: string): value is ConvertFormat {
  return (CONVERT_FORMATS as readonly string[]).includes(value);
}

/** upload's flags, checked. */
export type UploadArgs = {
  op: Operation;
  language: string;
  format: Format;
  convertTo: ConvertFormat;
  concurrency: number;
  wait: boolean;
  /** --out, resolved; null without it. */
  outDir: string | null;
  /** The files and folders named. */
  paths: string[];
};

export function parseUploadArgs(args: string[]): UploadArgs {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      op: { type: "string", default: "transcribe" },
      language: { type: "string", default: "en" },
      format: { type: "string" },
      "convert-to": { type: "string", default: "mp4" },
      concurrency: { type: "string", default: "4" },
      wait: { type: "boolean", default: false },
      out: { type: "string" },
      ...CONNECTION_OPTIONS,
    },
  });
  if (!Object.hasOwn(OPERATIONS, values.op)) throw new Error(`--op must be one of ${Object.keys(OPERATIONS).join(", ")}`);
  const op = values.op as Operation;
  const formatValue = values.format ?? OPERATIONS[op].defaultFormat;
  if (op !== "convert" && op !== "fix" && !isFormat(formatValue)) throw new Error(`--format must be one of ${FORMATS.join(", ")}`);
  const format: Format = isFormat(formatValue) ? formatValue : "srt";
  const convertTo = values["convert-to"];
  if (!isConvertFormat(convertTo)) throw new Error(`--convert-to must be one of ${CONVERT_FORMATS.join(", ")}`);
  if (positionals.length === 0) throw new Error("upload needs files or folders");
  const outDir = values.out ? path.resolve(values.out) : null;
  return { op, language: values.language, format, convertTo, concurrency: Math.max(1, Number(values.concurrency) || 1), wait: values.wait, outDir, paths: positionals };
}

/** download's flags, checked. */
export type DownloadArgs = { id: string; format: Format; outDir: string };

export function parseDownloadArgs(args: string[]): DownloadArgs {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { format: { type: "string", default: "srt" }, out: { type: "string", default: "." }, ...CONNECTION_OPTIONS } });
  const id = positionals[0];
  if (!id) throw new Error("download needs a job id or a batch id");
  if (!isFormat(values.format)) throw new Error(`--format must be one of ${FORMATS.join(", ")}`);
  return { id, format: values.format, outDir: values.out };
}

/** status's job id. */
export function parseStatusArgs(args: string[]): { id: string } {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: { ...CONNECTION_OPTIONS } });
  if (!positionals[0]) throw new Error("status needs a job id");
  return { id: positionals[0] };
}

/** list's flags. */
export function parseListArgs(args: string[]): { status: string | undefined; limit: number } {
  const { values } = parseArgs({ args, options: { status: { type: "string" }, limit: { type: "string", default: "20" }, ...CONNECTION_OPTIONS } });
  return { status: values.status, limit: Number(values.limit) };
}
