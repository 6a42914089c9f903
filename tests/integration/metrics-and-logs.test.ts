import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { OPERATOR } from "../../src/server/access";
import { createCaller } from "../../src/server/api/trpc/root";
import { createLogger } from "../../src/server/logger";
import { startFakeOpenAiServer, requestedCues, type FakeOpenAiServer } from "../helpers/fake-openai-server";
import { librivoxClips } from "../helpers/fixtures";
import { parsePrometheusText, sampleValue, type Exposition } from "../helpers/prometheus-text";
import { startTestApp, v2JobForm, type TestApp } from "../helpers/test-app";
import { TEST_PROVIDERS } from "../helpers/test-database";
import { waitFor } from "../helpers/wait-for";

const clip = librivoxClips()[0]!;
const SRT = "1\n00:00:01,000 --> 00:00:03,000\nteh first cue\n\n2\n00:00:04,000 --> 00:00:06,000\nteh second cue\n";

type LogLine = { level: string; msg: string; [field: string]: unknown };

/** Every line must be blank, a comment, or `name{labels} value` (the parser throws otherwise). */
async function scrape(baseUrl: string, headers: Record<string, string> = {}): Promise<Exposition> {
  const response = await fetch(`${baseUrl}/metrics`, { headers });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  return parsePrometheusText(await response.text());
}

