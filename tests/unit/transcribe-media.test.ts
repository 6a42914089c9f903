import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Engine, EngineInput, EngineTranscription } from "../../src/server/asr/engine";
import { transcribeMedia } from "../../src/server/asr/transcribe-media";
import { PermanentJobError } from "../../src/server/errors";
import { makeAudio, makeTempDir, type TempDir } from "../helpers/fixtures";

type Call = EngineInput & { finishedAt?: number };

/** An engine that "hears" one word per window, at the window's start, after `delayMs`. */
function fakeEngine(options: { delayMs?: number; fail?: Error; words?: boolean } = {}): Engine & { calls: Call[] } {
  const calls: Call[] = [];
  return {
    info: { name: "fake", model: "test", provider: "cpu", languages: ["en"] },
    calls,
    async transcribe(input): Promise<EngineTranscription> {
      const call: Call = { ...input };
      calls.push(call);
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, options.delayMs ?? 10);
        input.signal.addEventListener("abort", () => {
          clearTimeout(timer);
          reject(input.signal.reason);
        }, { once: true });
      });
      call.finishedAt = Date.now();
      if (options.fail) throw options.fail;
      const startS = (input.startS ?? 0) + 0.5;
      const words = options.words === false ? [] : [{ text: `w${Math.round(startS)}`, startS, endS: startS + 0.3, confidence: 0.9 }];
      return { language: "en", segments: words.length ? [{ startS, endS: startS + 0.3, text: words[0]!.text, words }] : [] };
    },
    async close() {},
  };
}

let tmp: TempDir;
let file30 = "";
before(async () => {
  tmp = await makeTempDir("transcribe-media-test-");
  file30 = await makeAudio(
    [{ kind: "sine", durationS: 9.5 }, { kind: "silence", durationS: 1 }, { kind: "sine", durationS: 9.5 }, { kind: "silence", durationS: 1 }, { kind: "sine", durationS: 9 }],
    { dir: tmp.dir, name: "thirty.wav" },
  );
});
after(async () => {
  await tmp.cleanup();
});

const signal = (): AbortSignal => new AbortController().signal;

