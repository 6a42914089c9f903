import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  formatTimestamp,
  parseSrtCues,
  parseTimestamp,
  serializeSrt,
  toEditable,
  validateCues,
  type Cue,
  type EditableCue,
} from "../../src/ui/job/srt-cues";
import { diffWords, type DiffPart } from "../../src/ui/job/word-diff";
import { isJunk, rejectReason, type Operation } from "../../src/ui/upload/media-kinds";
import { formatBytes, formatDuration, formatElapsed, jobHref } from "../../src/ui/format";
import { parseSrt } from "../../src/server/subtitles/srt";

function assertClose(actual: number | null, expected: number, message?: string): void {
  assert.ok(actual !== null, message ?? `expected ${expected}, got null`);
  assert.ok(Math.abs(actual - expected) < 1e-9, message ?? `expected ${expected}, got ${actual}`);
}

function assertCuesEqual(actual: readonly Cue[], expected: readonly Cue[]): void {
  assert.equal(actual.length, expected.length, `cue count: ${JSON.stringify(actual)}`);
  actual.forEach((cue, i) => {
    const want = expected[i]!;
    assertClose(cue.startS, want.startS, `cue ${i + 1} start: ${cue.startS} vs ${want.startS}`);
    assertClose(cue.endS, want.endS, `cue ${i + 1} end: ${cue.endS} vs ${want.endS}`);
    assert.equal(cue.text, want.text, `cue ${i + 1} text`);
  });
}

function editable(key: string, start: string, end: string, text: string): EditableCue {
  return { key, start, end, text };
}

describe("srt-cues: parseTimestamp", () => {
  it("reads comma and dot millisecond separators, with one- or two-digit hours", () => {
    assertClose(parseTimestamp("00:01:02,345"), 62.345);
    assertClose(parseTimestamp("0:01:02.345"), 62.345);
    assertClose(parseTimestamp("01:00:00,000"), 3600);
    assertClose(parseTimestamp("  00:00:05,000  "), 5);
  });

  it("returns null for anything that is not an SRT timestamp", () => {
    assert.equal(parseTimestamp("00:60:00,000"), null, "minutes 60");
    assert.equal(parseTimestamp("00:00:60,000"), null, "seconds 60");
    assert.equal(parseTimestamp("00:01:02"), null, "missing milliseconds");
    assert.equal(parseTimestamp("00:01:02,34"), null, "two-digit milliseconds");
    assert.equal(parseTimestamp("garbage"), null);
    assert.equal(parseTimestamp(""), null);
    assert.equal(parseTimestamp("100:00:00,000"), null, "three-digit hours");
  });
});

describe("srt-cues: formatTimestamp", () => {
  it("formats seconds as HH:MM:SS,mmm", () => {
    assert.equal(formatTimestamp(62.345), "00:01:02,345");
    assert.equal(formatTimestamp(0), "00:00:00,000");
  });

  it("rounds to the millisecond, carrying into seconds and minutes", () => {
    assert.equal(formatTimestamp(62.3454), "00:01:02,345");
    assert.equal(formatTimestamp(62.3456), "00:01:02,346");
    assert.equal(formatTimestamp(59.9996), "00:01:00,000");
  });

  it("writes hours above 9 without truncation", () => {
    assert.equal(formatTimestamp(10 * 3600 + 1.5), "10:00:01,500");
    assert.equal(formatTimestamp(100 * 3600), "100:00:00,000");
  });

  it("clamps negative times to zero", () => {
    assert.equal(formatTimestamp(-5), "00:00:00,000");
    assert.equal(formatTimestamp(-0.0004), "00:00:00,000");
  });

  it("round-trips through parseTimestamp", () => {
    for (const seconds of [0, 0.001, 1.5, 62.345, 3599.999, 36000.25]) {
      assertClose(parseTimestamp(formatTimestamp(seconds)), seconds);
    }
  });
});

describe("srt-cues: parseSrtCues", () => {
  it("reads a rendered SRT with CRLF line endings and multi-line cue text", () => {
    const srt = [
      "1",
      "00:00:01,000 --> 00:00:02,500",
      "Hello there,",
      "general Kenobi.",
      "",
      "2",
      "00:00:03,000 --> 00:00:04,250",
      "One line",
      "",
    ].join("\r\n");
    assertCuesEqual(parseSrtCues(srt), [
      { startS: 1, endS: 2.5, text: "Hello there,\ngeneral Kenobi." },
      { startS: 3, endS: 4.25, text: "One line" },
    ]);
  });

  it("skips blocks without a timing line or with bad timestamps, and tolerates extra blank lines", () => {
    const srt = [
      "just a note",
      "",
      "",
      "1",
      "00:00:01,000 --> 00:00:02,000",
      "first",
      "",
      "2",
      "nonsense --> 00:00:03,000",
      "broken",
      "",
      "3",
      "00:00:04,000 --> 00:00:05,000 X1:10 X2:20",
      "third",
      "",
      "",
      "",
    ].join("\n");
    assertCuesEqual(parseSrtCues(srt), [
      { startS: 1, endS: 2, text: "first" },
      { startS: 4, endS: 5, text: "third" },
    ]);
  });

  it("returns no cues for empty input", () => {
    assert.deepEqual(parseSrtCues(""), []);
    assert.deepEqual(parseSrtCues("\r\n\r\n"), []);
  });
});

