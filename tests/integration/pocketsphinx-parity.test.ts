/**
 * PocketSphinx through our job path never scores worse than PocketSphinx's own command line
 * (issue 15, item 5). The command line is what a Debian user runs on a 16 kHz mono WAV:
 * bookworm ships pocketsphinx 0.8+5prealpha, whose `pocketsphinx_continuous -infile clip.wav`
 * defaults to the same en-us model, dictionary, 16 kHz and byte order our engine passes. Our
 * side is transcribeMedia on the slots a job leases, so the split into windows is included.
 *
 * The clips: every one in pocketsphinx-testdata that has a reference (the five LibriVox ones,
 * the five spoken playing cards), and two recordings made from the LibriVox ones for the
 * issue's 11 s and 66 s figures, whose WERs are in 22nds (0.864 = 19/22, 0.545 = 12/22) and
 * 71sts (0.268 = 19/71, 0.338 = 24/71): 0880 and 0890 (22 words) 3 s apart, built as the
 * engine test's two-clip file, and all five (71 words) 10.3 s apart. The 11 s one also runs with
 * windows of at least 5 s, as the engine test splits it, so a window after the first is
 * checked against the command line too (the job path leaves a file that short whole).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { promisify } from "node:util";
import type { Engine } from "../../src/server/asr/engine";
import { createPocketSphinxEngineFactory } from "../../src/server/asr/pocketsphinx-engine";
import { transcribeMedia } from "../../src/server/asr/transcribe-media";
import { cardsClips, librivoxClips, makeAudio, makeTempDir, type SpeechClip, type TempDir } from "../helpers/fixtures";
import { normaliseWords, wordErrorRate } from "../helpers/wer";

const CLI = "/usr/bin/pocketsphinx_continuous";
/** A job asking for every slot of a default server (PARALLEL is the core count, at most 4). */
const SLOTS = 4;

const available = existsSync(CLI) && librivoxClips().length === 5 && cardsClips().length > 0;
const skip = available ? false : "pocketsphinx or pocketsphinx-testdata is not installed";

/** One row of the table: a clip, and the minWindowS the job path runs it with (undefined: the default). */
type Case = { clip: SpeechClip; label: string; minWindowS?: number };

const run = promisify(execFile);

/** The command line's text: it prints one hypothesis line per utterance on stdout (its log goes to stderr). */
async function commandLineText(wav: string): Promise<string> {
  const { stdout } = await run(CLI, ["-infile", wav], { timeout: 120_000, maxBuffer: 4 * 1024 * 1024 });
  return stdout.split("\n").map((line) => line.trim()).filter(Boolean).join(" ");
}

/** Our text, and how many windows the job path split the file into (one progress report each). */
async function serverText(engines: Engine[], testCase: Case): Promise<{ text: string; windows: number; durationS: number }> {
  let windows = 0;
  const output = await transcribeMedia({
    mediaPath: testCase.clip.path,
    language: "en",
    engines,
    signal: new AbortController().signal,
    onProgress: () => (windows += 1),
    ...(testCase.minWindowS !== undefined ? { minWindowS: testCase.minWindowS } : {}),
  });
  return { text: output.transcription.segments.map((segment) => segment.text).join(" "), windows, durationS: output.media.durationS };
}

describe("pocketsphinx parity with its command line", { skip }, () => {
  let tmp: TempDir;
  let engines: Engine[] = [];
  const cases: Case[] = [];

  before(async () => {
    tmp = await makeTempDir("pocketsphinx-parity-");
    const factory = createPocketSphinxEngineFactory();
    engines = await Promise.all(Array.from({ length: SLOTS }, () => factory()));
    const [c0870, c0880, c0890, c0920, c0930] = librivoxClips() as [SpeechClip, SpeechClip, SpeechClip, SpeechClip, SpeechClip];
    const file = (clip: SpeechClip) => ({ kind: "file" as const, path: clip.path });
    const pause = (durationS: number) => ({ kind: "silence" as const, durationS });
    // A plain 44-byte WAV header, as the test data's own: pocketsphinx_continuous skips exactly
    // 44 bytes of a .wav, and ffmpeg's default header has a LIST chunk more, which the command
    // line would read as 17 loud samples that change its words by chance (±0.09 WER on the 11 s clip).
    const plainWav = ["-fflags", "+bitexact"];
    const short = await makeAudio([file(c0880), pause(3), file(c0890)], { dir: tmp.dir, name: "librivox-11s.wav", outputArgs: plainWav });
    const all = [c0870, c0880, c0890, c0920, c0930];
    const long = await makeAudio(
      all.flatMap((clip, i) => (i === 0 ? [file(clip)] : [pause(10.3), file(clip)])),
      { dir: tmp.dir, name: "librivox-66s.wav", outputArgs: plainWav },
    );
    const shortClip: SpeechClip = { id: "librivox-11s", path: short, reference: `${c0880.reference} ${c0890.reference}` };
    const longClip: SpeechClip = { id: "librivox-66s", path: long, reference: all.map((clip) => clip.reference).join(" ") };
    for (const clip of librivoxClips()) cases.push({ clip, label: clip.id });
    for (const clip of cardsClips()) cases.push({ clip, label: `cards-${clip.id}` });
    for (const clip of [shortClip, longClip]) cases.push({ clip, label: clip.id });
    cases.push({ clip: shortClip, label: "librivox-11s, windows >= 5 s", minWindowS: 5 });
  });
  after(async () => {
    await Promise.all(engines.map((engine) => engine.close()));
    await tmp?.cleanup();
  });

  it("scores no worse than pocketsphinx_continuous -infile on any clip, windows included", async (t) => {
    const rows: string[] = [];
    const worse: string[] = [];
    for (const testCase of cases) {
      // Two cores: the command line runs beside our slots.
      const [cli, server] = await Promise.all([commandLineText(testCase.clip.path), serverText(engines, testCase)]);
      const cliWer = wordErrorRate(testCase.clip.reference, cli);
      const serverWer = wordErrorRate(testCase.clip.reference, server.text);
      const words = normaliseWords(testCase.clip.reference).length;
      rows.push(`${testCase.label.padEnd(44)} ${server.durationS.toFixed(2).padStart(6)} ${String(words).padStart(5)} ${String(server.windows).padStart(7)} ${cliWer.toFixed(3).padStart(7)} ${serverWer.toFixed(3).padStart(7)}`);
      if (serverWer > cliWer) worse.push(`${testCase.label}: server ${serverWer.toFixed(3)} > command line ${cliWer.toFixed(3)}\n  server: ${server.text}\n  cli:    ${cli}`);
      if (testCase.minWindowS !== undefined) assert.equal(server.windows, 2, `${testCase.label} was meant to run in two windows`);
    }
    t.diagnostic(`${"clip".padEnd(44)} ${"dur s".padStart(6)} ${"words".padStart(5)} windows ${"cli".padStart(7)} ${"server".padStart(7)}`);
    for (const row of rows) t.diagnostic(row);
    assert.deepEqual(worse, []);
  });
});
