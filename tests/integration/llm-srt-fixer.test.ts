import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { LlmLimiter } from "../../src/server/llm/llm-limiter";
import { createOpenAiComplete } from "../../src/server/llm/openai-complete";
import { fixSrtCues, textSimilarity } from "../../src/server/llm/srt-fixer";
import { parseSrt, renderSrt } from "../../src/server/subtitles/srt";
import { requestedCues, startFakeOpenAiServer, type ChatRequest, type FakeOpenAiServer, type ScriptedReply } from "../helpers/fake-openai-server";

const FAST_RETRY = { maxRetries: 4, baseDelayMs: 20, maxDelayMs: 2000 };

/** An SRT of `count` cues with recognisable ASR-style mistakes ("teh", no capitals). */
function srtFile(count: number, seed = 0): string {
  const cues = Array.from({ length: count }, (_, i) => {
    const start = 1 + i * 3 + seed;
    const stamp = (s: number) => `00:${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")},${String((i * 37) % 1000).padStart(3, "0")}`;
    return `${i + 1}\n${stamp(start)} --> ${stamp(start + 2)}\nthis is teh line number ${i + 1} of file ${seed}\n`;
  });
  return cues.join("\n");
}

/** The good correction a careful model would return for the request. */
function corrected(request: ChatRequest): string {
  return JSON.stringify({ cues: requestedCues(request).map((cue) => ({ ...cue, text: `${cue.text.replace("teh", "the").replace(/^this/, "This")}.` })) });
}

const timingLines = (srt: string) => srt.split("\n").filter((line) => line.includes("-->"));

