import assert from "node:assert/strict";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it, mock } from "node:test";
import { decodePcm } from "../../src/server/media/decode-pcm";
import { GreedyGroup, type DecodedSequence, type GroupRules } from "../../src/server/asr/whisper/decode-groups";
import { DecodeScheduler, type ChunkDecode } from "../../src/server/asr/whisper/decode-scheduler";
import { greedyDecode } from "../../src/server/asr/whisper/greedy-decode";
import { LogMelExtractor } from "../../src/server/asr/whisper/log-mel";
import { loadWhisperModelFiles, type WhisperModelFiles } from "../../src/server/asr/whisper/model-files";
import { WhisperSessions } from "../../src/server/asr/whisper/whisper-sessions";
import { librivoxClips } from "../helpers/fixtures";

/**
 * The scheduler under faults: a request that breaks in the middle of decoding (its logits
 * filter throws, as a bug in one request's rules would) or before it (its features cannot be
 * computed) fails alone; the requests it shared decoder calls with get what they get alone.
 */
const MODEL_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../fixtures/whisper-tiny-positions");
const signal = () => new AbortController().signal;

describe("DecodeScheduler (tiny model with per-row positions)", () => {
  let files: WhisperModelFiles;
  let sessions: WhisperSessions;
  let features: Float32Array[];
  before(async () => {
    files = await loadWhisperModelFiles(MODEL_DIR, "fp32");
    sessions = await WhisperSessions.create(files, { provider: "cpu", intraOpThreads: 2 });
    assert.ok(sessions.acceptsRowPositions, "the positions fixture takes attention_mask and position_ids");
    const mel = new LogMelExtractor(files.features);
    features = [];
    for (const clip of librivoxClips().slice(0, 4)) features.push(mel.extract(await decodePcm(clip.path, { signal: signal() })));
  });
  after(() => sessions.close());

  const chunk = (index: number, filter?: GroupRules["filterLogits"]): ChunkDecode => {
    const { special } = files.tokenizer;
    const rules: GroupRules = { maxNewTokens: 20, endOfText: special.endOfText, ...(filter ? { filterLogits: filter } : {}) };
    return { features: () => features[index]!, prompt: [special.startOfTranscript, special.languages.get("en")!, special.transcribe], group: () => new GreedyGroup(rules) };
  };
  const aloneResults = async (): Promise<DecodedSequence[]> => {
    const scheduler = new DecodeScheduler(sessions, { maxRows: 1, encodeBatch: 1 });
    const results: DecodedSequence[] = [];
    for (let i = 0; i < features.length; i++) results.push(...(await scheduler.decode({ chunks: [chunk(i)], weight: 1, signal: signal() })));
    return results;
  };

  it("lets a chunk join as soon as a row frees where rows may sit at different positions; else when the batch empties", async () => {
    const optimumFiles = await loadWhisperModelFiles(MODEL_DIR.replace(/-positions$/, ""), "fp32");
    const optimum = await WhisperSessions.create(optimumFiles, { provider: "cpu", intraOpThreads: 2 });
    try {
      assert.equal(optimum.acceptsRowPositions, false);
      // Six chunks of uneven length (end-of-text never comes: exactly maxNewTokens each), two rows.
      const lengths = [2, 12, 3, 12, 4, 12];
      const uneven = lengths.map((maxNewTokens, i) => ({ ...chunk(i % features.length), group: () => new GreedyGroup({ maxNewTokens, endOfText: -1 }) }));
      const run = async (on: WhisperSessions) => {
        const scheduler = new DecodeScheduler(on, { maxRows: 2, encodeBatch: 2 });
        const results = await scheduler.decode({ chunks: uneven, weight: 1, signal: signal() });
        return { results, stats: scheduler.stats() };
      };
      const alone: DecodedSequence[] = [];
      for (const spec of uneven) alone.push(...(await new DecodeScheduler(sessions, { maxRows: 1, encodeBatch: 1 }).decode({ chunks: [spec], weight: 1, signal: signal() })));
      const continuous = await run(sessions);
      const cohorts = await run(optimum);
      continuous.results.forEach((result, i) => assert.deepEqual(result.tokens, alone[i]!.tokens, `positions, chunk ${i}`));
      cohorts.results.forEach((result, i) => assert.deepEqual(result.tokens, alone[i]!.tokens, `optimum, chunk ${i}`));
      // Cohorts: pairs (2,12) (3,12) (4,12) each last 12 tokens; the first token comes from the
      // prefill, so 3 × 11 cached calls. Continuous: a short chunk's row is refilled at once.
      assert.equal(cohorts.stats.steps, 33);
      assert.ok(continuous.stats.steps < cohorts.stats.steps, JSON.stringify({ continuous: continuous.stats, cohorts: cohorts.stats }));
      assert.ok(continuous.stats.rowSteps / continuous.stats.steps > cohorts.stats.rowSteps / cohorts.stats.steps);
    } finally {
      await optimum.close();
    }
  });

  it("rows that join, leave and move within the batch decode what greedyDecode (checked against PyTorch) decodes alone", async () => {
    // Uneven lengths over 3 rows: rows leave from the front and the middle, waiting chunks
    // take their place, and survivors move down in the cross-attention K/V (KvRowSlab).
    const lengths = [3, 14, 5, 9, 2, 12, 7, 4];
    const specs = lengths.map((maxNewTokens, i) => ({ ...chunk(i % features.length), group: () => new GreedyGroup({ maxNewTokens, endOfText: -1 }) }));
    const scheduler = new DecodeScheduler(sessions, { maxRows: 3, encodeBatch: 2 });
    const together = await scheduler.decode({ chunks: specs, weight: 1, signal: signal() });
    assert.ok(scheduler.stats().relayouts >= 4, JSON.stringify(scheduler.stats()));
    const { special } = files.tokenizer;
    for (const [i, maxNewTokens] of lengths.entries()) {
      const hidden = await sessions.encode(features[i % features.length]!, 1);
      const [expected] = await greedyDecode(sessions, hidden, 1, { prompt: [special.startOfTranscript, special.languages.get("en")!, special.transcribe], maxNewTokens, endOfText: null, useCache: true });
      assert.deepEqual(together[i]!.tokens, expected, `chunk ${i}`);
    }
  });

  it("keeps the batch's K/V buffer from one burst to the next and drops it after 10 s idle", async (t) => {
    t.after(() => mock.timers.reset());
    mock.timers.enable({ apis: ["setTimeout"] });
    const scheduler = new DecodeScheduler(sessions, { maxRows: 2, encodeBatch: 2 });
    assert.equal(scheduler.holdsKvBuffer, false);
    await scheduler.decode({ chunks: [chunk(0), chunk(1)], weight: 1, signal: signal() });
    await scheduler.whenIdle();
    mock.timers.tick(9_999);
    assert.equal(scheduler.holdsKvBuffer, true, "held through a gap between files");
    await scheduler.decode({ chunks: [chunk(2)], weight: 1, signal: signal() });
    await scheduler.whenIdle();
    mock.timers.tick(9_999);
    assert.equal(scheduler.holdsKvBuffer, true, "the idle clock restarts with each burst");
    mock.timers.tick(1);
    assert.equal(scheduler.holdsKvBuffer, false, "dropped after 10 s with nothing to decode");
  });

  it("a request whose decoding throws mid-way fails; the others in its batch are unchanged", async () => {
    const alone = await aloneResults();
    const scheduler = new DecodeScheduler(sessions, { maxRows: 8, encodeBatch: 8 });
    let calls = 0;
    const faulty = scheduler.decode({
      chunks: [
        chunk(0, () => {
          if (++calls === 5) throw new Error("a fault in this request's rules");
        }),
      ],
      weight: 1,
      signal: signal(),
    });
    const good = features.map((_, i) => scheduler.decode({ chunks: [chunk(i)], weight: 1, signal: signal() }));
    await assert.rejects(faulty, /a fault in this request's rules/);
    const results = (await Promise.all(good)).flat();
    assert.equal(calls, 5);
    results.forEach((result, i) => {
      assert.deepEqual(result.tokens, alone[i]!.tokens, `chunk ${i}`);
      assert.ok(Math.abs(result.meanLogProb - alone[i]!.meanLogProb) < 1e-4);
    });
    // They did share decoder calls with the faulty one.
    assert.ok(scheduler.stats().rowSteps / scheduler.stats().steps > 3);
  });

  it("a request whose features cannot be computed fails at admission; the others are unchanged", async () => {
    const alone = await aloneResults();
    // Prefilled together (as on CUDA): the failing batch is retried chunk by chunk.
    const scheduler = new DecodeScheduler(sessions, { maxRows: 8, encodeBatch: 8, prefillBatch: 8 });
    const broken: ChunkDecode = {
      ...chunk(0),
      features: () => {
        throw new Error("unreadable samples");
      },
    };
    const good = features.map((_, i) => scheduler.decode({ chunks: [chunk(i)], weight: 1, signal: signal() }));
    const faulty = scheduler.decode({ chunks: [broken, chunk(1)], weight: 1, signal: signal() });
    await assert.rejects(faulty, /unreadable samples/);
    (await Promise.all(good)).flat().forEach((result, i) => assert.deepEqual(result.tokens, alone[i]!.tokens, `chunk ${i}`));
  });

  it("on CPU prefills the chunks that join together one per call, and they decode as if prefilled together", async () => {
    assert.equal(sessions.batchesChunks, false);
    const run = async (prefillBatch?: number) => {
      const scheduler = new DecodeScheduler(sessions, { maxRows: 4, encodeBatch: 4, ...(prefillBatch ? { prefillBatch } : {}) });
      const results = (await Promise.all(features.map((_, i) => scheduler.decode({ chunks: [chunk(i)], weight: 1, signal: signal() })))).flat();
      return { results, stats: scheduler.stats() };
    };
    const single = await run();
    const together = await run(4);
    assert.equal(single.stats.prefills, features.length, "one prompt call per chunk");
    assert.equal(together.stats.prefills, 1, "all four joined in one round");
    assert.ok(single.stats.rowSteps / single.stats.steps > 3, "they still decode as one batch");
    single.results.forEach((result, i) => {
      assert.deepEqual(result.tokens, together.results[i]!.tokens, `chunk ${i}`);
      assert.ok(Math.abs(result.meanLogProb - together.results[i]!.meanLogProb) < 1e-4);
    });
  });

  it("a request aborted before it is admitted never takes rows", async () => {
    const scheduler = new DecodeScheduler(sessions, { maxRows: 2, encodeBatch: 2 });
    const controller = new AbortController();
    const first = scheduler.decode({ chunks: [chunk(0), chunk(1)], weight: 1, signal: signal() });
    const waiting = scheduler.decode({ chunks: [chunk(2), chunk(3)], weight: 1, signal: controller.signal });
    controller.abort(new Error("cancelled while waiting"));
    await assert.rejects(waiting, /cancelled while waiting/);
    await first;
    assert.equal(scheduler.stats().chunks, 2);
  });

  it("gives a request with a larger weight more of the batch while requests compete", async () => {
    const scheduler = new DecodeScheduler(sessions, { maxRows: 3, encodeBatch: 3 });
    const order: string[] = [];
    const many = () => features.map((_, i) => ({ ...chunk(i), group: () => new GreedyGroup({ maxNewTokens: 6, endOfText: -1 }) }));
    const heavy = scheduler.decode({ chunks: many(), weight: 2, signal: signal(), onChunkDone: () => order.push("heavy") });
    const light = scheduler.decode({ chunks: many(), weight: 1, signal: signal(), onChunkDone: () => order.push("light") });
    await Promise.all([heavy, light]);
    // Equal work per chunk: with 3 rows shared 2:1, the heavy request's four chunks are done
    // while the light one still has chunks left.
    assert.equal(order.lastIndexOf("heavy") < order.lastIndexOf("light"), true, order.join(","));
    assert.equal(order.slice(0, 3).filter((who) => who === "heavy").length, 2, order.join(","));
  });

  it("shares the thread: other work gets as much time between decoder calls as the calls take", async () => {
    // onnxruntime-node runs a session synchronously on the JS thread; a VAD or ffmpeg reader
    // on the same thread advances only between calls. Here that other work comes in small
    // synchronous slices (0.1 ms each, like one VAD window) and must get about as much of the
    // thread as the sessions do. One turn of the event loop per call would give it a slice or
    // two per call: a small fraction of a decoder call's time.
    const callMs = { total: 0 };
    const timed = <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
      async (...args: A): Promise<R> => {
        const from = performance.now();
        try {
          return await fn(...args);
        } finally {
          callMs.total += performance.now() - from;
        }
      };
    const shared = Object.create(sessions) as WhisperSessions;
    shared.run = timed(sessions.run.bind(sessions));
    shared.encode = timed(sessions.encode.bind(sessions));
    const scheduler = new DecodeScheduler(shared, { maxRows: 4, encodeBatch: 4 });
    const long = features.map((_, i) => ({ ...chunk(i), group: () => new GreedyGroup({ maxNewTokens: 40, endOfText: -1 }) }));
    let done = false;
    let otherMs = 0;
    const other = (async () => {
      while (!done) {
        const from = performance.now();
        while (performance.now() - from < 0.1);
        otherMs += performance.now() - from;
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    await scheduler.decode({ chunks: long, weight: 1, signal: signal() }).finally(() => (done = true));
    await other;
    assert.ok(scheduler.stats().steps >= 39);
    assert.ok(otherMs > 0.7 * callMs.total, JSON.stringify({ otherMs, callMs: callMs.total, stats: scheduler.stats() }));
  });
});
