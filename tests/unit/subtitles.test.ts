import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { TranscriptSegment, TranscriptWord } from "../../src/server/asr/engine";
import { buildCues, formatTimestamp, wrapBalanced, type Cue } from "../../src/server/subtitles/cues";
import { parseSrt, renderSrt } from "../../src/server/subtitles/srt";
import { parseVtt, renderVtt } from "../../src/server/subtitles/vtt";
import { AppError } from "../../src/server/errors";

/** A segment whose words are spoken back to back, `wordS` seconds each, from `startS`. */
function segment(text: string, startS: number, wordS = 0.3): TranscriptSegment {
  const words: TranscriptWord[] = text.split(" ").map((word, i) => ({
    text: word,
    startS: startS + i * wordS,
    endS: startS + (i + 1) * wordS - 0.02,
    confidence: 0.9,
  }));
  return { startS, endS: words[words.length - 1]?.endS ?? startS, text, words };
}

const LONG =
  "it is a truth universally acknowledged that a single man in possession of a good fortune must be in want of a wife however little known the feelings or views of such a man may be on his first entering a neighbourhood";

describe("buildCues", () => {
  it("keeps every cue within 2 lines of 42 characters and 7 s, and loses no word", () => {
    const cues = buildCues([segment(LONG, 3)]);
    assert.ok(cues.length > 1);
    for (const cue of cues) {
      assert.ok(cue.lines.length >= 1 && cue.lines.length <= 2, `lines: ${JSON.stringify(cue.lines)}`);
      for (const line of cue.lines) assert.ok(line.length <= 42, `line too long: "${line}"`);
      assert.ok(cue.endS - cue.startS <= 7 + 1e-9, `cue too long: ${cue.endS - cue.startS}`);
      assert.ok(cue.endS > cue.startS);
    }
    assert.equal(cues.map((cue) => cue.lines.join(" ")).join(" "), LONG);
    assert.deepEqual(cues.map((cue) => cue.index), cues.map((_, i) => i + 1));
    for (let i = 1; i < cues.length; i++) assert.ok((cues[i] as Cue).startS >= (cues[i - 1] as Cue).endS);
  });

  it("splits on the duration limit even when the text would fit", () => {
    // 10 short words, 1 s each: fits two lines but lasts 10 s.
    const cues = buildCues([segment("a b c d e f g h i j", 0, 1)]);
    assert.ok(cues.length >= 2);
    for (const cue of cues) assert.ok(cue.endS - cue.startS <= 7);
  });

  it("balances the two lines of a cue, breaking before a preposition rather than after it", () => {
    const cues = buildCues([segment("the quick brown fox jumps over the lazy dog and runs far away", 0)]);
    assert.equal(cues.length, 1);
    const [top, bottom] = (cues[0] as Cue).lines;
    assert.ok(top && bottom);
    // "jumps over" / "the lazy dog" would be 30/30 but leave "over" dangling (Netflix's line rule).
    assert.deepEqual([top, bottom], ["the quick brown fox jumps", "over the lazy dog and runs far away"]);
  });

  it("extends short cues to the minimum duration, merging segments a short pause apart", () => {
    // "hi" and "there" are 0.3 s apart: one cue (segments are not sentences); "friend" follows 3 s of silence.
    const cues = buildCues([segment("hi", 1, 0.2), segment("there", 1.5, 0.2), segment("friend", 5, 0.2)]);
    assert.deepEqual(cues.map((cue) => [cue.lines.join(" "), cue.startS, cue.endS]), [["hi there", 1, 2], ["friend", 5, 6]]);
  });

  it("stops the minimum-duration extension 2 frames (83 ms) before the next cue", () => {
    // One-line cues of 5 characters cannot merge "hello" and "there".
    const cues = buildCues([segment("hello", 1, 0.2), segment("there", 1.5, 0.2)], { maxLineChars: 5, maxLines: 1 });
    assert.deepEqual(cues.map((cue) => [cue.startS, cue.endS]), [[1, 1.417], [1.5, 2.5]]);
  });

  it("gives an over-long single word its own line", () => {
    const word = "x".repeat(60);
    const cues = buildCues([segment(`${word} end`, 0)]);
    assert.deepEqual(cues.flatMap((cue) => cue.lines), [word, "end"]);
  });

  it("uses segment text when a segment has no word timings", () => {
    const cues = buildCues([{ startS: 0, endS: 4, text: "hello there general kenobi", words: [] }]);
    assert.equal(cues.length, 1);
    assert.equal(cues[0]?.lines.join(" "), "hello there general kenobi");
    assert.equal(cues[0]?.startS, 0);
    assert.equal(cues[0]?.endS, 4);
  });

  it("honours custom rules", () => {
    const cues = buildCues([segment(LONG, 0)], { maxLineChars: 20, maxLines: 1, maxCueS: 3, minCueS: 0.5 });
    for (const cue of cues) {
      assert.equal(cue.lines.length, 1);
      assert.ok((cue.lines[0] as string).length <= 20);
      assert.ok(cue.endS - cue.startS <= 3);
    }
  });
});

describe("wrapBalanced", () => {
  it("returns null when the words need more lines than allowed", () => {
    assert.equal(wrapBalanced(LONG.split(" "), 42, 2), null);
  });
  it("uses one line when everything fits", () => {
    assert.deepEqual(wrapBalanced(["short", "text"], 42, 2), ["short text"]);
  });
});

