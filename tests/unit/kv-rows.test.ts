import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as ort from "onnxruntime-node";
import { gatherRows, gatherSelfKv, KvRowSlab, stepAttentionMask } from "../../src/server/asr/whisper/kv-rows";

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

  describe("KvRowSlab: cross-attention rows kept in place", () => {
    /** Row r of a [rows × 1 × 2 × 1] tensor from kv(): [1000·r + 1, 1000·r + 11]. */
    const rowOf = (tensor: ort.Tensor, row: number) => [...(tensor.data as Float32Array).subarray(row * 2, row * 2 + 2)];
    const tag = (tensor: ort.Tensor, row: number) => ((tensor.data as Float32Array)[row * 2]! - 1) / 1000;

    it("places joining rows, then moves survivors down over a leaver's row, in the same buffer", () => {
      const slab = new KvRowSlab(["c"], 4);
      const joined = new Map([["c", kv(3, 1, 2, 1)]]);
      const first = slab.arrange([0, 1, 2].map((row) => ({ tensors: joined, row }))).get("c")!;
      assert.deepEqual(first.dims, [3, 1, 2, 1]);
      assert.deepEqual([0, 1, 2].map((row) => tag(first, row)), [0, 1, 2]);
      // Row 0 leaves; rows 1 and 2 move down; a joiner (its row 0 tagged 0 → use a second tensor) takes row 2.
      const joiner = new Map([["c", kv(2, 1, 2, 1)]]);
      const next = slab.arrange([{ tensors: slab.tensors, row: 1 }, { tensors: slab.tensors, row: 2 }, { tensors: joiner, row: 1 }]).get("c")!;
      assert.deepEqual([0, 1, 2].map((row) => tag(next, row)), [1, 2, 1]);
      assert.deepEqual(rowOf(next, 2), [1001, 1011]);
      assert.equal((next.data as Float32Array).buffer, (first.data as Float32Array).buffer, "rearranged in place, not gathered into a new tensor");
    });

    it("widens a row into several (a beam) while moving the rows after it up", () => {
      const slab = new KvRowSlab(["c"], 4);
      const joined = new Map([["c", kv(2, 1, 2, 1)]]);
      slab.arrange([0, 1].map((row) => ({ tensors: joined, row })));
      const rows = slab.arrange([0, 0, 0, 1].map((row) => ({ tensors: slab.tensors, row }))).get("c")!;
      assert.deepEqual([0, 1, 2, 3].map((row) => tag(rows, row)), [0, 0, 0, 1]);
    });

    it("swaps rows (a cycle) through a parked copy", () => {
      const slab = new KvRowSlab(["c", "d"], 3);
      const joined = new Map([["c", kv(3, 1, 2, 1)], ["d", kv(3, 1, 2, 1)]]);
      slab.arrange([0, 1, 2].map((row) => ({ tensors: joined, row })));
      const out = slab.arrange([2, 0, 1].map((row) => ({ tensors: slab.tensors, row })));
      for (const name of ["c", "d"]) assert.deepEqual([0, 1, 2].map((row) => tag(out.get(name)!, row)), [2, 0, 1]);
      assert.notEqual((out.get("d")!.data as Float32Array).byteOffset, 0, "tensors share one buffer, each at its own offset");
    });

    it("refuses more rows than its capacity and rows of another shape; drops its buffers on release", () => {
      const slab = new KvRowSlab(["c"], 2);
      const three = new Map([["c", kv(3, 1, 2, 1)]]);
      assert.throws(() => slab.arrange([0, 1, 2].map((row) => ({ tensors: three, row }))), /do not fit a batch of 2/);
      slab.arrange([{ tensors: three, row: 0 }]);
      assert.throws(() => slab.arrange([{ tensors: new Map([["c", kv(1, 1, 3, 1)]]), row: 0 }]), /does not fit rows/);
      const before = (slab.tensors.get("c")!.data as Float32Array).buffer;
      slab.clear();
      assert.equal(slab.tensors.size, 0);
      assert.equal((slab.arrange([{ tensors: three, row: 1 }]).get("c")!.data as Float32Array).buffer, before, "clear keeps the buffer");
      slab.release();
      assert.equal(slab.tensors.size, 0);
      assert.equal(slab.allocated, false);
      const wider = slab.arrange([{ tensors: new Map([["c", kv(1, 1, 3, 1)]]), row: 0 }]).get("c")!;
      assert.deepEqual(wider.dims, [1, 1, 3, 1]);
    });
  });

  it("masks each row's padding and shows its real keys and the new token", () => {
    assert.deepEqual([...stepAttentionMask([3, 1], 3)], [1n, 1n, 1n, 1n, 0n, 0n, 1n, 1n]);
  });
});
