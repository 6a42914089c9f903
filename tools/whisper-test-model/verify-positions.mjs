// Checks decoders exported with `--decoder-inputs positions` (attention_mask,
// position_ids) against the optimum export of the same weights, with
// onnxruntime-node (CPU), for every variant present, merged and split:
//
//   (a) alone: one row at a time, attention_mask all ones and
//       position_ids = past + arange(new): logits == the optimum graph's;
//   (b) batch of 2: row 0 has a 9-token prompt, row 1 a 4-token prompt
//       left-padded by 5 (mask 0, garbage token ids / garbage K/V in the pad,
//       its own unshifted position_ids): each row's logits == that row alone
//       through the optimum graph. Three steps: the first (no past, padded
//       prompt), a cached step with 3 new tokens, then a cached step with 1.
//
//   node tools/whisper-test-model/verify-positions.mjs [positionsDir] [optimumDir]
//     (defaults tests/fixtures/whisper-tiny-positions, tests/fixtures/whisper-tiny)
//
// fp32 must stay below 1e-4 max abs logit diff or the exit code is 1; fp16 and
// int8 are reported only (int8 quantizes activations per tensor at run time,
// so in a batch the other row and the padding shift the scale).
import { createRequire } from "node:module";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

const require = createRequire(import.meta.url);
const ort = require("onnxruntime-node");

const posDir = process.argv[2] ?? "tests/fixtures/whisper-tiny-positions";
const optDir = process.argv[3] ?? "tests/fixtures/whisper-tiny";
const config = JSON.parse(readFileSync(join(posDir, "config.json"), "utf8"));
const heads = config.decoder_attention_heads;
const dModel = config.d_model;
const headDim = dModel / heads;
const layers = config.decoder_layers;
const vocab = config.vocab_size;
const encLen = config.max_source_positions;
const TOLERANCE = 1e-4;

