import path from "node:path";
import { z } from "zod";
import { booleanString, positiveInt } from "../env-types";

/**
 * The speech-engine settings, shared by the control plane (embedded slots) and the
 * standalone worker (gpu-worker/), so both read the same variables the same way.
 */
export const engineEnvSchema = z.object({
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
  /**
   * Threads per ONNX operator. Whisper runs one batching engine per process, so by default it
   * takes every core; PocketSphinx ignores it (a process per slot).
   */
  ASR_THREADS: positiveInt.max(64).optional(),
  /** Whisper: chunks decoded together at most (rows of the continuous batch) and encoded together per join. */
  ASR_BATCH_SIZE: positiveInt.max(64).default(8),
  /** 1 = greedy decoding; 2–5 = beam search. */
  ASR_BEAM_SIZE: positiveInt.max(5).default(1),
  /** Whisper: keep the encoder's activations in onnxruntime's arena (faster; holds one chunk's activations). */
  ASR_ENCODER_ARENA: booleanString.default(true),
  /**
   * Whisper: decode a window again at rising temperatures when its text is too repetitive or
   * too unlikely (openai-whisper's fallback, temperatures 0.2 … 1.0); false decodes once at 0.
   */
  ASR_TEMPERATURE_FALLBACK: booleanString.default(true),
  /** Whisper: prompt each 30 s window with the text decoded before it (openai-whisper's condition_on_previous_text). */
  ASR_CONDITION_ON_PREVIOUS_TEXT: booleanString.default(false),
  /** Path of a module exporting `createEngineFactory(): EngineFactory`; replaces ASR_ENGINE. */
  ASR_ENGINE_MODULE: z.string().min(1).optional(),
});

export type EngineConfig = {
  asrEngine: "auto" | "pocketsphinx" | "whisper-onnx";
  asrModelDir: string | undefined;
  asrModel: string | undefined;
  asrModelVariant: "fp32" | "fp16" | "quantized";
  asrModelCache: string;
  asrProvider: "cpu" | "cuda";
  /** Unset: every core (see ASR_THREADS). */
  asrThreads: number | undefined;
  asrBatchSize: number;
  asrBeamSize: number;
  asrEncoderArena: boolean;
  asrTemperatureFallback: boolean;
  asrConditionOnPreviousText: boolean;
  asrEngineModule: string | undefined;
};

export function engineConfigFrom(e: z.infer<typeof engineEnvSchema>, dataDir: string): EngineConfig {
  return {
    asrEngine: e.ASR_ENGINE,
    asrModelDir: e.ASR_MODEL_DIR,
    asrModel: e.ASR_MODEL,
    asrModelVariant: e.ASR_MODEL_VARIANT,
    asrModelCache: path.resolve(e.ASR_MODEL_CACHE ?? path.join(dataDir, "models")),
    asrProvider: e.ASR_PROVIDER,
    asrThreads: e.ASR_THREADS,
    asrBatchSize: e.ASR_BATCH_SIZE,
    asrBeamSize: e.ASR_BEAM_SIZE,
    asrEncoderArena: e.ASR_ENCODER_ARENA,
    asrTemperatureFallback: e.ASR_TEMPERATURE_FALLBACK,
    asrConditionOnPreviousText: e.ASR_CONDITION_ON_PREVIOUS_TEXT,
    asrEngineModule: e.ASR_ENGINE_MODULE,
  };
}
