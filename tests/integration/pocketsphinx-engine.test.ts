import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import type { Engine, TranscriptSegment } from "../../src/server/asr/engine";
import { createPocketSphinxEngineFactory } from "../../src/server/asr/pocketsphinx-engine";
import { transcribeMedia } from "../../src/server/asr/transcribe-media";
import { librivoxClips, makeAudio, makeTempDir, makeVideo, writeFixture, type TempDir } from "../helpers/fixtures";
import { wordErrorRate } from "../helpers/wer";
import { assertPermanent } from "../helpers/assertions";

const available = existsSync("/usr/bin/pocketsphinx_continuous") && librivoxClips().length > 0;
const skip = available ? false : "pocketsphinx or pocketsphinx-testdata is not installed";

const signal = (): AbortSignal => new AbortController().signal;
const textOf = (segments: readonly TranscriptSegment[]): string => segments.map((segment) => segment.text).join(" ");


function assertMonotonic(segments: readonly TranscriptSegment[]): void {
  let last = -Infinity;
  for (const segment of segments) {
    assert.ok(segment.startS >= last, `segment starts at ${segment.startS} before ${last}`);
    assert.ok(segment.endS >= segment.startS);
    for (const word of segment.words) {
      assert.ok(word.startS >= last - 1e-9 && word.endS >= word.startS, `word ${word.text} at ${word.startS}`);
      assert.ok(word.confidence >= 0 && word.confidence <= 1);
      assert.doesNotMatch(word.text, /^<|^\[|\(\d+\)$/);
      last = word.startS;
    }
    last = Math.max(last, segment.startS);
  }
}

/**
 * pids of processes running `name` that descend from this one: programs are started by a
 * process launcher (one per thread), so they are this process's grandchildren.
 */
function childProcesses(name: string): string[] {
  const table = execFileSync("ps", ["-e", "-o", "pid=,ppid=,comm="], { encoding: "utf8" })
    .split("\n")
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields.length >= 3)
    .map(([pid, ppid, comm]) => ({ pid: pid!, ppid: ppid!, comm: comm! }));
  const ours = new Set([String(process.pid)]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const row of table) {
      if (ours.has(row.ppid) && !ours.has(row.pid)) {
        ours.add(row.pid);
        grew = true;
      }
    }
  }
  return table.filter((row) => row.pid !== String(process.pid) && ours.has(row.pid) && row.comm.startsWith(name)).map((row) => row.pid);
}

