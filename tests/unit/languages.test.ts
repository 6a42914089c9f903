import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { normalizeLanguage } from "../../src/server/asr/languages";
import { AppError } from "../../src/server/errors";

describe("normalizeLanguage", () => {
  it("accepts ISO 639-1 codes with regions, any case, and auto", () => {
    assert.equal(normalizeLanguage("en"), "en");
    assert.equal(normalizeLanguage("en-US"), "en");
    assert.equal(normalizeLanguage("zh_HK"), "zh");
    assert.equal(normalizeLanguage("FR-fr"), "fr");
    assert.equal(normalizeLanguage("auto"), "auto");
  });

  it("rejects unknown codes with a 400", () => {
    for (const bad of ["xx", "english", "", "e", "en-", "12"]) {
      assert.throws(() => normalizeLanguage(bad), (error: unknown) => error instanceof AppError && error.code === "BAD_REQUEST", bad);
    }
  });
});
