import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, describe, it } from "node:test";
import { librivoxClips, makeTempDir } from "../helpers/fixtures";
import { startTestApp, v2JobForm, waitForV2Job, type TestApp } from "../helpers/test-app";

const MODEL_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../fixtures/whisper-tiny");
const clip = librivoxClips()[0]!;

async function engineOf(t: TestApp): Promise<unknown> {
  return ((await (await fetch(`${t.baseUrl}/jobs`)).json()) as { engine: unknown }).engine;
}

describe("engine selection (ASR_ENGINE, ASR_MODEL_DIR)", () => {
  const apps: TestApp[] = [];
  after(async () => {
    await Promise.all(apps.map((t) => t.close()));
  });

  it("runs the Whisper ONNX engine in worker threads through the job API", async () => {
    const t = await startTestApp("sqlite", { ASR_ENGINE: "whisper-onnx", ASR_MODEL_DIR: MODEL_DIR, PARALLEL: "2" });
    apps.push(t);
    assert.deepEqual(await engineOf(t), { name: "whisper-onnx", model: "whisper-tiny (fp32)", provider: "cpu" });
    const response = await fetch(`${t.baseUrl}/v2/jobs`, { method: "POST", body: await v2JobForm(clip.path) });
    assert.equal(response.status, 201);
    const { job_id: jobId } = (await response.json()) as { job_id: string };
    // The random-weight test model writes gibberish, but every stage runs for real.
    const job = await waitForV2Job(t.baseUrl, jobId, 120_000);
    assert.equal(job.status, "DONE", JSON.stringify(job));
    const doc = (await (await fetch(`${t.baseUrl}/v2/jobs/${jobId}/transcript?format=json-v2`)).json()) as { results: { start_time: number }[] };
    assert.ok(doc.results.length > 0);
    // The event loop stayed free while the engine worked.
    assert.equal((await fetch(`${t.baseUrl}/live`)).status, 200);
  });

  it("auto picks PocketSphinx when no model is configured", async () => {
    const t = await startTestApp("sqlite", { ASR_ENGINE: "auto" });
    apps.push(t);
    assert.deepEqual(await engineOf(t), { name: "pocketsphinx", model: "en-us (cmusphinx)", provider: "cpu" });
  });

  it("reports a broken model in /live and fails jobs at once with the reason", async () => {
    const broken = await makeTempDir("broken-model-");
    await fs.cp(MODEL_DIR, broken.dir, { recursive: true });
    await fs.rm(path.join(broken.dir, "tokenizer.json"));
    const t = await startTestApp("sqlite", { ASR_ENGINE: "whisper-onnx", ASR_MODEL_DIR: broken.dir });
    apps.push(t);
    const live = await fetch(`${t.baseUrl}/live`);
    assert.equal(live.status, 503);
    const body = (await live.json()) as { reasons: string[] };
    assert.match(body.reasons.join(" "), /The Whisper model cannot be used: .*no readable tokenizer\.json/);
    const response = await fetch(`${t.baseUrl}/v2/jobs`, { method: "POST", body: await v2JobForm(clip.path) });
    const { job_id: jobId } = (await response.json()) as { job_id: string };
    const job = await waitForV2Job(t.baseUrl, jobId);
    assert.equal(job.status, "REJECTED");
    assert.match(String(job.failure_reason), /no readable tokenizer\.json/);
    await broken.cleanup();
  });

  it("asks for a model when whisper-onnx is chosen without one", async () => {
    const t = await startTestApp("sqlite", { ASR_ENGINE: "whisper-onnx" });
    apps.push(t);
    const body = (await (await fetch(`${t.baseUrl}/live`)).json()) as { reasons: string[] };
    assert.match(body.reasons.join(" "), /ASR_ENGINE=whisper-onnx needs a model: set ASR_MODEL_DIR/);
  });
});