describe("srt-cues: validateCues", () => {
  it("gives no errors and no warnings for a valid list", () => {
    const { errors, warnings } = validateCues([
      editable("a", "00:00:01,000", "00:00:02,000", "one"),
      editable("b", "00:00:02,000", "00:00:03,000", "two"),
      editable("c", "0:00:04.000", "00:00:05,000", "three"),
    ]);
    assert.equal(errors.size, 0);
    assert.deepEqual(warnings, []);
  });

  it("flags badly formatted start and end times", () => {
    const { errors } = validateCues([
      editable("a", "1:2:3", "00:00:02,000", "one"),
      editable("b", "00:00:03,000", "soon", "two"),
    ]);
    assert.deepEqual(errors.get("a"), { start: "Use HH:MM:SS,mmm" });
    assert.deepEqual(errors.get("b"), { end: "Use HH:MM:SS,mmm" });
  });

  it("flags an end that is not after the start", () => {
    const { errors } = validateCues([
      editable("equal", "00:00:01,000", "00:00:01,000", "one"),
      editable("before", "00:00:05,000", "00:00:04,000", "two"),
    ]);
    assert.deepEqual(errors.get("equal"), { end: "Must be after the start" });
    assert.deepEqual(errors.get("before"), { end: "Must be after the start" });
  });

  it("flags empty or blank text", () => {
    const { errors } = validateCues([
      editable("empty", "00:00:01,000", "00:00:02,000", ""),
      editable("blank", "00:00:03,000", "00:00:04,000", "  \n "),
    ]);
    assert.deepEqual(errors.get("empty"), { text: "A cue needs text" });
    assert.deepEqual(errors.get("blank"), { text: "A cue needs text" });
  });

  it("makes a cue that starts before the previous one an error on its start, not a warning", () => {
    const { errors, warnings } = validateCues([
      editable("a", "00:00:10,000", "00:00:12,000", "one"),
      editable("b", "00:00:05,000", "00:00:06,000", "two"),
    ]);
    assert.equal(errors.has("a"), false);
    assert.deepEqual(errors.get("b"), { start: "Starts before cue 1" });
    assert.deepEqual(warnings, []);
  });

  it("makes an overlap only a warning", () => {
    const { errors, warnings } = validateCues([
      editable("a", "00:00:01,000", "00:00:03,000", "one"),
      editable("b", "00:00:02,000", "00:00:04,000", "two"),
      editable("c", "00:00:05,000", "00:00:06,000", "three"),
    ]);
    assert.equal(errors.size, 0);
    assert.deepEqual(warnings, ["Cue 2 overlaps cue 1"]);
  });
});

describe("srt-cues: serializeSrt", () => {
  const cues: EditableCue[] = [
    editable("cue-0", "00:00:01,000", "00:00:02,000", "first"),
    editable("cue-1", "00:00:02,500", "00:00:03,000", "second"),
    editable("cue-2", "0:00:04.125", "00:00:05,000", "  third line one\nthird line two  "),
  ];

  it("numbers the cues from 1 after a deletion", () => {
    const remaining = cues.filter((cue) => cue.key !== "cue-0");
    assert.equal(
      serializeSrt(remaining),
      "1\n00:00:02,500 --> 00:00:03,000\nsecond\n\n2\n00:00:04,125 --> 00:00:05,000\nthird line one\nthird line two\n",
    );
  });

  it("writes output that parseSrtCues reads back to the same cues", () => {
    assertCuesEqual(parseSrtCues(serializeSrt(cues)), [
      { startS: 1, endS: 2, text: "first" },
      { startS: 2.5, endS: 3, text: "second" },
      { startS: 4.125, endS: 5, text: "third line one\nthird line two" },
    ]);
  });

  it("writes output the server's SRT parser accepts, even when a cue's text has blank lines", () => {
    const withBlankLine = [
      editable("a", "00:00:01,000", "00:00:02,000", "top\n\n  \nbottom"),
      editable("b", "00:00:03,000", "00:00:04,000", "next"),
    ];
    const srt = serializeSrt(withBlankLine);
    const serverCues = parseSrt(srt);
    assert.deepEqual(
      serverCues.map((cue) => ({ index: cue.index, lines: cue.lines })),
      [
        { index: 1, lines: ["top", "bottom"] },
        { index: 2, lines: ["next"] },
      ],
    );
    assertCuesEqual(parseSrtCues(srt), [
      { startS: 1, endS: 2, text: "top\nbottom" },
      { startS: 3, endS: 4, text: "next" },
    ]);
  });

  it("round-trips toEditable → serializeSrt → parseSrtCues", () => {
    const original: Cue[] = [
      { startS: 0, endS: 1.234, text: "Zero" },
      { startS: 1.5, endS: 3.75, text: "Two\nlines" },
      { startS: 3725.001, endS: 3727.999, text: "Late in the file" },
      { startS: 36000, endS: 36001.5, text: "Ten hours in" },
    ];
    const editableCues = toEditable(original);
    assert.deepEqual(
      editableCues.map((cue) => cue.key),
      ["cue-0", "cue-1", "cue-2", "cue-3"],
    );
    assert.equal(editableCues[2]!.start, "01:02:05,001");
    assert.equal(validateCues(editableCues).errors.size, 0);
    assertCuesEqual(parseSrtCues(serializeSrt(editableCues)), original);
  });
});