describe("fix_srt core: windows, validation, limiter and retries against a real HTTP stand-in", () => {
  const servers: FakeOpenAiServer[] = [];
  const serve = async (script: (request: ChatRequest, n: number) => ScriptedReply) => {
    const server = await startFakeOpenAiServer(script);
    servers.push(server);
    return server;
  };
  after(async () => {
    await Promise.all(servers.map((server) => server.close()));
  });

  for (const limit of [1, 4]) {
    it(`40 SRT files at once never exceed MAX_LLM_CONCURRENCY=${limit}; timings stay byte for byte, broken replies never reach the output`, async () => {
      // The first reply for every window is broken (one window in two drops a cue, the others
      // move a timing); both kinds must be rejected and the window asked again.
      const seen = new Set<string>();
      const server = await serve((request) => {
        const cues = requestedCues(request);
        const window = cues[0]!.text;
        if (!seen.has(window)) {
          seen.add(window);
          const broken = seen.size % 2 ? cues.slice(1) : cues.map((cue) => ({ ...cue, start: "00:00:00,000" }));
          return { kind: "content", content: JSON.stringify({ cues: broken }), delayMs: 5 };
        }
        return { kind: "content", content: corrected(request), delayMs: 15 };
      });
      const limiter = new LlmLimiter(limit);
      const complete = createOpenAiComplete({ baseURL: server.baseURL, apiKey: "test", timeoutMs: 10_000, limiter, retry: FAST_RETRY });
      const files = Array.from({ length: 40 }, (_, i) => srtFile(25, i));
      const results = await Promise.all(
        files.map((file) => fixSrtCues(parseSrt(file, { keepTimingLines: true }), { model: "gpt-test", complete, signal: new AbortController().signal, windowSize: 10 })),
      );
      assert.ok(server.peakInFlight() <= limit, `peak ${server.peakInFlight()} > ${limit}`);
      assert.equal(limiter.stats().peak, Math.min(limit, limiter.stats().peak));
      if (limit > 1) assert.ok(server.peakInFlight() > 1, "the limit was actually used");
      results.forEach((result, i) => {
        const output = renderSrt(result.cues);
        assert.deepEqual(timingLines(output), timingLines(files[i]!), "timings unchanged byte for byte");
        assert.equal(result.warnings.length, 0, result.warnings.join("; "));
        assert.equal(result.changes.length, 25);
        assert.doesNotMatch(output, /teh/);
        assert.match(output, /This is the line number 1 of file/);
      });
      const windows = results.reduce((sum, result) => sum + Math.ceil(result.cues.length / 10), 0);
      assert.equal(server.requests.length, 2 * windows, "every window's broken first reply was rejected and asked again");
    });
  }

  it("honours Retry-After on 429 and retries 500s, holding no slot while it waits", async () => {
    let first429At = 0;
    let retriedAt = 0;
    const server = await serve((request, n) => {
      if (n === 1) {
        first429At = Date.now();
        return { kind: "error", status: 429, retryAfter: "1" };
      }
      if (n === 2) {
        retriedAt = Date.now();
        return { kind: "error", status: 500 };
      }
      if (n === 3) return { kind: "error", status: 503 };
      return { kind: "content", content: corrected(request) };
    });
    const complete = createOpenAiComplete({ baseURL: server.baseURL, apiKey: "test", timeoutMs: 5000, limiter: new LlmLimiter(1), retry: FAST_RETRY });
    const result = await fixSrtCues(parseSrt(srtFile(3)), { model: "m", complete, signal: new AbortController().signal });
    assert.ok(retriedAt - first429At >= 950, `waited ${retriedAt - first429At} ms for Retry-After: 1`);
    assert.equal(result.changes.length, 3);
    assert.equal(server.requests.length, 4);
  });

  it("times out a slow reply and retries it", async () => {
    const server = await serve((request, n) => (n === 1 ? { kind: "hang" } : { kind: "content", content: corrected(request) }));
    const complete = createOpenAiComplete({ baseURL: server.baseURL, apiKey: "test", timeoutMs: 300, limiter: new LlmLimiter(2), retry: FAST_RETRY });
    const result = await fixSrtCues(parseSrt(srtFile(2)), { model: "m", complete, signal: new AbortController().signal });
    assert.equal(result.changes.length, 2);
    assert.equal(server.requests.length, 2);
  });

  it("keeps a window's original text, with a warning, when every reply rewrites it beyond the similarity threshold", async () => {
    const server = await serve((request) => ({ kind: "content", content: JSON.stringify({ cues: requestedCues(request).map((cue) => ({ ...cue, text: "Completely different words here." })) }) }));
    const complete = createOpenAiComplete({ baseURL: server.baseURL, apiKey: "test", timeoutMs: 5000, limiter: new LlmLimiter(2), retry: FAST_RETRY });
    const original = parseSrt(srtFile(4));
    const result = await fixSrtCues(original, { model: "m", complete, signal: new AbortController().signal, maxReplies: 3 });
    assert.deepEqual(result.cues, original);
    assert.equal(result.changes.length, 0);
    assert.equal(server.requests.length, 3);
    assert.match(result.warnings[0] ?? "", /Cues 1–4 keep their original text: 3 LLM replies were rejected \(last: cue 1 was rewritten \(similarity/);
  });

  it("fails clearly when the endpoint is down, and does not retry a 401", async () => {
    const down = createOpenAiComplete({ baseURL: "http://127.0.0.1:9/v1", apiKey: "test", timeoutMs: 1000, limiter: new LlmLimiter(1), retry: { maxRetries: 1, baseDelayMs: 10, maxDelayMs: 10 } });
    await assert.rejects(fixSrtCues(parseSrt(srtFile(1)), { model: "m", complete: down, signal: new AbortController().signal }), /Connection error/);
    const server = await serve(() => ({ kind: "error", status: 401 }));
    const unauthorised = createOpenAiComplete({ baseURL: server.baseURL, apiKey: "bad", timeoutMs: 1000, limiter: new LlmLimiter(1), retry: FAST_RETRY });
    await assert.rejects(fixSrtCues(parseSrt(srtFile(1)), { model: "m", complete: unauthorised, signal: new AbortController().signal }), /401/);
    assert.equal(server.requests.length, 1);
  });

  it("aborts in-flight and waiting requests when the job is cancelled", async () => {
    const server = await serve(() => ({ kind: "hang" }));
    const limiter = new LlmLimiter(1);
    const complete = createOpenAiComplete({ baseURL: server.baseURL, apiKey: "test", timeoutMs: 60_000, limiter, retry: FAST_RETRY });
    const controller = new AbortController();
    const running = fixSrtCues(parseSrt(srtFile(30)), { model: "m", complete, signal: controller.signal, windowSize: 10 });
    while (server.requests.length < 1) await new Promise((resolve) => setTimeout(resolve, 10));
    controller.abort(new Error("cancelled by the user"));
    await assert.rejects(running, /cancelled by the user|aborted/i);
    for (let i = 0; i < 100 && limiter.stats().active > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual({ active: limiter.stats().active, waiting: limiter.stats().waiting }, { active: 0, waiting: 0 });
  });

  it("measures similarity case-insensitively by edit distance", () => {
    assert.equal(textSimilarity("Hello", "hello"), 1);
    assert.ok(textSimilarity("this is teh line", "This is the line.") > 0.8);
    assert.ok(textSimilarity("this is teh line", "Completely different words here.") < 0.5);
  });
});
