import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { loadWhisperModelFiles, ModelLoadError } from "../../src/server/asr/whisper/model-files";
import { makeTempDir, type TempDir } from "../helpers/fixtures";
import { identityModel } from "../helpers/tiny-onnx";

/** A valid ONNX file (opset 14): the loader reads each graph's opsets, not just its name. */
const GRAPH = identityModel(14);

const CONFIG = { model_type: "whisper", vocab_size: 1768, d_model: 64, encoder_layers: 2, decoder_layers: 2, encoder_attention_heads: 4, decoder_attention_heads: 4, num_mel_bins: 80, max_source_positions: 1500, max_target_positions: 448 };
const GENERATION = { decoder_start_token_id: 258, eos_token_id: 257, no_timestamps_token_id: 266 };
const PREPROCESSOR = { feature_size: 80, sampling_rate: 16000, hop_length: 160, n_fft: 400, n_samples: 480000 };

function tokenizerJson(): unknown {
  const specials = ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|translate|>", "<|transcribe|>", "<|notimestamps|>", "<|0.00|>", "<|0.02|>"];
  return { model: { type: "BPE", vocab: { a: 0 }, merges: [] }, added_tokens: specials.map((content, i) => ({ id: 257 + i, content, special: true })) };
}

/** Writes a model directory; `files` maps relative paths to contents (objects become JSON). */
async function writeModel(dir: string, files: Record<string, unknown>): Promise<string> {
  await fs.rm(dir, { recursive: true, force: true });
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(dir, name);
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, typeof content === "string" || Buffer.isBuffer(content) ? content : JSON.stringify(content));
  }
  return dir;
}

const complete = () => ({
  "config.json": CONFIG,
  "generation_config.json": GENERATION,
  "preprocessor_config.json": PREPROCESSOR,
  "tokenizer.json": tokenizerJson(),
  "onnx/encoder_model.onnx": GRAPH,
  "onnx/decoder_model_merged.onnx": GRAPH,
});

describe("loadWhisperModelFiles", () => {
  let temp: TempDir;
  before(async () => {
    temp = await makeTempDir("model-files-");
  });
  after(() => temp.cleanup());

  it("resolves a merged-decoder model and reads its features and special ids", async () => {
    const model = await loadWhisperModelFiles(await writeModel(temp.file("merged"), complete()));
    assert.equal(model.decoder.kind, "merged");
    assert.deepEqual(model.features, { featureSize: 80, samplingRate: 16000, hopLength: 160, nFft: 400, nSamples: 480000 });
    assert.equal(model.tokenizer.special.startOfTranscript, 258);
  });

  it("falls back to split decoders and picks the requested variant", async () => {
    const files: Record<string, unknown> = { ...complete(), "onnx/decoder_model_fp16.onnx": GRAPH, "onnx/decoder_with_past_model_fp16.onnx": GRAPH, "onnx/encoder_model_fp16.onnx": GRAPH };
    delete files["onnx/decoder_model_merged.onnx"];
    const model = await loadWhisperModelFiles(await writeModel(temp.file("split"), files), "fp16");
    assert.equal(model.decoder.kind, "split");
    assert.match(model.encoder, /encoder_model_fp16\.onnx$/);
  });

  const broken: [string, (files: Record<string, unknown>) => void, RegExp][] = [
    ["no config.json", (f) => delete f["config.json"], /has no config\.json/],
    ["another architecture", (f) => (f["config.json"] = { ...CONFIG, model_type: "wav2vec2" }), /holds a "wav2vec2" model, not a Whisper model/],
    ["no tokenizer", (f) => delete f["tokenizer.json"], /no readable tokenizer\.json/],
    ["a tokenizer that is not Whisper's", (f) => (f["tokenizer.json"] = { model: { type: "BPE", vocab: { a: 0 } }, added_tokens: [] }), /not a Whisper tokenizer/],
    ["mismatched mel bins", (f) => (f["preprocessor_config.json"] = { ...PREPROCESSOR, feature_size: 128 }), /128 mel bins but config\.json expects 80/],
    ["no encoder", (f) => delete f["onnx/encoder_model.onnx"], /no onnx\/encoder_model\.onnx/],
    ["no decoder", (f) => delete f["onnx/decoder_model_merged.onnx"], /neither onnx\/decoder_model_merged\.onnx/],
    ["corrupt JSON", (f) => (f["generation_config.json"] = "{oops"), /generation_config\.json .* is not valid JSON/],
  ];
  for (const [name, breakIt, message] of broken) {
    it(`refuses a model with ${name}`, async () => {
      const files = complete();
      breakIt(files);
      await assert.rejects(loadWhisperModelFiles(await writeModel(temp.file(name.replace(/\W+/g, "-")), files)), (error: unknown) => error instanceof ModelLoadError && message.test(error.message));
    });
  }
});
