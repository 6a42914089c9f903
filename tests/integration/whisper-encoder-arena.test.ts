import assert from "node:assert/strict";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { engineEnvSchema } from "../../src/server/asr/engine-env";
import { loadWhisperModelFiles } from "../../src/server/asr/whisper/model-files";
import { WhisperSessions } from "../../src/server/asr/whisper/whisper-sessions";

const MODEL_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../fixtures/whisper-tiny-positions");

/** Minor page faults of the third encoder run (the first two settle allocations). */
async function faultsPerEncode(encoderArena: boolean | undefined): Promise<number> {
  const files = await loadWhisperModelFiles(MODEL_DIR, "fp32");
  const sessions = await WhisperSessions.create(files, { provider: "cpu", intraOpThreads: 1, ...(encoderArena === undefined ? {} : { encoderArena }) });
  try {
    const features = new Float32Array(files.features.featureSize * 3000).fill(0.1);
    await sessions.encode(features, 1);
    await sessions.encode(features, 1);
    const before = process.resourceUsage().minorPageFault;
    await sessions.encode(features, 1);
    return process.resourceUsage().minorPageFault - before;
  } finally {
    await sessions.close();
  }
}

describe("the Whisper encoder's memory arena (ASR_ENCODER_ARENA)", () => {
  it("keeps the encoder's activations between runs by default, and maps them afresh each run when turned off", async () => {
    // The tiny fixture's attention maps are 4 heads × 1500² floats = 36 MB per layer: mapped
    // from the system on every run without the arena (about 9,000 faults a layer).
    const kept = await faultsPerEncode(undefined);
    const mapped = await faultsPerEncode(false);
    assert.ok(kept < 2_000, `with the arena (the default): ${kept} faults per run`);
    assert.ok(mapped > 5_000, `without the arena: ${mapped} faults per run`);
  });

  it("reads ASR_ENCODER_ARENA (default true)", () => {
    assert.equal(engineEnvSchema.parse({}).ASR_ENCODER_ARENA, true);
    assert.equal(engineEnvSchema.parse({ ASR_ENCODER_ARENA: "false" }).ASR_ENCODER_ARENA, false);
    assert.throws(() => engineEnvSchema.parse({ ASR_ENCODER_ARENA: "maybe" }));
  });
});