// ---- deterministic random numbers (mulberry32 + Box-Muller)
let seed = 20240611;
function rand() {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const randn = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
const randnArray = (n, scale = 1) => Float32Array.from({ length: n }, () => scale * randn());
const randomTokens = (n) => Array.from({ length: n }, () => Math.floor(rand() * vocab));
const range = (from, to) => Array.from({ length: to - from }, (_, i) => from + i);

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

// Host-side tensors are {data: Float32Array, dims}; converted at the session boundary.
const host = (t) => ({ data: t.type === "float16" ? Float32Array.from(t.data, fromHalf) : Float32Array.from(t.data), dims: t.dims });
const floatTensor = (type, { data, dims }) =>
  type === "float16" ? new ort.Tensor("float16", Uint16Array.from(data, toHalf), dims) : new ort.Tensor("float32", Float32Array.from(data), dims);
const int64 = (rows) => new ort.Tensor("int64", BigInt64Array.from(rows.flat().map(BigInt)), [rows.length, rows[0].length]);

// Row b of a [B, ...] tensor, as a [1, ...] tensor.
function row({ data, dims }, b) {
  const size = data.length / dims[0];
  return { data: data.slice(b * size, (b + 1) * size), dims: [1, ...dims.slice(1)] };
}
// Stacks [1, ...] tensors of equal shape into [B, ...].
function stack(ts) {
  const out = new Float32Array(ts.reduce((n, t) => n + t.data.length, 0));
  let off = 0;
  for (const t of ts) out.set(t.data, off), (off += t.data.length);
  return { data: out, dims: [ts.length, ...ts[0].dims.slice(1)] };
}
// [1, heads, s, headDim] -> [1, heads, pad + s, headDim] with random values in the pad.
function leftPadKV({ data, dims }, pad) {
  const [, h, s, d] = dims;
  const out = new Float32Array(h * (pad + s) * d);
  for (let i = 0; i < h; i++) {
    out.set(randnArray(pad * d, 10), i * (pad + s) * d);
    out.set(data.subarray(i * s * d, (i + 1) * s * d), (i * (pad + s) + pad) * d);
  }
  return { data: out, dims: [1, h, pad + s, d] };
}
function maxDiff(a, b) {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
// Logits of batch row b, positions [from, from + n), vs a [1, n, vocab] single-row result.
function logitsDiff(batchLogits, b, from, alone) {
  const [, seq, v] = batchLogits.dims;
  const n = alone.dims[1];
  const start = (b * seq + from) * v;
  return maxDiff(batchLogits.data.subarray(start, start + n * v), alone.data);
}

const kvParts = ["decoder.key", "decoder.value", "encoder.key", "encoder.value"];
const pastName = (i, part) => `past_key_values.${i}.${part}`;

async function session(dir, file) {
  const path = join(dir, "onnx", file);
  return existsSync(path) ? ort.InferenceSession.create(path, { executionProviders: ["cpu"] }) : null;
}

// One decoder step. `past` null: first step (split: decoder_model; merged:
// use_cache_branch false and empty past); else {name: host tensor} for every
// past_key_values.* input. mask/pos are fed only where the graph declares them.
async function step(model, { ids, enc, past, mask, pos }) {
  const { type, useMerged } = model;
  const batch = ids.length;
  const feeds = { input_ids: int64(ids), encoder_hidden_states: floatTensor(type, enc) };
  if (mask) feeds.attention_mask = int64(mask);
  if (pos) feeds.position_ids = int64(pos);
  for (let i = 0; i < layers; i++)
    for (const part of kvParts) {
      const name = pastName(i, part);
      feeds[name] = past ? floatTensor(type, past[name]) : floatTensor(type, { data: new Float32Array(0), dims: [batch, heads, 0, headDim] });
    }
  feeds.use_cache_branch = new ort.Tensor("bool", [past !== null], [1]);
  const s = useMerged ? model.merged : past ? model.withPast : model.first;
  const picked = {};
  for (const name of s.inputNames) {
    if (!(name in feeds)) throw new Error(`no feed for ${name}`);
    picked[name] = feeds[name];
  }
  const out = await s.run(picked);
  const result = { logits: host(out.logits) };
  for (let i = 0; i < layers; i++)
    for (const part of kvParts) {
      const name = `present.${i}.${part}`;
      // a cached step's encoder K/V are absent (split) or placeholders (merged): keep the past ones
      result[pastName(i, part)] = past && part.startsWith("encoder") ? past[pastName(i, part)] : host(out[name]);
    }
  return result;
}
const pastOf = (res) => Object.fromEntries(Object.entries(res).filter(([k]) => k.startsWith("past_key_values.")));

// ---- the two rows
const sot = config.decoder_start_token_id;
const rows = [
  { prompt: [sot, ...randomTokens(8)], next: randomTokens(3), last: randomTokens(1) }, // 9 + 3 + 1
  { prompt: [sot, ...randomTokens(3)], next: randomTokens(3), last: randomTokens(1) }, // 4 + 3 + 1
];
const PAD = rows[0].prompt.length - rows[1].prompt.length; // 5: row 1 is left-padded by 5 keys
const refEnc = join(optDir, "reference", "encoder_output.f32");
const encRow1 = existsSync(refEnc)
  ? (() => {
      const buf = readFileSync(refEnc);
      return { data: new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length)), dims: [1, encLen, dModel] };
    })()
  : { data: randnArray(encLen * dModel), dims: [1, encLen, dModel] };
rows[0].enc = { data: randnArray(encLen * dModel), dims: [1, encLen, dModel] };
rows[1].enc = encRow1;

// Row alone: prompt, then 3 tokens cached, then 1 token cached. withInputs: feed mask/positions.
async function alone(model, r, withInputs) {
  const ones = (n) => [Array(n).fill(1)];
  const L = r.prompt.length;
  const s1 = await step(model, { ids: [r.prompt], enc: r.enc, past: null,
    mask: withInputs && ones(L), pos: withInputs && [range(0, L)] });
  const s2 = await step(model, { ids: [r.next], enc: r.enc, past: pastOf(s1),
    mask: withInputs && ones(L + 3), pos: withInputs && [range(L, L + 3)] });
  const s3 = await step(model, { ids: [r.last], enc: r.enc, past: pastOf(s2),
    mask: withInputs && ones(L + 4), pos: withInputs && [range(L + 3, L + 4)] });
  return [s1, s2, s3];
}

