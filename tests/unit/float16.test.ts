import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { float16BitsToFloat32, float32ToFloat16Bits, fromFloat16, toFloat16 } from "../../src/server/asr/whisper/float16";

describe("float16 conversion", () => {
  it("encodes known values to their IEEE half bit patterns", () => {
    const cases: [number, number][] = [[1, 0x3c00], [-2, 0xc000], [65504, 0x7bff], [0.1, 0x2e66], [2 ** -24, 0x0001], [1e-8, 0], [Infinity, 0x7c00], [70000, 0x7c00], [0, 0]];
    for (const [value, bits] of cases) assert.equal(float32ToFloat16Bits(value), bits, String(value));
  });

  it("rounds to nearest even", () => {
    // 1 + 2^-11 lies halfway between 1 and the next half (1 + 2^-10): ties go to even (1).
    assert.equal(float32ToFloat16Bits(1 + 2 ** -11), 0x3c00);
    assert.equal(float32ToFloat16Bits(1 + 3 * 2 ** -11), 0x3c02);
  });

  it("decodes back within half precision", () => {
    const values = Float32Array.from([0, 1, -1.5, 3.14159, 1000.25, -0.000123, 60000]);
    const round = fromFloat16(toFloat16(values));
    values.forEach((value, i) => assert.ok(Math.abs(round[i]! - value) <= Math.abs(value) * 2 ** -10 + 2 ** -24, `${value} → ${round[i]}`));
    assert.ok(Number.isNaN(float16BitsToFloat32(0x7e00)));
  });
});