describe("transcribeMedia", () => {
  it("runs the whole file on one engine when k = 1", async () => {
    const engine = fakeEngine();
    const progress: number[] = [];
    const output = await transcribeMedia({ mediaPath: file30, language: "en", engines: [engine], signal: signal(), onProgress: (f) => progress.push(f) });
    assert.equal(engine.calls.length, 1);
    assert.equal(engine.calls[0]?.startS, undefined);
    assert.equal(output.media.durationS, 30);
    assert.deepEqual(progress, [1]);
    assert.equal(output.engine.name, "fake");
  });

  it("splits across k engines at silences and stitches in time order", async () => {
    // The later windows finish first: stitching must still be in time order.
    const engines = [fakeEngine({ delayMs: 120 }), fakeEngine({ delayMs: 60 }), fakeEngine({ delayMs: 10 })];
    const progress: number[] = [];
    const output = await transcribeMedia({ mediaPath: file30, language: "en", engines, signal: signal(), onProgress: (f) => progress.push(f) });
    const windows = engines.map((engine) => engine.calls[0]);
    assert.equal(windows[0]?.startS, 0);
    assert.ok((windows[1]?.startS ?? 0) >= 9.5 && (windows[1]?.startS ?? 0) <= 10.5, String(windows[1]?.startS));
    assert.equal(windows[0]?.endS, windows[1]?.startS);
    assert.equal(windows[2]?.endS, undefined); // the last window runs to the end
    const starts = output.transcription.segments.map((segment) => segment.startS);
    assert.deepEqual(starts, [...starts].sort((a, b) => a - b));
    assert.equal(starts.length, 3);
    assert.equal(progress.length, 3);
    assert.equal(progress[2], 1);
    assert.ok(progress.every((value, i) => i === 0 || value >= (progress[i - 1] ?? 0)));
  });

  it("uses fewer windows than engines for short files", async () => {
    const short = await makeAudio([{ kind: "sine", durationS: 15 }], { dir: tmp.dir, name: "short.wav" });
    const engines = [fakeEngine(), fakeEngine()];
    await transcribeMedia({ mediaPath: short, language: "en", engines, signal: signal() });
    assert.equal(engines[0]?.calls.length, 1);
    assert.equal(engines[1]?.calls.length, 0);
  });

  it("takes the shortest window from the engine unless the caller gives one", async () => {
    // An engine whose windows each cost a warm-up (PocketSphinx) asks for longer ones.
    const warmingUp = () => ({ ...fakeEngine(), minWindowS: 20 });
    const whole = [warmingUp(), warmingUp(), warmingUp()];
    await transcribeMedia({ mediaPath: file30, language: "en", engines: whole, signal: signal() });
    assert.deepEqual(whole.map((engine) => engine.calls.length), [1, 0, 0]);
    assert.equal(whole[0]?.calls[0]?.startS, undefined);
    const split = [warmingUp(), warmingUp(), warmingUp()];
    await transcribeMedia({ mediaPath: file30, language: "en", engines: split, signal: signal(), minWindowS: 10 });
    assert.deepEqual(split.map((engine) => engine.calls.length), [1, 1, 1]);
  });

  it("aborts the other windows when one fails, and returns only after all stopped", async () => {
    const failure = new Error("engine crashed");
    const engines = [fakeEngine({ delayMs: 5000 }), fakeEngine({ delayMs: 20, fail: failure }), fakeEngine({ delayMs: 5000 })];
    const started = Date.now();
    await assert.rejects(transcribeMedia({ mediaPath: file30, language: "en", engines, signal: signal() }), (error) => error === failure);
    assert.ok(Date.now() - started < 2000);
  });

  it("propagates the caller's abort", async () => {
    const controller = new AbortController();
    const run = transcribeMedia({ mediaPath: file30, language: "en", engines: [fakeEngine({ delayMs: 5000 }), fakeEngine({ delayMs: 5000 })], signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    await assert.rejects(run, { name: "AbortError" });
  });

  it("rejects silence-only results and media without audio", async () => {
    await assert.rejects(
      transcribeMedia({ mediaPath: file30, language: "en", engines: [fakeEngine({ words: false })], signal: signal() }),
      (error: unknown) => error instanceof PermanentJobError && error.message === "No speech was detected in the audio (it is silent or contains no recognisable speech)",
    );
    const media = { format: "wav", durationS: 0, sampleRateHz: 16000, channels: 1, audioCodec: "pcm_s16le", hasAudio: true };
    await assert.rejects(transcribeMedia({ mediaPath: file30, language: "en", engines: [fakeEngine()], signal: signal(), media }), PermanentJobError);
    await assert.rejects(
      transcribeMedia({ mediaPath: file30, language: "en", engines: [fakeEngine()], signal: signal(), media: { ...media, durationS: 5, hasAudio: false } }),
      { message: "The media has no audio stream" },
    );
  });
});

describe("transcribeMedia with an engine that batches its slots together", () => {
  it("gives the whole file to one call whose weight is the number of slots, and relays its progress", async () => {
    const shared = fakeEngine();
    const progress: number[] = [];
    const sharing: Engine & { calls: Call[] } = {
      ...shared,
      sharedBatching: true,
      transcribe: async (input) => {
        input.onProgress?.(0.25);
        input.onProgress?.(0.5);
        return shared.transcribe(input);
      },
    };
    const output = await transcribeMedia({ mediaPath: file30, language: "en", engines: [sharing, sharing, sharing], signal: signal(), onProgress: (f) => progress.push(f) });
    assert.equal(shared.calls.length, 1, "one call, not one per slot");
    assert.equal(shared.calls[0]?.weight, 3);
    assert.equal(shared.calls[0]?.startS, undefined);
    assert.equal(shared.calls[0]?.chunks, undefined);
    assert.deepEqual(progress, [0.25, 0.5, 1]);
    assert.equal(output.transcription.segments.length, 1);
  });
});
