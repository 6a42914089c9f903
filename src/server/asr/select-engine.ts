import { pathToFileURL } from "node:url";
import path from "node:path";
import type { AppConfig } from "../env";
import type { EngineFactory } from "./engine";
import { createPocketSphinxEngineFactory } from "./pocketsphinx-engine";

/**
 * Picks the engine factory from configuration. ASR_ENGINE_MODULE loads a custom engine
 * (a module exporting `createEngineFactory(): EngineFactory`); it is how the control-plane
 * benchmark plugs in an engine that returns at once, and how operators add their own.
 */
export async function selectEngineFactory(config: Pick<AppConfig, "asrEngine" | "asrEngineModule">): Promise<EngineFactory> {
  if (config.asrEngineModule) {
    const url = pathToFileURL(path.resolve(config.asrEngineModule)).href;
    const mod = (await import(url)) as { createEngineFactory?: () => EngineFactory };
    if (typeof mod.createEngineFactory !== "function") {
      throw new Error(`ASR_ENGINE_MODULE ${config.asrEngineModule} does not export createEngineFactory()`);
    }
    return mod.createEngineFactory();
  }
  // "auto" resolves to PocketSphinx until the ONNX Whisper engine lands.
  return createPocketSphinxEngineFactory();
}
