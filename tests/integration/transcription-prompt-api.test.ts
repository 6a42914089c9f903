import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import OpenAI, { toFile } from "openai";
import { OPERATOR } from "../../src/server/access";
import { createCaller } from "../../src/server/api/trpc/root";
import { librivoxClips } from "../helpers/fixtures";
import { startTestApp, v2JobForm, waitForV2Job, type TestApp } from "../helpers/test-app";

/**
 * A prompt given to any API reaches the Whisper decoder: OpenAI's `prompt`, the vendor's
 * `additional_vocab` (as a list of its words) and tRPC's `prompt` are stored with the job and
 * change what is decoded. Fallback sampling is off, so the same request decodes alike.
 */
const WHISPER_TINY = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../fixtures/whisper-tiny");
const clip = librivoxClips()[0]!;
const PROMPT = " Mr. Dashwood's leisure, Norland Park.";

describe("transcription prompts through the APIs (tiny Whisper model)", () => {
  let t: TestApp;
  let client: OpenAI;
  before(async () => {
    t = await startTestApp("sqlite", { ASR_ENGINE: "whisper-onnx", ASR_MODEL_DIR: WHISPER_TINY, ASR_TEMPERATURE_FALLBACK: "false" });
    client = new OpenAI({ apiKey: "unused", baseURL: `${t.baseUrl}/v1`, maxRetries: 0 });
  });
  after(() => t.close());

  const transcribe = async (prompt?: string) => {
    const file = await toFile(fs.createReadStream(clip.path), "speech.wav");
    const result = await client.audio.transcriptions.create({ file, model: "whisper-1", response_format: "verbose_json", ...(prompt !== undefined ? { prompt } : {}) });
    const job = (await t.app.jobs.list({ limit: 1 })).jobs[0]!;
    return { text: result.text, params: job.params as { prompt?: string } };
  };

  it("OpenAI: the prompt is stored with the job and conditions the decoder", async () => {
    const plain = await transcribe();
    const again = await transcribe();
    const prompted = await transcribe(PROMPT);
    assert.equal(plain.params.prompt, undefined);
    assert.equal(prompted.params.prompt, PROMPT);
    assert.equal(again.text, plain.text, "without sampling the same request decodes alike");
    assert.notEqual(prompted.text, plain.text, "the prompt changed the decoding");
  });

  it("/v2: additional_vocab becomes the prompt, a list of its words; bad entries are a 400 naming the field", async () => {
    const config = { type: "transcription", transcription_config: { language: "en", additional_vocab: [{ content: "Dashwood" }, { content: "Norland Park", sounds_like: ["nor land park"] }] } };
    const response = await fetch(`${t.baseUrl}/v2/jobs`, { method: "POST", body: await v2JobForm(clip.path, config) });
    assert.equal(response.status, 201);
    const { id } = (await response.json()) as { id: string };
    assert.equal((await waitForV2Job(t.baseUrl, id)).status, "DONE");
    assert.equal(((await t.app.jobs.get(id)).params as { prompt?: string }).prompt, "Dashwood, Norland Park");
    const bad = await fetch(`${t.baseUrl}/v2/jobs`, { method: "POST", body: await v2JobForm(clip.path, { type: "transcription", transcription_config: { language: "en", additional_vocab: [{ sounds_like: ["x"] }] } }) });
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /additional_vocab\[\]\.content is required/);
  });

  it("tRPC: jobs.create takes a prompt; one over 2,000 characters is refused", async () => {
    const caller = createCaller({ app: t.app, principal: OPERATOR });
    const media = await t.app.media.ingest(fs.createReadStream(clip.path), { originalName: "speech.wav", contentType: "audio/wav" });
    const job = await caller.jobs.create({ mediaFileId: media.id, language: "en", prompt: PROMPT });
    assert.equal((job.params as { prompt?: string }).prompt, PROMPT);
    await assert.rejects(caller.jobs.create({ mediaFileId: media.id, language: "en", prompt: "x".repeat(2001) }), /2000 characters/);
  });
});