describe("word-diff: diffWords", () => {
  function rebuild(parts: readonly DiffPart[], side: "before" | "after"): string {
    const skip = side === "before" ? "added" : "removed";
    return parts.filter((part) => part.kind !== skip).map((part) => part.text).join("");
  }

  it("gives one 'same' part for identical texts", () => {
    assert.deepEqual(diffWords("the quick brown fox", "the quick brown fox"), [{ kind: "same", text: "the quick brown fox" }]);
  });

  it("gives removed and added parts for a changed word", () => {
    assert.deepEqual(diffWords("the quick fox", "the slow fox"), [
      { kind: "same", text: "the " },
      { kind: "removed", text: "quick" },
      { kind: "added", text: "slow" },
      { kind: "same", text: " fox" },
    ]);
  });

  it("gives nothing for two empty texts, and one part when one side is empty", () => {
    assert.deepEqual(diffWords("", ""), []);
    assert.deepEqual(diffWords("", "new text"), [{ kind: "added", text: "new text" }]);
    assert.deepEqual(diffWords("old text", ""), [{ kind: "removed", text: "old text" }]);
  });

  it("never puts two parts of the same kind next to each other", () => {
    const parts = diffWords("a b c d e f", "a x c y e z");
    for (let i = 1; i < parts.length; i++) assert.notEqual(parts[i]!.kind, parts[i - 1]!.kind, JSON.stringify(parts));
  });

  it("rebuilds both texts exactly from its parts", () => {
    const pairs: [string, string][] = [
      ["the quick fox", "the slow fox"],
      ["brown fox", "the brown fox"],
      ["the brown", "the brown fox jumps"],
      ["start middle end", "middle"],
      ["line one\nline two", "line  one\n\nline three"],
      ["  leading space", "leading space  "],
      ["tabs\tand\tspaces here", "tabs and spaces\there"],
      ["", "only after"],
      ["only before", ""],
      ["a a a b", "b a a a"],
      ["Well, I — think so.", "Well I think, so!"],
    ];
    for (const [before, after] of pairs) {
      const parts = diffWords(before, after);
      assert.equal(rebuild(parts, "before"), before, `before of ${JSON.stringify([before, after])}: ${JSON.stringify(parts)}`);
      assert.equal(rebuild(parts, "after"), after, `after of ${JSON.stringify([before, after])}: ${JSON.stringify(parts)}`);
      for (const part of parts) assert.ok(part.text.length > 0, `empty part in ${JSON.stringify(parts)}`);
    }
  });

  it("marks an insertion at the start or end as added, leaving the rest the same", () => {
    assert.deepEqual(diffWords("brown fox", "the brown fox"), [
      { kind: "added", text: "the " },
      { kind: "same", text: "brown fox" },
    ]);
    assert.deepEqual(diffWords("the brown", "the brown fox"), [
      { kind: "same", text: "the brown" },
      { kind: "added", text: " fox" },
    ]);
  });
});

