import fs from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { readOpsetImports, unsupportedOpset } from "./onnx-opsets";
import { loadWhisperTokenizer, type WhisperTokenizer } from "./tokenizer";
import type { LogMelConfig } from "./log-mel";

/** config.json fields the engine needs (Hugging Face WhisperConfig). */
const configSchema = z.looseObject({
  model_type: z.string(),
  vocab_size: z.number().int().positive(),
  d_model: z.number().int().positive(),
  encoder_layers: z.number().int().positive(),
  decoder_layers: z.number().int().positive(),
  encoder_attention_heads: z.number().int().positive(),
  decoder_attention_heads: z.number().int().positive(),
  num_mel_bins: z.number().int().positive(),
  max_source_positions: z.number().int().positive(),
  max_target_positions: z.number().int().positive(),
  /** Width of the median filter over the alignment matrix (word timestamps); HF's default is 7. */
  median_filter_width: z.number().int().positive().default(7),
});
export type WhisperConfig = z.infer<typeof configSchema>;

/** generation_config.json: decoding defaults and the ids of this vocabulary. */
const generationSchema = z.looseObject({
  decoder_start_token_id: z.number().int(),
  eos_token_id: z.number().int(),
  no_timestamps_token_id: z.number().int().optional(),
  is_multilingual: z.boolean().optional(),
  lang_to_id: z.record(z.string(), z.number().int()).optional(),
  task_to_id: z.record(z.string(), z.number().int()).optional(),
  suppress_tokens: z.array(z.number().int()).default([]),
  begin_suppress_tokens: z.array(z.number().int()).default([]),
  max_length: z.number().int().positive().default(448),
  /** [layer, head] pairs whose cross-attention follows the audio (word timestamps); absent in some exports. */
  alignment_heads: z.array(z.tuple([z.number().int().min(0), z.number().int().min(0)])).optional(),
});
export type WhisperGenerationConfig = z.infer<typeof generationSchema>;

/** preprocessor_config.json (WhisperFeatureExtractor). */
const preprocessorSchema = z.looseObject({
  feature_size: z.number().int().positive(),
  sampling_rate: z.number().int().positive(),
  hop_length: z.number().int().positive(),
  n_fft: z.number().int().positive(),
  n_samples: z.number().int().positive(),
});

/** Which weights to load: fp32 (`*.onnx`), fp16 (`*_fp16.onnx`) or int8 (`*_quantized.onnx`). */
export type ModelVariant = "fp32" | "fp16" | "quantized";

export type DecoderFiles = { kind: "merged"; merged: string } | { kind: "split"; decoder: string; withPast: string };

export type WhisperModelFiles = {
  dir: string;
  config: WhisperConfig;
  generation: WhisperGenerationConfig;
  features: LogMelConfig;
  tokenizer: WhisperTokenizer;
  encoder: string;
  decoder: DecoderFiles;
};

/** A model directory that cannot be used, with the reason in words. */
export class ModelLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ModelLoadError";
  }
}

async function readJson<T>(dir: string, name: string, schema: z.ZodType<T>): Promise<T> {
  let text: string;
  try {
    text = await fs.readFile(path.join(dir, name), "utf8");
  } catch {
    throw new ModelLoadError(`The model directory ${dir} has no ${name}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ModelLoadError(`${name} in ${dir} is not valid JSON`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new ModelLoadError(`${name} in ${dir} is missing fields: ${parsed.error.issues.map((issue) => issue.path.join(".") || issue.message).join(", ")}`);
  return parsed.data;
}

async function exists(file: string): Promise<boolean> {
  try {
    return (await fs.stat(file)).isFile();
  } catch {
    return false;
  }
}

/** A corrupt graph file or one whose opset this onnxruntime cannot run fails here, not in a slot. */
async function checkOpsets(dir: string, file: string): Promise<void> {
  const name = path.relative(dir, file);
  let problem: string | null;
  try {
    problem = unsupportedOpset(await readOpsetImports(file));
  } catch (error) {
    throw new ModelLoadError(`${name} cannot be used: ${(error as Error).message}`);
  }
  if (problem) throw new ModelLoadError(`${name} cannot be used: ${problem}`);
}

const SUFFIX: Record<ModelVariant, string> = { fp32: "", fp16: "_fp16", quantized: "_quantized" };

/**
 * Validates a Whisper model in the Hugging Face ONNX export layout and resolves its files.
 * Every problem (missing file, other architecture, no tokenizer, …) is a ModelLoadError
 * with a message an operator can act on, raised at start rather than inside a job.
 */
export async function loadWhisperModelFiles(dir: string, variant: ModelVariant = "fp32"): Promise<WhisperModelFiles> {
  const config = await readJson(dir, "config.json", configSchema);
  if (config.model_type !== "whisper") throw new ModelLoadError(`${dir} holds a "${config.model_type}" model, not a Whisper model`);
  const generation = await readJson(dir, "generation_config.json", generationSchema);
  const preprocessor = await readJson(dir, "preprocessor_config.json", preprocessorSchema);
  if (preprocessor.feature_size !== config.num_mel_bins) {
    throw new ModelLoadError(`preprocessor_config.json has ${preprocessor.feature_size} mel bins but config.json expects ${config.num_mel_bins}`);
  }
  let tokenizerJson: unknown;
  try {
    tokenizerJson = JSON.parse(await fs.readFile(path.join(dir, "tokenizer.json"), "utf8"));
  } catch {
    throw new ModelLoadError(`The model directory ${dir} has no readable tokenizer.json`);
  }
  let tokenizer: WhisperTokenizer;
  try {
    tokenizer = loadWhisperTokenizer(tokenizerJson);
  } catch (error) {
    throw new ModelLoadError((error as Error).message);
  }

  const onnxDir = path.join(dir, "onnx");
  const file = (base: string) => path.join(onnxDir, `${base}${SUFFIX[variant]}.onnx`);
  const encoder = file("encoder_model");
  if (!(await exists(encoder))) throw new ModelLoadError(`The model has no ${path.relative(dir, encoder)} (variant ${variant})`);
  let decoder: DecoderFiles;
  if (await exists(file("decoder_model_merged"))) {
    decoder = { kind: "merged", merged: file("decoder_model_merged") };
  } else if ((await exists(file("decoder_model"))) && (await exists(file("decoder_with_past_model")))) {
    decoder = { kind: "split", decoder: file("decoder_model"), withPast: file("decoder_with_past_model") };
  } else {
    throw new ModelLoadError(`The model has neither onnx/decoder_model_merged${SUFFIX[variant]}.onnx nor onnx/decoder_model${SUFFIX[variant]}.onnx with onnx/decoder_with_past_model${SUFFIX[variant]}.onnx`);
  }

  const graphs = decoder.kind === "merged" ? [encoder, decoder.merged] : [encoder, decoder.decoder, decoder.withPast];
  for (const graph of graphs) await checkOpsets(dir, graph);

  return {
    dir,
    config,
    generation,
    features: {
      featureSize: preprocessor.feature_size,
      samplingRate: preprocessor.sampling_rate,
      hopLength: preprocessor.hop_length,
      nFft: preprocessor.n_fft,
      nSamples: preprocessor.n_samples,
    },
    tokenizer,
    encoder,
    decoder,
  };
}