describe("pocketsphinx engine", { skip }, () => {
  let tmp: TempDir;
  let engines: Engine[] = [];
  let twoClips = "";

  before(async () => {
    tmp = await makeTempDir("pocketsphinx-test-");
    const factory = createPocketSphinxEngineFactory();
    engines = [await factory(), await factory()];
    const [a, b] = librivoxClips();
    twoClips = await makeAudio([{ kind: "file", path: a!.path }, { kind: "silence", durationS: 3 }, { kind: "file", path: b!.path }], { dir: tmp.dir, name: "two-clips.wav" });
  });
  after(async () => {
    await Promise.all(engines.map((engine) => engine.close()));
    await tmp.cleanup();
  });

  it("describes itself", () => {
    assert.deepEqual(engines[0]?.info, { name: "pocketsphinx", model: "en-us (cmusphinx)", provider: "cpu", languages: ["en"] });
  });

  it("transcribes LibriVox clips with a WER below 0.5", async (t) => {
    let errors = 0;
    let words = 0;
    for (const clip of librivoxClips()) {
      const output = await transcribeMedia({ mediaPath: clip.path, language: "en", engines: engines.slice(0, 1), signal: signal() });
      assertMonotonic(output.transcription.segments);
      assert.equal(output.transcription.language, "en");
      assert.equal(output.engine.name, "pocketsphinx");
      const hypothesis = textOf(output.transcription.segments);
      const wer = wordErrorRate(clip.reference, hypothesis);
      const referenceWords = clip.reference.split(" ").length;
      errors += wer * referenceWords;
      words += referenceWords;
      t.diagnostic(`${clip.id}: WER ${wer.toFixed(3)} | ${hypothesis}`);
      // One short clip alone is noisy for a 2015 GMM model (0870: 0.32 … 0930: 0.75).
      assert.ok(wer < 0.8, `${clip.id}: WER ${wer.toFixed(3)} (${hypothesis})`);
    }
    const corpusWer = errors / words;
    t.diagnostic(`corpus WER ${corpusWer.toFixed(3)} over ${words} words`);
    assert.ok(corpusWer < 0.5, `corpus WER ${corpusWer.toFixed(3)}`);
  });

  it("splits across two engines with monotonic segments and the same words as one engine", async () => {
    const progress: number[] = [];
    const one = await transcribeMedia({ mediaPath: twoClips, language: "auto", engines: engines.slice(0, 1), signal: signal() });
    const two = await transcribeMedia({ mediaPath: twoClips, language: "en-US", engines, signal: signal(), minWindowS: 5, onProgress: (fraction) => progress.push(fraction) });
    assertMonotonic(two.transcription.segments);
    // The second clip starts after 7.1 s of speech and 3 s of silence.
    assert.ok(two.transcription.segments.some((segment) => segment.startS >= 10), "no segment from the second window");
    assert.equal(progress.length, 2);
    assert.ok((progress[0] ?? 0) > 0 && (progress[0] ?? 0) < 1 && progress[1] === 1);
    const [a, b] = librivoxClips();
    const reference = `${a!.reference} ${b!.reference}`;
    assert.ok(wordErrorRate(reference, textOf(two.transcription.segments)) < 0.5);
    // A window starts the decoder afresh, so a few words may differ, not more.
    assert.ok(wordErrorRate(textOf(one.transcription.segments), textOf(two.transcription.segments)) < 0.25);
  });

  it("offsets the times of a window by its start", async () => {
    const window = await engines[0]!.transcribe({ mediaPath: twoClips, language: "en", signal: signal(), startS: 8.5 });
    const words = window.segments.flatMap((segment) => segment.words);
    assert.ok(words.length > 3);
    assert.ok(words.every((word) => word.startS >= 8.5 && word.endS <= 13.2), JSON.stringify(words.map((w) => w.startS)));
  });

  it("rejects unsupported languages", async () => {
    await assert.rejects(
      engines[0]!.transcribe({ mediaPath: twoClips, language: "fr", signal: signal() }),
      assertPermanent("Language 'fr' is not supported by the pocketsphinx engine (supported: en)"),
    );
  });

  it("rejects media that cannot be transcribed", async () => {
    const run = (mediaPath: string) => transcribeMedia({ mediaPath, language: "en", engines, signal: signal() });
    const empty = await writeFixture(tmp.dir, "empty.mp3", "");
    await assert.rejects(run(empty), assertPermanent("The media file is empty (0 bytes)"));
    const text = await writeFixture(tmp.dir, "readme.txt", "Meeting notes\n- nothing to hear here\n");
    await assert.rejects(run(text), assertPermanent("The file is not a recognised audio or video format"));
    const bytes = await readFile(await makeAudio([{ kind: "file", path: librivoxClips()[0]!.path }], { dir: tmp.dir, name: "speech.m4a", outputArgs: ["-c:a", "aac"] }));
    const corrupt = await writeFixture(tmp.dir, "corrupt.m4a", bytes.subarray(0, Math.floor(bytes.length / 2)));
    await assert.rejects(run(corrupt), assertPermanent(/^The media file is corrupt or truncated and cannot be read/));
    const video = await makeVideo({ dir: tmp.dir, name: "no-audio.mp4", durationS: 2, withAudio: false });
    await assert.rejects(run(video), assertPermanent("The media has no audio stream"));
    const silent = await makeAudio([{ kind: "silence", durationS: 5 }], { dir: tmp.dir, name: "silent.wav" });
    await assert.rejects(run(silent), assertPermanent("No speech was detected in the audio (it is silent or contains no recognisable speech)"));
  });

  it("streams the decoded audio to the recogniser: a temp dir with no room for it is enough", async (t) => {
    if (process.getuid?.() !== 0) {
      t.skip("mounting a small tmpfs needs root");
      return;
    }
    // 64 KiB of temp space; the clip decodes to ~30x that (16 kHz s16, 32 KB a second).
    const small = await makeTempDir("pocketsphinx-tmpfs-");
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", small.dir]);
    const previous = process.env.TMPDIR;
    process.env.TMPDIR = small.dir;
    try {
      const clip = librivoxClips()[0]!;
      const output = await engines[0]!.transcribe({ mediaPath: clip.path, language: "en", signal: signal() });
      assert.ok(wordErrorRate(clip.reference, textOf(output.segments)) < 0.5);
    } finally {
      if (previous === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = previous;
      execFileSync("umount", [small.dir]);
      await small.cleanup();
    }
  });

  it("kills its subprocesses on abort", async () => {
    const clips = librivoxClips();
    const long = await makeAudio([...clips, ...clips, ...clips].map((clip) => ({ kind: "file" as const, path: clip.path })), { dir: tmp.dir, name: "long.wav" });
    const controller = new AbortController();
    const started = Date.now();
    const run = engines[0]!.transcribe({ mediaPath: long, language: "en", signal: controller.signal });
    // Abort once the recogniser is running.
    while (childProcesses("pocketsphinx_co").length === 0 && Date.now() - started < 10_000) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.ok(childProcesses("pocketsphinx_co").length > 0, "pocketsphinx never started");
    controller.abort();
    await assert.rejects(run, { name: "AbortError" });
    assert.deepEqual(childProcesses("pocketsphinx_co"), []);
    assert.deepEqual(childProcesses("ffmpeg"), []);
    // The slot is free again.
    const again = await engines[0]!.transcribe({ mediaPath: clips[1]!.path, language: "en", signal: signal() });
    assert.ok(again.segments.length > 0);
  });

  it("refuses a second transcription on the same slot at once", async () => {
    const first = engines[1]!.transcribe({ mediaPath: twoClips, language: "en", signal: signal() });
    await assert.rejects(engines[1]!.transcribe({ mediaPath: twoClips, language: "en", signal: signal() }), /already transcribing/);
    await first;
  });
});

describe("pocketsphinx engine factory", () => {
  it("fails clearly when the binary is missing", async () => {
    await assert.rejects(createPocketSphinxEngineFactory({ binary: "/nonexistent/pocketsphinx_continuous" })(), {
      message: "/nonexistent/pocketsphinx_continuous not found: apt-get install pocketsphinx pocketsphinx-en-us",
    });
    await assert.rejects(createPocketSphinxEngineFactory({ binary: "pocketsphinx_continuous_missing" })(), /not found: apt-get install pocketsphinx pocketsphinx-en-us/);
  });

  it("fails clearly when the model is missing", { skip }, async () => {
    await assert.rejects(createPocketSphinxEngineFactory({ modelDir: "/nonexistent/model" })(), /model file .* not found/);
  });
});