describe("timestamps", () => {
  it("formats SRT and VTT times, rounding to the nearest ms", () => {
    assert.equal(formatTimestamp(1.2344, ","), "00:00:01,234");
    assert.equal(formatTimestamp(1.2345, "."), "00:00:01.235");
    assert.equal(formatTimestamp(3599.9996, ","), "01:00:00,000");
    assert.equal(formatTimestamp(360000, "."), "100:00:00.000");
    assert.equal(formatTimestamp(-1, ","), "00:00:00,000");
  });
});

const SAMPLE: Cue[] = [
  { index: 1, startS: 0.5, endS: 2.25, lines: ["Hello world,", "this is a test"] },
  { index: 2, startS: 2.5, endS: 4.001, lines: ["a < b & c > d"] },
  { index: 3, startS: 3661.007, endS: 3662, lines: ["one hour later"] },
];

describe("SRT", () => {
  it("renders the SubRip layout", () => {
    assert.equal(
      renderSrt(SAMPLE.slice(0, 1)),
      "1\n00:00:00,500 --> 00:00:02,250\nHello world,\nthis is a test\n\n",
    );
  });

  it("round-trips", () => {
    assert.deepEqual(parseSrt(renderSrt(SAMPLE)), SAMPLE);
    const built = buildCues([segment(LONG, 12.3456)]);
    assert.deepEqual(parseSrt(renderSrt(built)), built);
  });

  it("tolerates a BOM, CRLF, missing trailing blank line and extra blank lines", () => {
    const text = "\uFEFF1\r\n00:00:01,000 --> 00:00:02,000\r\nfirst\r\n\r\n\r\n2\r\n00:00:03,000 --> 00:00:04,500\r\nsecond";
    assert.deepEqual(parseSrt(text), [
      { index: 1, startS: 1, endS: 2, lines: ["first"] },
      { index: 2, startS: 3, endS: 4.5, lines: ["second"] },
    ]);
  });

  it("accepts a missing blank line between cues and a missing cue number", () => {
    const text = "1\n00:00:01,000 --> 00:00:02,000\nfirst\n2\n00:00:03,000 --> 00:00:04,000\nsecond\n\n00:00:05,000 --> 00:00:06,000\nthird\n";
    assert.deepEqual(
      parseSrt(text).map((cue) => [cue.index, cue.lines[0]]),
      [[1, "first"], [2, "second"], [3, "third"]],
    );
  });

  it("returns no cues for an empty file", () => {
    assert.deepEqual(parseSrt(""), []);
    assert.deepEqual(parseSrt("\n\n"), []);
  });

  it("rejects malformed input with the line number", () => {
    const cases: [string, RegExp][] = [
      ["1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\nnot a timing line\ntext\n", /line 6: expected a timing line/],
      ["hello\n", /line 1: expected a cue number/],
      ["1\n00:00:05,000 --> 00:00:02,000\nbackwards\n", /line 2: expected an end time after the start time/],
      ["1\n00:61:00,000 --> 00:62:00,000\nbad minutes\n", /line 2: expected minutes and seconds below 60/],
    ];
    for (const [text, message] of cases) {
      assert.throws(
        () => parseSrt(text),
        (error: unknown) => error instanceof AppError && error.code === "BAD_REQUEST" && message.test(error.message),
        text,
      );
    }
  });
});

describe("WebVTT", () => {
  it("renders the WebVTT layout with escaped text", () => {
    assert.equal(
      renderVtt(SAMPLE.slice(1, 2)),
      "WEBVTT\n\n2\n00:00:02.500 --> 00:00:04.001\na &lt; b &amp; c &gt; d\n\n",
    );
  });

  it("round-trips", () => {
    assert.deepEqual(parseVtt(renderVtt(SAMPLE)), SAMPLE);
    const built = buildCues([segment(LONG, 0.0004)]);
    assert.deepEqual(parseVtt(renderVtt(built)), built);
  });

  it("skips header, NOTE and STYLE blocks, strips tags and reads cue settings", () => {
    const text = [
      "\uFEFFWEBVTT - a title",
      "Kind: captions",
      "",
      "NOTE a comment",
      "spanning lines",
      "",
      "STYLE",
      "::cue { color: red }",
      "",
      "intro",
      "00:01.000 --> 00:02.000 align:start line:0",
      "<v Roger>Hello <i>there</i> &amp; welcome",
      "",
      "00:00:03.000 --> 00:00:04.000",
      "second",
    ].join("\r\n");
    assert.deepEqual(parseVtt(text), [
      { index: 1, startS: 1, endS: 2, lines: ["Hello there & welcome"] },
      { index: 2, startS: 3, endS: 4, lines: ["second"] },
    ]);
  });

  it("rejects a missing header and malformed timing with the line number", () => {
    assert.throws(() => parseVtt("1\n00:00:01.000 --> 00:00:02.000\nx\n"), /Invalid WebVTT at line 1: expected the "WEBVTT" header/);
    assert.throws(() => parseVtt("WEBVTT\n\n1\n00:00:01,000 --> 00:00:02,000\nx\n"), (error: unknown) => error instanceof AppError && /line 4: expected a timing line/.test(error.message));
  });
});
