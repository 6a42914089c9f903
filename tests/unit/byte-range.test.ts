import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseByteRange } from "../../src/server/http/byte-range";

describe("parseByteRange", () => {
  it("reads one range of each form, clamped to the resource", () => {
    assert.deepEqual(parseByteRange("bytes=0-99", 1000), { kind: "partial", start: 0, end: 99 });
    assert.deepEqual(parseByteRange("bytes=990-", 1000), { kind: "partial", start: 990, end: 999 });
    assert.deepEqual(parseByteRange("bytes=-10", 1000), { kind: "partial", start: 990, end: 999 });
    assert.deepEqual(parseByteRange("bytes=-5000", 1000), { kind: "partial", start: 0, end: 999 });
    assert.deepEqual(parseByteRange("bytes=500-5000", 1000), { kind: "partial", start: 500, end: 999 });
    assert.deepEqual(parseByteRange("Bytes=1-2", 1000), { kind: "partial", start: 1, end: 2 });
  });

  it("calls ranges past the end unsatisfiable", () => {
    for (const header of ["bytes=1000-", "bytes=1000-1001", "bytes=-0"]) assert.deepEqual(parseByteRange(header, 1000), { kind: "unsatisfiable" }, header);
    assert.deepEqual(parseByteRange("bytes=-1", 0), { kind: "unsatisfiable" });
  });

  it("ignores what it does not serve: no header, several ranges, malformed ones, other units", () => {
    for (const header of [undefined, "bytes=0-1,4-5", "bytes=5-1", "bytes=-", "bytes=a-b", "items=0-1", ""]) {
      assert.deepEqual(parseByteRange(header, 1000), { kind: "whole" }, String(header));
    }
  });
});
