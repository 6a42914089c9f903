import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { AppConfig } from "../env";
import { PermanentJobError } from "../errors";
import type { EngineFactory } from "./engine";
import { findExecutable } from "../media/run-process";
import { createPocketSphinxEngineFactory } from "./pocketsphinx-engine";
import { resolveModelDir } from "./whisper/model-cache";
import { loadWhisperModelFiles } from "./whisper/model-files";
import { DEFAULT_WHISPER_OPTIONS, type WhisperEngineOptions } from "./whisper/whisper-engine";
import { createThreadedEngineFactory } from "./worker/threaded-engine";

type EngineConfig = Pick<AppConfig, "asrEngine" | "asrEngineModule" | "asrModelDir" | "asrModel" | "asrModelVariant" | "asrProvider" | "asrThreads" | "asrBatchSize" | "asrBeamSize" | "asrEncoderArena" | "asrTemperatureFallback" | "asrConditionOnPreviousText" | "asrModelCache">;

const HOW_TO_GET_A_MODEL =
  "set ASR_MODEL_DIR to a Whisper ONNX export, or run `npm run models -- download onnx-community/whisper-base` and set ASR_MODEL=onnx-community/whisper-base, or install PocketSphinx (apt-get install pocketsphinx pocketsphinx-en-us)";

/**
 * A factory that fails every slot with `message`: the server still starts, /live reports
 * the reason, and jobs fail at once with it (retrying cannot help).
 */
function unavailable(message: string): EngineFactory {
  return async () => {
    throw new PermanentJobError(message);
  };
}

/** The Whisper model directory from ASR_MODEL_DIR or ASR_MODEL, validated now; null when none is configured. */
async function whisperModelDir(config: EngineConfig): Promise<string | null> {
  if (!config.asrModelDir && !config.asrModel) return null;
  const dir = await resolveModelDir({
    ...(config.asrModelDir ? { modelDir: config.asrModelDir } : {}),
    ...(config.asrModel ? { modelName: config.asrModel } : {}),
    variant: config.asrModelVariant,
    cacheDir: config.asrModelCache,
  });
  // A broken model (missing files, another architecture, no tokenizer) fails here, at start.
  await loadWhisperModelFiles(dir, config.asrModelVariant);
  return dir;
}

function whisperFactory(config: EngineConfig, modelDir: string): EngineFactory {
  const options: WhisperEngineOptions = {
    ...DEFAULT_WHISPER_OPTIONS,
    modelDir: path.resolve(modelDir),
    variant: config.asrModelVariant,
    provider: config.asrProvider,
    // One engine serves every slot (sharedBatching), so it may use every core.
    intraOpThreads: config.asrThreads ?? os.availableParallelism(),
    batchSize: config.asrBatchSize,
    beamSize: config.asrBeamSize,
    encoderArena: config.asrEncoderArena,
    ...(config.asrTemperatureFallback ? {} : { temperatures: [0] }),
    conditionOnPreviousText: config.asrConditionOnPreviousText,
  };
  // One worker thread holds the model and serves every slot (continuous batching across
  // jobs), so decoding never blocks the HTTP event loop and PARALLEL costs no memory.
  return createThreadedEngineFactory({ module: new URL("./whisper/whisper-engine.ts", import.meta.url).href, options });
}

/**
 * Picks the engine from configuration:
 * - ASR_ENGINE_MODULE: a custom engine (a module exporting `createEngineFactory()`);
 * - whisper-onnx: the model from ASR_MODEL_DIR / ASR_MODEL (errors if there is none);
 * - pocketsphinx: Debian's PocketSphinx;
 * - auto: Whisper when a model is configured, else PocketSphinx when installed, else every
 *   job fails with a message saying how to get a model.
 */
export async function selectEngineFactory(config: EngineConfig): Promise<EngineFactory> {
  if (config.asrEngineModule) {
    const url = pathToFileURL(path.resolve(config.asrEngineModule)).href;
    const mod = (await import(url)) as { createEngineFactory?: () => EngineFactory };
    if (typeof mod.createEngineFactory !== "function") throw new Error(`ASR_ENGINE_MODULE ${config.asrEngineModule} does not export createEngineFactory()`);
    return mod.createEngineFactory();
  }
  if (config.asrEngine === "pocketsphinx") return createPocketSphinxEngineFactory();
  let modelDir: string | null;
  try {
    modelDir = await whisperModelDir(config);
  } catch (error) {
    return unavailable(`The Whisper model cannot be used: ${(error as Error).message}`);
  }
  if (modelDir) return whisperFactory(config, modelDir);
  if (config.asrEngine === "whisper-onnx") return unavailable(`ASR_ENGINE=whisper-onnx needs a model: ${HOW_TO_GET_A_MODEL}`);
  if (await findExecutable("pocketsphinx_continuous")) return createPocketSphinxEngineFactory();
  return unavailable(`No speech engine is available: ${HOW_TO_GET_A_MODEL}`);
}
