import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as ort from "onnxruntime-node";
import { gatherRows, gatherSelfKv, stepAttentionMask } from "../../src/server/asr/whisper/kv-rows";

/** [rows × heads × length × headDim] with value = 1000·row + 100·head + 10·position + dim + 1. */
function kv(rows: number, heads: number, length: number, headDim: number): ort.Tensor {
  const data = new Float32Array(rows * heads * length * headDim);
  for (let r = 0; r < rows; r++) for (let h = 0; h < heads; h++) for (let p = 0; p < length; p++) for (let d = 0; d < headDim; d++) data[((r * heads + h) * length + p) * headDim + d] = 1000 * r + 100 * h + 10 * p + d + 1;
  return new ort.Tensor("float32", data, [rows, heads, length, headDim]);
}

describe("K/V row surgery for continuous batching", () => {
  it("right-aligns each row's last `length` positions, padding zero in front", () => {
    const old = new Map([["k", kv(2, 2, 4, 2)]]);
    const joiner = new Map([["k", kv(1, 2, 3, 2)]]);
    const out = gatherSelfKv(["k"], [{ tensors: old, row: 1, length: 4 }, { tensors: joiner, row: 0, length: 3 }, { tensors: old, row: 0, length: 2 }], 4).get("k")!;
    assert.deepEqual(out.dims, [3, 2, 4, 2]);
    const at = (r: number, h: number, p: number, d: number) => (out.data as Float32Array)[((r * 2 + h) * 4 + p) * 2 + d];
    // Row 0: old row 1 whole.
    assert.equal(at(0, 1, 0, 1), 1000 + 100 + 0 + 1 + 1);
    // Row 1: the joiner's 3 positions at 1..3, position 0 padding.
    assert.equal(at(1, 0, 0, 0), 0);
    assert.equal(at(1, 0, 1, 0), 1);
    assert.equal(at(1, 1, 3, 1), 100 + 20 + 1 + 1);
    // Row 2: old row 0's last 2 positions (2, 3) at 2..3.
    assert.equal(at(2, 0, 1, 0), 0);
    assert.equal(at(2, 0, 2, 0), 21);
    assert.equal(at(2, 1, 3, 1), 100 + 30 + 1 + 1);
  });

  it("refuses a row longer than the tensor it goes into", () => {
    const old = new Map([["k", kv(1, 1, 4, 1)]]);
    assert.throws(() => gatherSelfKv(["k"], [{ tensors: old, row: 0, length: 4 }], 3), /does not fit/);
  });

  it("copies whole rows in the order asked, from several tensors", () => {
    const a = new Map([["c", kv(2, 1, 2, 1)]]);
    const b = new Map([["c", kv(1, 1, 2, 1)]]);
    const out = gatherRows(["c"], [{ tensors: b, row: 0 }, { tensors: a, row: 1 }, { tensors: a, row: 1 }]).get("c")!;
    assert.deepEqual(out.dims, [3, 1, 2, 1]);
    assert.deepEqual([...(out.data as Float32Array)], [1, 11, 1001, 1011, 1001, 1011]);
  });

  it("masks each row's padding and shows its real keys and the new token", () => {
    assert.deepEqual([...stepAttentionMask([3, 1], 3)], [1n, 1n, 1n, 1n, 0n, 0n, 1n, 1n]);
  });
});
