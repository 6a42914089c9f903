import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { groupChunks } from "../../src/server/asr/transcribe-media";

describe("groupChunks", () => {
  const chunks = [10, 10, 10, 10, 10, 10].map((length, i) => ({ startS: i * 40, endS: i * 40 + length }));

  it("splits into contiguous groups of about equal audio", () => {
    const groups = groupChunks(chunks, 3);
    assert.deepEqual(groups.map((group) => group.length), [2, 2, 2]);
    assert.deepEqual(groups.flat(), chunks, "order and content are kept");
  });

  it("never makes more groups than chunks, and keeps one chunk for every later group", () => {
    assert.equal(groupChunks(chunks.slice(0, 2), 3).length, 2);
    const skewed = [{ startS: 0, endS: 30 }, { startS: 40, endS: 41 }, { startS: 50, endS: 51 }];
    assert.deepEqual(groupChunks(skewed, 3).map((group) => group.length), [1, 1, 1]);
  });
});