async function batched(model, ref) {
  const [r0, r1] = rows;
  const L0 = r0.prompt.length, L1 = r1.prompt.length;
  const enc = stack([r0.enc, r1.enc]);
  const padMask = (n) => [...Array(PAD).fill(0), ...Array(n).fill(1)];
  // first step: row 1's prompt left-padded with garbage token ids (masked out)
  const s1 = await step(model, {
    ids: [r0.prompt, [...randomTokens(PAD), ...r1.prompt]], enc, past: null,
    mask: [Array(L0).fill(1), padMask(L1)],
    pos: [range(0, L0), [...Array(PAD).fill(0), ...range(0, L1)]],
  });
  // cached step, 3 new tokens: the past is each row's own cache from running it
  // alone; row 1's is left-padded by 5 keys of garbage K/V
  const past = {};
  for (let i = 0; i < layers; i++)
    for (const part of kvParts) {
      const name = pastName(i, part);
      const own1 = ref[1][0][name];
      past[name] = stack([ref[0][0][name], part.startsWith("decoder") ? leftPadKV(own1, PAD) : own1]);
    }
  const s2 = await step(model, {
    ids: [r0.next, r1.next], enc, past,
    mask: [Array(L0 + 3).fill(1), padMask(L1 + 3)],
    pos: [range(L0, L0 + 3), range(L1, L1 + 3)],
  });
  // cached step, 1 new token, on the batch's own cache (garbage still in row 1's pad)
  const s3 = await step(model, {
    ids: [r0.last, r1.last], enc, past: pastOf(s2),
    mask: [Array(L0 + 4).fill(1), padMask(L1 + 4)],
    pos: [[L0 + 3], [L1 + 3]],
  });
  return [
    ["first step (padded prompt)", Math.max(logitsDiff(s1.logits, 0, 0, ref[0][0].logits), logitsDiff(s1.logits, 1, PAD, ref[1][0].logits)),
      logitsDiff(s1.logits, 1, PAD, ref[1][0].logits)],
    ["cached step, 3 tokens", Math.max(logitsDiff(s2.logits, 0, 0, ref[0][1].logits), logitsDiff(s2.logits, 1, 0, ref[1][1].logits)),
      logitsDiff(s2.logits, 1, 0, ref[1][1].logits)],
    ["cached step, 1 token", Math.max(logitsDiff(s3.logits, 0, 0, ref[0][2].logits), logitsDiff(s3.logits, 1, 0, ref[1][2].logits)),
      logitsDiff(s3.logits, 1, 0, ref[1][2].logits)],
  ];
}

let failed = false;
let checked = 0;
const fmt = (x) => x.toExponential(2);
for (const variant of ["", "_fp16", "_quantized"]) {
  const name = variant || "_fp32";
  const strict = variant === "";
  const type = variant === "_fp16" ? "float16" : "float32";
  const load = async (dir) => ({
    merged: await session(dir, `decoder_model_merged${variant}.onnx`),
    first: await session(dir, `decoder_model${variant}.onnx`),
    withPast: await session(dir, `decoder_with_past_model${variant}.onnx`),
  });
  const opt = await load(optDir);
  const pos = await load(posDir);
  for (const merged of [true, false]) {
    const has = (m) => (merged ? m.merged : m.first && m.withPast);
    if (!has(opt) || !has(pos)) continue;
    const label = `${name} ${merged ? "merged" : "split"}`;
    const optModel = { ...opt, type, useMerged: merged };
    const posModel = { ...pos, type, useMerged: merged };
    if (pos[merged ? "merged" : "first"].inputNames.indexOf("position_ids") < 0)
      throw new Error(`${posDir}: ${label} has no position_ids input (not a --decoder-inputs positions export?)`);
    const ref = [await alone(optModel, rows[0], false), await alone(optModel, rows[1], false)];
    // (a) one row, all-ones mask, arange positions
    const kinds = ["first step", "cached step, 3 tokens", "cached step, 1 token"];
    const mine = [await alone(posModel, rows[0], true), await alone(posModel, rows[1], true)];
    for (let k = 0; k < 3; k++) {
      let d = 0;
      for (let r = 0; r < 2; r++) d = Math.max(d, maxDiff(mine[r][k].logits.data, ref[r][k].logits.data));
      if (strict && !(d < TOLERANCE)) failed = true;
      console.log(`${label}: (a) all-ones mask vs optimum, ${kinds[k]}: max abs logit diff ${fmt(d)}`);
    }
    // (b) padded batch of 2 vs each row alone
    for (const [what, both, row1] of await batched(posModel, ref)) {
      if (strict && !(both < TOLERANCE)) failed = true;
      console.log(`${label}: (b) batch of 2 (row 1 left-padded by ${PAD}) vs alone, ${what}: row 1 ${fmt(row1)}, both rows ${fmt(both)}`);
    }
    checked++;
  }
}
if (checked === 0) failed = true;
console.log(failed ? "FAIL" : "OK");
process.exit(failed ? 1 : 0);
