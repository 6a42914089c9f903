import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { openAsBlob } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { librivoxClips, makeAudio, makeTempDir, makeVideo, writeFixture, type TempDir } from "../helpers/fixtures";
import { toneWav } from "../helpers/wav";
import { startTestApp, v2JobForm, waitForV2Job, type TestApp } from "../helpers/test-app";

const clip = librivoxClips()[0]!;
const MAX_UPLOAD_BYTES = 2_000_000;

type V2Error = { code: number; error: string; detail: string; status?: string };

describe("bad input gets a clear 4xx or a FAILED job, and disturbs nothing else", () => {
  let t: TestApp;
  let files: TempDir;
  let goodJobId: string;

  before(async () => {
    t = await startTestApp("sqlite", { PARALLEL: "2", MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES) });
    files = await makeTempDir();
    // A good job runs through all of the bad requests below and must still finish.
    const response = await fetch(`${t.baseUrl}/v2/jobs`, { method: "POST", body: await v2JobForm(clip.path) });
    assert.equal(response.status, 201);
    goodJobId = ((await response.json()) as { job_id: string }).job_id;
  });
  after(async () => {
    await t.close();
    await files.cleanup();
  });

  const postV2 = async (form: FormData, headers: Record<string, string> = {}) => {
    const response = await fetch(`${t.baseUrl}/v2/jobs`, { method: "POST", body: form, headers });
    return { status: response.status, body: (await response.json()) as V2Error & { job_id?: string } };
  };

  it("rejects a corrupt file (random bytes) with 400", async () => {
    const file = await writeFixture(files.dir, "corrupt.mp3", randomBytes(64 * 1024));
    const { status, body } = await postV2(await v2JobForm(file));
    assert.equal(status, 400);
    assert.equal(body.detail, "The file is not a recognised audio or video format");
  });

  it("rejects an empty file with 400", async () => {
    const file = await writeFixture(files.dir, "empty.wav", "");
    const { status, body } = await postV2(await v2JobForm(file));
    assert.equal(status, 400);
    assert.equal(body.detail, "The uploaded file is empty (0 bytes)");
  });

  it("rejects a text file with 400", async () => {
    const file = await writeFixture(files.dir, "notes.txt", "This is not audio at all.\n".repeat(100));
    const { status, body } = await postV2(await v2JobForm(file));
    assert.equal(status, 400);
    assert.equal(body.detail, "The file is not a recognised audio or video format");
  });

  it("rejects a video without an audio track with 400", async () => {
    const file = await makeVideo({ dir: files.dir, name: "silent-film.mp4", durationS: 2, withAudio: false });
    const { status, body } = await postV2(await v2JobForm(file));
    assert.equal(status, 400);
    assert.equal(body.detail, "The media has no audio stream");
  });

  it("rejects a WAV whose header promises no samples with 400", async () => {
    const header = toneWav({ durationS: 0 });
    const file = await writeFixture(files.dir, "no-samples.wav", header);
    const { status, body } = await postV2(await v2JobForm(file));
    assert.equal(status, 400);
    assert.match(body.detail, /no audio samples|duration is 0/);
  });

  it("accepts a silent file and fails the job with a reason", async () => {
    const file = await makeAudio([{ kind: "silence", durationS: 5 }], { dir: files.dir, name: "silence.wav" });
    const { status, body } = await postV2(await v2JobForm(file));
    assert.equal(status, 201);
    const job = await waitForV2Job(t.baseUrl, body.job_id!);
    assert.equal(job.status, "REJECTED");
    assert.equal(job.failure_reason, "No speech was detected in the audio (it is silent or contains no recognisable speech)");
    assert.deepEqual((job.errors as { message: string }[]).map((e) => e.message), [job.failure_reason]);
  });

  it("fails a translation on an engine that cannot translate, with the reason, and refuses an unknown task", async () => {
    const { status, body } = await postV2(await v2JobForm(clip.path, { type: "transcription", transcription_config: { language: "en", task: "translate" } }));
    assert.equal(status, 201);
    const job = await waitForV2Job(t.baseUrl, body.job_id!);
    assert.equal(job.status, "REJECTED");
    assert.match(String(job.failure_reason), /pocketsphinx engine cannot translate; translation needs the whisper-onnx engine/);
    const unknown = await postV2(await v2JobForm(clip.path, { type: "transcription", transcription_config: { language: "en", task: "summarise" } }));
    assert.equal(unknown.status, 400);
  });

  it("rejects malformed config JSON, a config that is not a transcription, and a missing config", async () => {
    let result = await postV2(await v2JobForm(clip.path, "{not json"));
    assert.equal(result.status, 400);
    assert.match(result.body.detail, /^Form field "config" is not valid JSON/);

    result = await postV2(await v2JobForm(clip.path, { type: "alignment", transcription_config: { language: "en" } }));
    assert.equal(result.status, 400);
    assert.match(result.body.detail, /config.type must be "transcription"/);

    result = await postV2(await v2JobForm(clip.path, { type: "transcription", transcription_config: {} }));
    assert.equal(result.status, 400);
    assert.match(result.body.detail, /language is required/);

    const form = new FormData();
    form.append("data_file", await openAsBlob(clip.path), "clip.wav");
    result = await postV2(form);
    assert.equal(result.status, 400);
    assert.equal(result.body.detail, 'Missing form field "config"');
  });

  it("rejects a request without data_file, and one that is not multipart", async () => {
    const form = new FormData();
    form.append("config", JSON.stringify({ type: "transcription", transcription_config: { language: "en" } }));
    const { status, body } = await postV2(form);
    assert.equal(status, 400);
    assert.equal(body.detail, 'Missing form field "data_file"');

    const json = await fetch(`${t.baseUrl}/v2/jobs`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    assert.equal(json.status, 400);
    assert.equal(((await json.json()) as V2Error).detail, "Expected a multipart/form-data body");
  });

  it("rejects malformed X-SM-Processing-Data", async () => {
    for (const header of ["{nope", JSON.stringify({ parallel_engines: 0 }), JSON.stringify({ parallel_engines: "two" })]) {
      const { status, body } = await postV2(await v2JobForm(clip.path), { "X-SM-Processing-Data": header });
      assert.equal(status, 400, header);
      assert.match(body.detail, /X-SM-Processing-Data/);
    }
  });

  it("rejects an unknown language with 400 and fails a language the engine does not speak", async () => {
    let result = await postV2(await v2JobForm(clip.path, { type: "transcription", transcription_config: { language: "xx" } }));
    assert.equal(result.status, 400);
    assert.match(result.body.detail, /Unsupported language "xx"/);

    result = await postV2(await v2JobForm(clip.path, { type: "transcription", transcription_config: { language: "fr" } }));
    assert.equal(result.status, 201);
    const job = await waitForV2Job(t.baseUrl, result.body.job_id!);
    assert.equal(job.status, "REJECTED");
    assert.match(String(job.failure_reason), /Language 'fr' is not supported by the pocketsphinx engine \(supported: en\)/);
  });

  it("answers 413 for an upload over MAX_UPLOAD_BYTES and keeps nothing of it", async () => {
    const file = await makeAudio([{ kind: "noise", durationS: 90 }], { dir: files.dir, name: "big.wav" });
    assert.ok((await fs.stat(file)).size > MAX_UPLOAD_BYTES);
    const { status, body } = await postV2(await v2JobForm(file));
    assert.equal(status, 413);
    assert.equal(body.detail, `The file is larger than the upload limit of ${MAX_UPLOAD_BYTES} bytes (MAX_UPLOAD_BYTES)`);
    const leftovers = await fs.readdir(path.join(t.dataDir, "blobs", "tmp")).catch(() => []);
    assert.deepEqual(leftovers, []);
  });

  it("answers 404 for an unknown job id on every job endpoint", async () => {
    for (const suffix of ["", "/transcript", "/log"]) {
      const response = await fetch(`${t.baseUrl}/v2/jobs/ffffffffffffffffffff${suffix}`);
      assert.equal(response.status, 404, suffix);
      assert.equal(((await response.json()) as V2Error).detail, "Job not found: ffffffffffffffffffff");
    }
    const deleted = await fetch(`${t.baseUrl}/v2/jobs/ffffffffffffffffffff`, { method: "DELETE" });
    assert.equal(deleted.status, 404);
    const asyncMissing = await fetch(`${t.baseUrl}/transcribe-job/transcribe-nope`);
    assert.equal(asyncMissing.status, 404);
    assert.deepEqual(await asyncMissing.json(), { error: "Job not found: transcribe-nope", message: "The transcription job does not exist or has been deleted." });
  });

  it("answers 404 for an unsupported format, and 404 with the status for an unfinished job", async () => {
    const job = await waitForV2Job(t.baseUrl, goodJobId);
    const unsupported = await fetch(`${t.baseUrl}/v2/jobs/${goodJobId}/transcript?format=docx`);
    assert.equal(unsupported.status, 404);
    assert.match(((await unsupported.json()) as V2Error).detail, /Unsupported transcript format "docx"/);
    assert.equal(job.status, "DONE");

    const running = await postV2(await v2JobForm(clip.path));
    const early = await fetch(`${t.baseUrl}/v2/jobs/${running.body.job_id!}/transcript`);
    assert.equal(early.status, 404);
    const body = (await early.json()) as V2Error;
    assert.equal(body.status, "RUNNING");
    assert.match(body.detail, /is not complete \(status RUNNING\)/);
    await waitForV2Job(t.baseUrl, running.body.job_id!);
  });

  it("validates the async API's inputs", async () => {
    const missing = await fetch(`${t.baseUrl}/transcribe-batch-async`, { method: "POST", body: new FormData() });
    assert.equal(missing.status, 400);
    assert.deepEqual(await missing.json(), { error: 'Missing form field "file"', message: "Check the request parameters." });
    for (const query of ["max_results=0", "max_results=101", "status=DONE"]) {
      const response = await fetch(`${t.baseUrl}/transcribe-jobs?${query}`);
      assert.equal(response.status, 400, query);
    }
  });

  it("left the good job DONE and the server live", async () => {
    const job = await waitForV2Job(t.baseUrl, goodJobId);
    assert.equal(job.status, "DONE");
    assert.equal((await fetch(`${t.baseUrl}/live`)).status, 200);
  });
});