for (const provider of TEST_PROVIDERS) {
  describe(`GET /metrics, the access log and job lifecycle lines on ${provider}`, () => {
    const lines: LogLine[] = [];
    let llm: FakeOpenAiServer;
    let t: TestApp;
    let jobId: string;
    let fixJobId: string;
    let audioSeconds: number;
    let beforeJob: Exposition;
    let afterJob: Exposition;

    const find = (predicate: (line: LogLine) => boolean) => lines.find(predicate);

    before(async () => {
      // The first LLM request fails with a 500; its retry succeeds.
      llm = await startFakeOpenAiServer((request, n) =>
        n === 1 ? { kind: "error", status: 500 } : { kind: "content", content: JSON.stringify({ cues: requestedCues(request).map((cue) => ({ ...cue, text: cue.text.replace("teh", "The") })) }) },
      );
      const logger = createLogger("debug", (line) => lines.push(JSON.parse(line) as LogLine));
      t = await startTestApp(provider, { OPENAI_BASE_URL: llm.baseURL, OPENAI_API_KEY: "test", LLM_MAX_RETRIES: "1" }, { logger });

      beforeJob = await scrape(t.baseUrl);
      const response = await fetch(`${t.baseUrl}/v2/jobs`, { method: "POST", body: await v2JobForm(clip.path) });
      assert.equal(response.status, 201);
      jobId = ((await response.json()) as { id: string }).id;
      const settled = await t.app.jobs.waitForSettled(jobId, 60_000);
      assert.equal(settled.status, "DONE", settled.failureReason ?? "");
      audioSeconds = settled.media!.durationS!;
      // One more read of the job, so its `:id` route shows up in the log and the metrics.
      assert.equal((await fetch(`${t.baseUrl}/v2/jobs/${jobId}?access_token=secret-in-query`)).status, 200);
      afterJob = await scrape(t.baseUrl);

      const media = await t.app.media.ingest(Readable.from([Buffer.from(SRT)]), { originalName: "subs.srt", contentType: "application/x-subrip" });
      const fix = await createCaller({ app: t.app, principal: OPERATOR }).jobs.createFixSrt({ mediaFileId: media.id });
      fixJobId = fix.id;
      assert.equal((await t.app.jobs.waitForSettled(fixJobId, 60_000)).status, "DONE");
    });
    after(async () => {
      await t?.close();
      await llm?.close();
    });

    it("serves Prometheus text whose counters moved with the job", () => {
      const moved = (name: string, labels: Record<string, string> = {}) => sampleValue(afterJob, name, labels) - sampleValue(beforeJob, name, labels);
      assert.equal(moved("http_requests_total", { route: "/v2/jobs", method: "POST", status: "201" }), 1);
      assert.equal(moved("http_request_duration_seconds_count", { route: "/v2/jobs" }), 1);
      assert.equal(moved("jobs", { type: "transcribe", status: "DONE" }), 1);
      assert.ok(Math.abs(moved("audio_seconds_processed_total", { type: "transcribe" }) - audioSeconds) < 1e-6, `audio seconds grew by the file's ${audioSeconds} s`);
      assert.equal(moved("transcription_rtfx_count"), 1);
      assert.ok(moved("transcription_rtfx_sum") > 0);
      assert.equal(sampleValue(afterJob, "engine_slots", { state: "total" }), 2);
      assert.equal(sampleValue(afterJob, "engine_slots", { state: "used" }), 0);
      for (const lane of ["asr", "convert", "llm"]) assert.equal(sampleValue(afterJob, "queue_depth", { lane }), 0);
      for (const name of ["llm_requests_in_flight", "llm_retries_total", "webhook_deliveries_total", "http_request_duration_seconds"]) {
        assert.ok(afterJob.types.has(name), `${name} is declared`);
      }
      assert.equal(afterJob.types.get("transcription_rtfx"), "histogram");
      assert.equal(afterJob.types.get("jobs"), "gauge");
      assert.equal(afterJob.types.get("http_requests_total"), "counter");
    });

    it("labels requests by route template, never by a raw path with an id", async () => {
      const scraped = await scrape(t.baseUrl);
      assert.equal(sampleValue(scraped, "http_requests_total", { route: "/v2/jobs/:id", method: "GET", status: "200" }), 1);
      const routes = new Set(scraped.samples.filter((sample) => sample.name === "http_requests_total").map((sample) => sample.labels.route));
      assert.ok(![...routes].some((route) => route?.includes(jobId)), [...routes].join(", "));
    });

    it("counts LLM retries, and the LLM failure line carries the job's id", async () => {
      const failure = find((line) => line.msg === "LLM request failed; retrying");
      assert.ok(failure, "an LLM failure line");
      assert.equal(failure.jobId, fixJobId);
      assert.equal(failure.level, "warn");
      assert.match(String(failure.error), /500/);
      assert.equal(sampleValue(await scrape(t.baseUrl), "llm_retries_total"), 1);
    });

    it("writes one access-log line per request with the route, status, time and the created job's id, and no query string", async () => {
      const created = lines.filter((line) => line.msg === "request" && line.method === "POST" && line.path === "/v2/jobs");
      assert.equal(created.length, 1);
      const line = created[0]!;
      assert.equal(line.level, "info");
      assert.equal(line.route, "/v2/jobs");
      assert.equal(line.status, 201);
      assert.equal(line.jobId, jobId);
      assert.equal(typeof line.ms, "number");
      assert.ok(Number(line.bytes) > 0);

      const read = await waitFor("the GET line", 5000, () => find((l) => l.msg === "request" && l.route === "/v2/jobs/:id" && l.method === "GET"));
      assert.equal(read.path, `/v2/jobs/${jobId}`);
      assert.equal(read.jobId, jobId);
      assert.ok(!lines.some((l) => JSON.stringify(l).includes("secret-in-query")), "no query string reaches the log");

      // Scrapes are logged at debug, so they do not bury the rest.
      const scrapeLine = find((l) => l.msg === "request" && l.route === "/metrics");
      assert.equal(scrapeLine?.level, "debug");
    });

    it("logs the job's lifecycle with its id: accepted, started, done with audio seconds and RTFx", () => {
      const accepted = find((line) => line.msg === "job accepted" && line.jobId === jobId);
      assert.ok(accepted, "job accepted");
      assert.equal(accepted.type, "transcribe");
      assert.equal(accepted.origin, "v2");
      assert.equal(accepted.lane, "asr");
      assert.ok("userId" in accepted);
      const started = find((line) => line.msg === "job started" && line.jobId === jobId);
      assert.ok(started, "job started");
      assert.equal(started.attempt, 1);
      assert.equal(typeof started.owner, "string");
      const done = find((line) => line.msg === "job done" && line.jobId === jobId);
      assert.ok(done, "job done");
      assert.equal(done.audioSeconds, audioSeconds);
      assert.equal(typeof done.processingMs, "number");
      assert.ok(Number(done.rtfx) > 0);
      const order = [accepted, started, done].map((line) => lines.indexOf(line));
      assert.deepEqual(order, [...order].sort((a, b) => a - b), "accepted, then started, then done");

      // fix_srt goes through the same lines.
      for (const msg of ["job accepted", "job started", "job done"]) assert.ok(find((line) => line.msg === msg && line.jobId === fixJobId), `${msg} for fix_srt`);
    });
  });

  describe(`GET /metrics behind API_KEYS on ${provider}`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(provider, { API_KEYS: "operator-key,alice-key:alice" });
    });
    after(() => t?.close());

    it("needs an operator key: none is 401, a user's is 403, an operator's is 200", async () => {
      const none = await fetch(`${t.baseUrl}/metrics`);
      assert.equal(none.status, 401);
      assert.match(none.headers.get("content-type") ?? "", /^application\/json/);
      assert.equal((await fetch(`${t.baseUrl}/metrics`, { headers: { authorization: "Bearer alice-key" } })).status, 403);
      assert.equal((await fetch(`${t.baseUrl}/metrics`, { headers: { authorization: "Bearer wrong" } })).status, 401);
      // The refusals are counted under the route with their statuses (once each response has finished).
      const scraped = await waitFor("the refusals in the counters", 5000, async () => {
        const found = await scrape(t.baseUrl, { authorization: "Bearer operator-key" });
        return sampleValue(found, "http_requests_total", { route: "/metrics", status: "401" }) === 2 ? found : undefined;
      });
      assert.ok(scraped.types.has("http_requests_total"));
      assert.equal(sampleValue(scraped, "http_requests_total", { route: "/metrics", status: "403" }), 1);
    });
  });
}
