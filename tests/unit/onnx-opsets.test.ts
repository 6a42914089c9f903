import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import * as ort from "onnxruntime-node";
import { ModelLoadError, loadWhisperModelFiles } from "../../src/server/asr/whisper/model-files";
import { readOpsetImports, SUPPORTED_OPSETS, unsupportedOpset } from "../../src/server/asr/whisper/onnx-opsets";
import { makeTempDir, type TempDir } from "../helpers/fixtures";
import { identityModel } from "../helpers/tiny-onnx";

const MODEL_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../fixtures/whisper-tiny");

describe("ONNX opset checks", () => {
  let temp: TempDir;
  before(async () => {
    temp = await makeTempDir();
  });
  after(async () => {
    await temp.cleanup();
  });

  it("reads a model's opset_import without loading its graph", async () => {
    assert.deepEqual(await readOpsetImports(path.join(MODEL_DIR, "onnx", "encoder_model.onnx")), [{ domain: "", version: 14 }]);
    const file = path.join(temp.dir, "identity-21.onnx");
    await fs.writeFile(file, identityModel(21));
    assert.deepEqual(await readOpsetImports(file), [{ domain: "", version: 21 }]);
  });

  it("matches what the bundled onnxruntime accepts: the highest supported opset loads, the next does not", async () => {
    const highest = await ort.InferenceSession.create(identityModel(SUPPORTED_OPSETS.max, 10));
    await highest.release();
    await assert.rejects(ort.InferenceSession.create(identityModel(SUPPORTED_OPSETS.max + 1, 10)), /[Oo]pset/);
    assert.equal(unsupportedOpset([{ domain: "", version: SUPPORTED_OPSETS.max }]), null);
    assert.match(unsupportedOpset([{ domain: "", version: SUPPORTED_OPSETS.max + 1 }]) ?? "", /opset 27/);
    assert.match(unsupportedOpset([{ domain: "", version: 5 }]) ?? "", /opset 5/);
  });

  it("rejects a model directory whose encoder needs a newer opset, at load, naming the file and the opset", async () => {
    const copy = path.join(temp.dir, "whisper-opset-99");
    await fs.cp(MODEL_DIR, copy, { recursive: true });
    const encoder = path.join(copy, "onnx", "encoder_model.onnx");
    const bytes = await fs.readFile(encoder);
    // The file ends with opset_import { version: 14 }: field 8, length 2, field 2 varint, 14.
    assert.deepEqual([...bytes.subarray(-4)], [0x42, 0x02, 0x10, 14]);
    bytes[bytes.length - 1] = 99;
    await fs.writeFile(encoder, bytes);
    await assert.rejects(loadWhisperModelFiles(copy, "fp32"), (error: unknown) => {
      assert.ok(error instanceof ModelLoadError);
      assert.match(error.message, /onnx\/encoder_model\.onnx cannot be used: it uses ONNX opset 99, and onnxruntime-node here runs opsets 7 to 26/);
      return true;
    });
  });

  it("rejects a truncated graph file at load instead of crashing a slot", async () => {
    const copy = path.join(temp.dir, "whisper-truncated");
    await fs.cp(MODEL_DIR, copy, { recursive: true });
    const decoder = path.join(copy, "onnx", "decoder_model_merged.onnx");
    const bytes = await fs.readFile(decoder);
    await fs.writeFile(decoder, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await assert.rejects(loadWhisperModelFiles(copy, "fp32"), /decoder_model_merged\.onnx cannot be used: it is truncated/);
  });
});
