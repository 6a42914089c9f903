// Checks the exported ONNX graphs against the PyTorch reference with
// onnxruntime-node (CPU): encoder output, and greedy tokens for the merged and
// split decoders, with and without the KV cache, for every variant present.
//
//   node tools/whisper-test-model/verify-onnx.mjs [modelDir]   (default tests/fixtures/whisper-tiny)
//
// fp32 must match (encoder max abs diff <= 1e-4, tokens exact) or the exit code
// is 1. fp16/int8 results are reported only: rounding may legitimately flip a
// random model's argmax. Graphs exported with `--decoder-inputs positions` get
// an all-ones attention_mask and position_ids = past + arange(new) (see
// verify-positions.mjs for padded rows).
import { createRequire } from "node:module";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

const require = createRequire(import.meta.url);
const ort = require("onnxruntime-node");

const dir = process.argv[2] ?? "tests/fixtures/whisper-tiny";
const refDir = join(dir, "reference");
const ref = JSON.parse(readFileSync(join(refDir, "reference.json"), "utf8"));
const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
const heads = config.decoder_attention_heads;
const headDim = config.d_model / heads;
const layers = config.decoder_layers;
const ENCODER_TOLERANCE = 1e-4;

function readF32(file) {
  const buf = readFileSync(join(refDir, file));
  const out = new Float32Array(buf.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = buf.readFloatLE(i * 4);
  return out;
}

// ---- float16 helpers (Node 20 has no Float16Array)
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function toHalf(v) {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  let exp = ((x >>> 23) & 0xff) - 127 + 15;
  let mant = x & 0x7fffff;
  if (exp >= 31) return sign | 0x7c00;
  if (exp <= 0) {
    if (exp < -10) return sign;
    mant = (mant | 0x800000) >> (1 - exp);
    return sign | ((mant + 0x1000) >> 13);
  }
  const h = sign | (exp << 10) | (mant >> 13);
  return h + ((mant & 0x1fff) > 0x1000 || ((mant & 0x1fff) === 0x1000 && (h & 1)) ? 1 : 0);
}
function fromHalf(h) {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}
const toFloat32 = (t) => (t.type === "float16" ? Float32Array.from(t.data, fromHalf) : t.data);

function floatType(session, name) {
  const meta = session.inputMetadata?.find?.((m) => m.name === name);
  return meta?.type === "float16" ? "float16" : "float32";
}
function floatTensor(type, data, dims) {
  return type === "float16"
    ? new ort.Tensor("float16", Uint16Array.from(data, toHalf), dims)
    : new ort.Tensor("float32", Float32Array.from(data), dims);
}
const ids = (tokens) => new ort.Tensor("int64", BigInt64Array.from(tokens.map(BigInt)), [1, tokens.length]);
const range = (from, to) => Array.from({ length: to - from }, (_, i) => from + i);

function lastArgmax(logits) {
  const data = toFloat32(logits);
  const vocab = logits.dims[2];
  const off = (logits.dims[1] - 1) * vocab;
  let best = 0;
  for (let i = 1; i < vocab; i++) if (data[off + i] > data[off + best]) best = i;
  return best;
}

const pastNames = (i) => ["decoder.key", "decoder.value", "encoder.key", "encoder.value"].map((s) => `${i}.${s}`);

// Feeds only what the graph declares (decoder_with_past has no encoder_hidden_states).
async function run(session, feeds) {
  const picked = {};
  for (const name of session.inputNames) {
    if (!(name in feeds)) throw new Error(`no feed for ${name}`);
    picked[name] = feeds[name];
  }
  return session.run(picked);
}

function emptyPast(type) {
  const feeds = {};
  for (let i = 0; i < layers; i++)
    for (const n of pastNames(i)) feeds[`past_key_values.${n}`] = floatTensor(type, [], [1, heads, 0, headDim]);
  return feeds;
}

// mode: {merged: bool, cached: bool}
async function greedy(dec, encOut, prompt, steps, { merged, cached }) {
  const tokens = [...prompt];
  const type = floatType(dec.first, "encoder_hidden_states");
  let cache = null; // past_key_values.* feeds
  for (let s = 0; s < steps; s++) {
    const useCache = cached && cache !== null;
    const feeds = {
      input_ids: ids(useCache ? tokens.slice(-1) : tokens),
      encoder_hidden_states: encOut,
      ...(useCache ? cache : emptyPast(type)),
      use_cache_branch: new ort.Tensor("bool", [useCache], [1]),
      // only fed to graphs that declare them (--decoder-inputs positions)
      attention_mask: ids(tokens.map(() => 1)),
      position_ids: ids(useCache ? [tokens.length - 1] : range(0, tokens.length)),
    };
    const session = merged ? dec.merged : useCache ? dec.withPast : dec.first;
    const out = await run(session, feeds);
    tokens.push(lastArgmax(out.logits));
    if (cached) {
      const next = {};
      for (let i = 0; i < layers; i++) {
        for (const n of pastNames(i)) {
          // Cross-attention K/V come from the first step only; later steps' encoder
          // "present" outputs are absent (split) or a pass-through (merged).
          const keepOld = useCache && n.includes("encoder");
          next[`past_key_values.${n}`] = keepOld ? cache[`past_key_values.${n}`] : out[`present.${n}`];
        }
      }
      cache = next;
    }
  }
  return tokens.slice(prompt.length);
}

async function maybeSession(file) {
  const path = join(dir, "onnx", file);
  return existsSync(path) ? ort.InferenceSession.create(path, { executionProviders: ["cpu"] }) : null;
}

const mel = readF32(ref.log_mel.file);
const encRef = readF32(ref.encoder_output.file);
let failed = false;
const report = [];
for (const variant of ["", "_fp16", "_quantized"]) {
  const encoder = await maybeSession(`encoder_model${variant}.onnx`);
  if (!encoder) continue;
  const name = variant || "_fp32";
  const { last_hidden_state: encOut } = await encoder.run({
    input_features: floatTensor(floatType(encoder, "input_features"), mel, ref.log_mel.shape),
  });
  const encData = toFloat32(encOut);
  let maxDiff = 0;
  for (let i = 0; i < encRef.length; i++) maxDiff = Math.max(maxDiff, Math.abs(encData[i] - encRef[i]));
  const strict = variant === "";
  if (strict && !(maxDiff <= ENCODER_TOLERANCE)) failed = true;
  report.push(`${name}: encoder max abs diff ${maxDiff.toExponential(2)} (input ${encOut.type})`);

  const dec = {
    merged: await maybeSession(`decoder_model_merged${variant}.onnx`),
    first: await maybeSession(`decoder_model${variant}.onnx`),
    withPast: await maybeSession(`decoder_with_past_model${variant}.onnx`),
  };
  dec.first ??= dec.merged; // only used for its input types when split files are absent
  const modes = [
    ["merged uncached", { merged: true, cached: false }, dec.merged],
    ["merged cached", { merged: true, cached: true }, dec.merged],
    ["split uncached", { merged: false, cached: false }, dec.first !== dec.merged && dec.first],
    ["split cached", { merged: false, cached: true }, dec.withPast],
  ];
  for (const g of ref.greedy) {
    for (const [label, mode, present] of modes) {
      if (!present) continue;
      const got = await greedy(dec, encOut, g.prompt, g.steps, mode);
      const same = got.filter((t, i) => t === g.tokens[i]).length;
      const exact = same === g.tokens.length;
      if (strict && !exact) failed = true;
      report.push(`${name}: ${g.name} ${label}: ${exact ? "MATCH" : `${same}/${g.tokens.length} tokens match`}` +
        (exact ? "" : ` got [${got}]`));
    }
  }
}
console.log(report.join("\n"));
console.log(failed ? "FAIL" : "OK");
process.exit(failed ? 1 : 0);
