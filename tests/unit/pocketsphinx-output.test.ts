import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { PermanentJobError } from "../../src/server/errors";
import {
  decodeSpan,
  groupIntoSegments,
  keepWindow,
  parseTokenLine,
  resolveLanguage,
  WINDOW_LEAD_IN_S,
  WINDOW_RUN_OUT_S,
  type RecognisedToken,
} from "../../src/server/asr/pocketsphinx-engine";

/** Real `pocketsphinx_continuous -time yes` output (hypothesis lines included), trimmed. */
const OUTPUT = `and mr john guess what
<s> 0.000 0.140 0.999400
and(2) 0.150 0.360 0.260057
mr 0.370 0.620 0.988762
john 0.630 1.000 0.929128
<sil> 1.010 1.600 0.553348
guess 1.610 1.830 0.671967
[NOISE] 1.840 1.900 0.1
what 1.910 2.100 0.581373
</s> 2.110 2.200 1.000000
he was not
<s> 9.990 10.090 0.999200
<sil> 10.100 10.320 0.577086
he 10.330 10.440 0.998401
was(2) 10.450 10.660 0.999500
<sil> 10.670 10.900 0.5
not 10.910 11.090 0.997104
</s> 11.100 11.200 1.000000`;

function tokens(): RecognisedToken[] {
  return OUTPUT.split("\n").map(parseTokenLine).filter((token): token is RecognisedToken => token !== null);
}

describe("pocketsphinx output parsing", () => {
  it("reads token lines and skips hypothesis lines", () => {
    assert.equal(tokens().length, 16);
    assert.deepEqual(parseTokenLine("mr 0.370 0.620 0.988762"), { token: "mr", startS: 0.37, endS: 0.62, confidence: 0.988762 });
    assert.equal(parseTokenLine("he was not man"), null);
    assert.equal(parseTokenLine("INFO: something 1 2 3"), null);
  });

  it("groups words into segments at utterance ends and long pauses, stripping fillers and (n) suffixes", () => {
    const segments = groupIntoSegments(tokens(), 100);
    assert.deepEqual(
      segments.map((segment) => [segment.startS, segment.endS, segment.text]),
      [
        [100.15, 101, "and mr john"], // the 0.6 s <sil> breaks
        [101.61, 102.1, "guess what"], // [NOISE] is dropped and does not break (0.08 s)
        [110.33, 111.09, "he was not"], // a 0.25 s <sil> does not break
      ],
    );
    const first = segments[0]?.words[0];
    assert.deepEqual(first, { text: "and", startS: 100.15, endS: 100.36, confidence: 0.260057 });
  });

  it("caps segments at about 15 s", () => {
    const many: RecognisedToken[] = Array.from({ length: 100 }, (_, i) => ({ token: `w${i}`, startS: i * 0.4, endS: i * 0.4 + 0.39, confidence: 1 }));
    const segments = groupIntoSegments(many, 0);
    assert.ok(segments.length >= 3);
    for (const segment of segments) assert.ok(segment.endS - segment.startS <= 15);
    assert.equal(segments.flatMap((segment) => segment.words).length, 100);
  });
});

describe("pocketsphinx windows", () => {
  it("decodes a later window from a lead-in before it and a run-out past it", () => {
    assert.deepEqual(decodeSpan(undefined, undefined), { fromS: 0, toS: null, keepFromS: 0, keepToS: Infinity });
    assert.deepEqual(decodeSpan(0, 70), { fromS: 0, toS: 70 + WINDOW_RUN_OUT_S, keepFromS: 0, keepToS: 70 });
    assert.deepEqual(decodeSpan(70, 140), { fromS: 70 - WINDOW_LEAD_IN_S, toS: 140 + WINDOW_RUN_OUT_S, keepFromS: 70, keepToS: 140 });
    // A lead-in that would reach back past the file's start starts at 0: the command line's own decode.
    assert.deepEqual(decodeSpan(5.5, undefined), { fromS: 0, toS: null, keepFromS: 5.5, keepToS: Infinity });
  });

  it("keeps the words that start inside the window, in file time", () => {
    const span = decodeSpan(70, 140);
    const at = (token: string, fileS: number): RecognisedToken => ({ token, startS: fileS - span.fromS, endS: fileS - span.fromS + 0.2, confidence: 1 });
    const tokens = [at("<s>", 55), at("lead", 69.99), at("first", 70), at("</s>", 75), at("<s>", 138), at("last", 139.99), at("next", 140), at("</s>", 141)];
    const segments = groupIntoSegments(keepWindow(tokens, span), span.fromS);
    assert.deepEqual(
      segments.map((segment) => [segment.startS, segment.text]),
      [
        [70, "first"],
        [139.99, "last"],
      ],
    );
  });
});

describe("resolveLanguage", () => {
  it("accepts English variants and auto", () => {
    for (const code of ["en", "EN", "en-US", "en_gb", "auto", " en "]) assert.equal(resolveLanguage(code), "en");
  });
  it("rejects other languages permanently", () => {
    assert.throws(
      () => resolveLanguage("fr"),
      (error: unknown) => error instanceof PermanentJobError && error.message === "Language 'fr' is not supported by the pocketsphinx engine (supported: en)",
    );
    assert.throws(() => resolveLanguage("english"), PermanentJobError);
  });
});