describe("media-kinds: rejectReason", () => {
  const file = (name: string, type = "", content = "x") => new File([content], name, { type });
  const operations: Operation[] = ["transcript", "srt", "convert"];

  it("accepts audio and video for transcript, srt and convert, and refuses them for fix", () => {
    for (const media of [file("talk.wav", "audio/wav"), file("Clip.MP4", "video/mp4"), file("talk.wav"), file("movie.mkv")]) {
      for (const operation of operations) assert.equal(rejectReason(media, operation), null, `${media.name} / ${operation}`);
      assert.equal(rejectReason(media, "fix"), "Not an .srt file", media.name);
    }
  });

  it("accepts .srt only for fix", () => {
    for (const subtitles of [file("episode.srt"), file("EPISODE.SRT", "application/x-subrip")]) {
      assert.equal(rejectReason(subtitles, "fix"), null, subtitles.name);
      for (const operation of operations) {
        assert.equal(rejectReason(subtitles, operation), "Subtitles: choose “Fix SRT with LLM”", `${subtitles.name} / ${operation}`);
      }
    }
  });

  it("refuses text files for every operation", () => {
    const notes = file("notes.txt", "text/plain");
    for (const operation of operations) assert.equal(rejectReason(notes, operation), "Not audio or video (.txt)", operation);
    assert.equal(rejectReason(notes, "fix"), "Not an .srt file");
  });

  it("refuses an empty file for every operation, whatever its name", () => {
    for (const name of ["empty.wav", "empty.mp4", "empty.srt", "empty.txt"]) {
      for (const operation of [...operations, "fix" as const]) {
        assert.equal(rejectReason(file(name, "", ""), operation), "Empty file", `${name} / ${operation}`);
      }
    }
  });

  it("goes by the MIME type when the name has no extension", () => {
    const recording = file("recording", "audio/x-m4a");
    for (const operation of operations) assert.equal(rejectReason(recording, operation), null, operation);
    assert.equal(rejectReason(recording, "fix"), "Not an .srt file");
    const video = file("screen-capture", "video/quicktime");
    assert.equal(rejectReason(video, "convert"), null);
  });

  it("says 'no extension' for a file with neither a known extension nor a media type", () => {
    assert.equal(rejectReason(file("README"), "transcript"), "Not audio or video (no extension)");
    assert.equal(rejectReason(file("archive."), "convert"), "Not audio or video (no extension)");
  });
});

describe("media-kinds: isJunk", () => {
  it("recognises hidden files and OS clutter", () => {
    for (const name of [".DS_Store", "._talk.wav", ".hidden", "Thumbs.db", "desktop.ini"]) assert.equal(isJunk(name), true, name);
  });

  it("keeps ordinary files", () => {
    for (const name of ["talk.wav", "episode.srt", "thumbs.db.wav", "my.desktop.ini.mp4", "Desktop.ini"]) assert.equal(isJunk(name), false, name);
  });
});

describe("format", () => {
  it("formatDuration", () => {
    assert.equal(formatDuration(null), "—");
    assert.equal(formatDuration(undefined), "—");
    assert.equal(formatDuration(Number.NaN), "—");
    assert.equal(formatDuration(0), "0:00");
    assert.equal(formatDuration(75.4), "1:15");
    assert.equal(formatDuration(3725), "1:02:05");
    assert.equal(formatDuration(59.6), "1:00");
    assert.equal(formatDuration(-3), "0:00");
  });

  it("formatBytes", () => {
    assert.equal(formatBytes(0), "0 B");
    assert.equal(formatBytes(1023), "1023 B");
    assert.equal(formatBytes(1024), "1.0 KB");
    assert.equal(formatBytes(1536), "1.5 KB");
    assert.equal(formatBytes(200 * 1024), "200 KB");
    assert.equal(formatBytes(10 * 1024 * 1024), "10 MB");
    assert.equal(formatBytes(3.25 * 1024 ** 3), "3.3 GB");
    assert.equal(formatBytes(2 * 1024 ** 5), "2048 TB");
  });

  it("formatElapsed with a fixed now", () => {
    const start = new Date("2024-05-01T12:00:00.000Z");
    const now = new Date("2024-05-01T12:00:12.340Z");
    assert.equal(formatElapsed(null, null, now), "—");
    assert.equal(formatElapsed(start, null, now), "12.3 s");
    assert.equal(formatElapsed(start, new Date("2024-05-01T12:00:00.500Z"), now), "0.5 s");
    assert.equal(formatElapsed(start, new Date("2024-05-01T12:04:05.000Z"), now), "4:05");
    assert.equal(formatElapsed(start, null, new Date("2024-05-01T13:02:05.000Z")), "1:02:05");
  });

  it("jobHref sends batches to /batches and single jobs to /jobs, encoding the id", () => {
    assert.equal(jobHref({ id: "abc123", type: "batch_transcribe" }), "/batches/abc123");
    assert.equal(jobHref({ id: "abc123", type: "transcribe" }), "/jobs/abc123");
    assert.equal(jobHref({ id: "a/b c?d#e", type: "batch_convert" }), "/batches/a%2Fb%20c%3Fd%23e");
    assert.equal(jobHref({ id: "ü&=%", type: "fix_srt" }), "/jobs/%C3%BC%26%3D%25");
  });
});
