import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { BatchClient } from "@speechmatics/batch-client";
import { startTestApp, type TestApp } from "../helpers/test-app";
import { toneWav } from "../helpers/wav";

/**
 * The vendor's official batch SDK, from npm, unchanged, pointed at this server: its
 * `transcribe()` creates a job, polls it and fetches the transcript.
 */
describe("the vendor's batch SDK (@speechmatics/batch-client)", () => {
  let t: TestApp;
  let client: BatchClient;

  before(async () => {
    // OUTBOUND_ALLOW_HOSTS: the media server of the { url } case is on loopback.
    t = await startTestApp("sqlite", { API_KEYS: "sdk-key", OUTBOUND_ALLOW_HOSTS: "127.0.0.1", ASR_ENGINE_MODULE: path.resolve("bench/instant-engine.ts") });
    client = new BatchClient({ apiKey: "sdk-key", apiUrl: t.baseUrl, appId: "transcribe-platform-test" });
  });
  after(async () => {
    await t?.close();
  });

  it("transcribes a file with transcribe(), in json-v2, text and srt", async () => {
    const input = { data: new Blob([new Uint8Array(toneWav({ durationS: 2 }))], { type: "audio/wav" }), fileName: "tone.wav" };
    const json = await client.transcribe(input, { transcription_config: { language: "en" } }, "json-v2", 60_000);
    assert.equal(typeof json, "object");
    const results = (json as { results: { alternatives?: { content: string }[] }[] }).results;
    assert.ok(results.length > 0);
    assert.equal(results[0]!.alternatives?.[0]?.content, "word");
    const text = await client.transcribe(input, { transcription_config: { language: "en" } }, "text", 60_000);
    assert.match(String(text), /word/);
    const srt = await client.transcribe(input, { transcription_config: { language: "en" } }, "srt", 60_000);
    assert.match(String(srt), /^1\r?\n00:00:00,000 --> /);
  });

  it("lists, reads and deletes jobs", async () => {
    const { jobs } = await client.listJobs();
    assert.equal(jobs.length, 3);
    const job = await client.getJob(jobs[0]!.id);
    assert.equal(job.job.id, jobs[0]!.id);
    assert.equal(job.job.status, "done");
    const deleted = await client.deleteJob(jobs[0]!.id);
    assert.equal(deleted.job.id, jobs[0]!.id);
    assert.equal((await client.listJobs()).jobs.length, 2);
  });

  it("transcribes media by URL with transcribe({ url, auth_headers }) (fetch_data)", async () => {
    const wav = toneWav({ durationS: 2 });
    const media = http.createServer((req, res) => {
      if (req.headers.authorization !== "Bearer media-secret") return void res.writeHead(401).end();
      res.writeHead(200, { "content-type": "audio/wav" }).end(wav);
    });
    await new Promise<void>((resolve) => media.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://127.0.0.1:${(media.address() as AddressInfo).port}/calls/tone.wav`;
      const json = await client.transcribe({ url, auth_headers: ["Authorization: Bearer media-secret"] }, { transcription_config: { language: "en" } }, "json-v2", 60_000);
      const results = (json as { results: { alternatives?: { content: string }[] }[] }).results;
      assert.equal(results[0]!.alternatives?.[0]?.content, "word");
      const { jobs } = await client.listJobs();
      assert.equal(jobs[0]!.data_name, "tone.wav");
    } finally {
      media.closeAllConnections();
      await new Promise((resolve) => media.close(resolve));
    }
  });
});
