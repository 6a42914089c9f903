import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import OpenAI, { AuthenticationError, BadRequestError, NotFoundError, toFile, UnprocessableEntityError } from "openai";
import type { TranslationVerbose } from "openai/resources/audio/translations";
import type { JobChangedEvent } from "../../src/server/jobs/job-events";
import { parseSrt } from "../../src/server/subtitles/srt";
import { renderTranscript } from "../../src/server/transcripts/render-transcript";
import { librivoxClips, makeTempDir, writeFixture, type TempDir } from "../helpers/fixtures";
import { startTestApp, type TestApp } from "../helpers/test-app";
import { TEST_PROVIDERS } from "../helpers/test-database";
import { wordErrorRate } from "../helpers/wer";

/**
 * The official `openai` SDK, unchanged but for its base URL, against the real server: every
 * response format, word and segment timings, translations, models, errors and keys.
 * PocketSphinx transcribes the real speech; the tiny random-weight Whisper model translates
 * (gibberish, but through every real stage); a sleepy engine holds a job while its client
 * goes away.
 */
const clip = librivoxClips()[0]!;
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const WHISPER_TINY = path.join(ROOT, "tests/fixtures/whisper-tiny");
const SLEEPY_ENGINE = path.join(ROOT, "bench/sleepy-engine.ts");

/** A client as an OpenAI user writes it; retries off so each call is one request. */
function openAiClient(t: TestApp, apiKey = "sk-anything"): OpenAI {
  return new OpenAI({ apiKey, baseURL: `${t.baseUrl}/v1`, maxRetries: 0 });
}

const speech = () => fs.createReadStream(clip.path);

// Every format and error on the first provider (SQLite unless TEST_DB_PROVIDERS narrows it);
// the database part (the job, the wait for it over the event bus) again on PostgreSQL below.
for (const provider of TEST_PROVIDERS.slice(0, 1)) {
  describe(`OpenAI-compatible API on ${provider} (official openai SDK, PocketSphinx)`, () => {
    let t: TestApp;
    let client: OpenAI;
    let files: TempDir;

    before(async () => {
      t = await startTestApp(provider);
      client = openAiClient(t);
      files = await makeTempDir();
    });
    after(async () => {
      await t.close();
      await files.cleanup();
    });

    it("json (the default): exactly { text }, the real speech with a word error rate below 0.5", async () => {
      const result = await client.audio.transcriptions.create({ file: speech(), model: "whisper-1" });
      assert.deepEqual(Object.keys(result), ["text"]);
      const wer = wordErrorRate(clip.reference, result.text);
      assert.ok(wer < 0.5, `WER ${wer.toFixed(3)} should be below 0.5: "${result.text}"`);
    });

    it("text, srt and vtt come back as strings in their formats", async () => {
      const text = await client.audio.transcriptions.create({ file: speech(), model: "whisper-1", response_format: "text", language: "en" });
      assert.equal(typeof text, "string");
      assert.ok(text.endsWith("\n"));
      assert.ok(wordErrorRate(clip.reference, text) < 0.5);

      const srt = await client.audio.transcriptions.create({ file: speech(), model: "whisper-1", response_format: "srt" });
      assert.equal(typeof srt, "string");
      const cues = parseSrt(srt);
      assert.ok(cues.length > 0);
      assert.equal(cues[0]!.index, 1);
      assert.ok(cues.every((cue) => cue.endS > cue.startS));

      const vtt = await client.audio.transcriptions.create({ file: speech(), model: "whisper-1", response_format: "vtt" });
      assert.equal(typeof vtt, "string");
      assert.match(vtt, /^WEBVTT\r?\n/);
      assert.match(vtt, /\d\d:\d\d:\d\d\.\d\d\d --> \d\d:\d\d:\d\d\.\d\d\d/);
    });

    it("verbose_json: task, language by name, duration, text and OpenAI-typed segments (no words unless asked)", async () => {
      const result = await client.audio.transcriptions.create({ file: speech(), model: "whisper-1", response_format: "verbose_json", language: "en-US" });
      assert.equal((result as unknown as { task: string }).task, "transcribe");
      assert.equal(result.language, "english");
      assert.ok(Math.abs(result.duration - 7) < 1, `duration ${result.duration}`);
      assert.ok(wordErrorRate(clip.reference, result.text) < 0.5);
      assert.equal(result.words, undefined);
      const segments = result.segments ?? [];
      assert.ok(segments.length > 0);
      segments.forEach((segment, index) => {
        assert.equal(segment.id, index);
        assert.ok(segment.end > segment.start && segment.end <= result.duration + 1e-3);
        assert.match(segment.text, /^ \S/);
        assert.deepEqual(segment.tokens, []);
        for (const field of ["seek", "temperature", "avg_logprob", "compression_ratio", "no_speech_prob"] as const) {
          assert.equal(typeof segment[field], "number", field);
          assert.ok(Number.isFinite(segment[field]), field);
        }
        assert.ok(segment.avg_logprob <= 0);
      });
      assert.equal(segments.map((segment) => segment.text.trim()).join(" "), result.text);
    });

    it("word granularity: only words, each inside the audio, in increasing order", async () => {
      const result = await client.audio.transcriptions.create({ file: speech(), model: "whisper-1", response_format: "verbose_json", timestamp_granularities: ["word"] });
      assert.equal(result.segments, undefined);
      const words = result.words ?? [];
      assert.ok(words.length >= 5, `${words.length} words`);
      let previous = 0;
      for (const word of words) {
        assert.match(word.word, /^\S+$/);
        assert.ok(word.start >= previous - 1e-9, `"${word.word}" starts at ${word.start}, before ${previous}`);
        assert.ok(word.end >= word.start && word.end <= result.duration + 1e-3, `"${word.word}" ${word.start}–${word.end} in ${result.duration} s`);
        previous = word.start;
      }
      assert.equal(words.map((word) => word.word).join(" "), result.text);
    });

    it("both granularities: words and segments", async () => {
      const result = await client.audio.transcriptions.create({
        file: speech(),
        model: "whisper-1",
        response_format: "verbose_json",
        timestamp_granularities: ["word", "segment"],
      });
      assert.ok((result.words ?? []).length > 0);
      assert.ok((result.segments ?? []).length > 0);
    });

    it("goes through the job system: the job is visible with origin openai, its request options stored", async () => {
      const { data, response } = await client.audio.transcriptions
        .create({ file: speech(), model: "pocketsphinx", prompt: "Sense and Sensibility", temperature: 0.2 })
        .withResponse();
      assert.ok(data.text.length > 0);
      const jobId = response.headers.get("x-request-id")!;
      const job = await t.app.jobs.get(jobId);
      assert.equal(job.origin, "openai");
      assert.equal(job.status, "DONE");
      assert.deepEqual(job.config, { model: "pocketsphinx", response_format: "json", temperature: 0.2, prompt: "Sense and Sensibility" });
      const v2 = await fetch(`${t.baseUrl}/v2/jobs/${jobId}/transcript?format=txt`);
      assert.equal(v2.status, 200);
    });

    it("lists and retrieves models: whisper-1 and the engine's own name", async () => {
      const ids: string[] = [];
      for await (const model of client.models.list()) {
        assert.equal(model.object, "model");
        assert.equal(typeof model.created, "number");
        assert.equal(typeof model.owned_by, "string");
        ids.push(model.id);
      }
      assert.ok(ids.includes("whisper-1"));
      assert.ok(ids.includes("pocketsphinx"));
      const model = await client.models.retrieve("whisper-1");
      assert.deepEqual(Object.keys(model).sort(), ["created", "id", "object", "owned_by"]);
      assert.equal(model.id, "whisper-1");
      await assert.rejects(client.models.retrieve("gpt-9"), (error: unknown) => {
        assert.ok(error instanceof NotFoundError);
        assert.equal(error.code, "model_not_found");
        return true;
      });
    });

    it("refuses an unknown model with model_not_found, and a non-audio file with a 400 naming the reason", async () => {
      await assert.rejects(client.audio.transcriptions.create({ file: speech(), model: "gpt-9-transcribe" }), (error: unknown) => {
        assert.ok(error instanceof NotFoundError);
        assert.equal(error.code, "model_not_found");
        assert.equal(error.param, "model");
        return true;
      });
      const notes = await writeFixture(files.dir, "notes.txt", "These are meeting notes, not audio.\n");
      await assert.rejects(client.audio.transcriptions.create({ file: fs.createReadStream(notes), model: "whisper-1" }), (error: unknown) => {
        assert.ok(error instanceof BadRequestError, String(error));
        assert.equal(error.type, "invalid_request_error");
        assert.match(error.message, /The file is not a recognised audio or video format/);
        return true;
      });
    });

    it("answers bad parameters with a 400 naming the parameter, in OpenAI's error shape", async () => {
      const cases: { form: Record<string, string | string[]>; param: string; message: RegExp }[] = [
        { form: { model: "whisper-1", response_format: "docx" }, param: "response_format", message: /response_format must be one of json, text, srt, verbose_json, vtt/ },
        { form: { model: "whisper-1", "timestamp_granularities[]": "word" }, param: "timestamp_granularities", message: /needs response_format=verbose_json/ },
        { form: { model: "whisper-1", response_format: "verbose_json", "timestamp_granularities[]": ["word", "phoneme"] }, param: "timestamp_granularities", message: /word or segment/ },
        { form: { model: "whisper-1", temperature: "1.5" }, param: "temperature", message: /between 0 and 1/ },
        { form: { model: "whisper-1", language: "klingon" }, param: "language", message: /Unsupported language "klingon"/ },
        { form: {}, param: "model", message: /you must provide a model parameter/ },
      ];
      for (const { form, param, message } of cases) {
        const body = new FormData();
        body.append("file", await fs.openAsBlob(clip.path), "speech.wav");
        for (const [name, value] of Object.entries(form)) for (const item of [value].flat()) body.append(name, item);
        const response = await fetch(`${t.baseUrl}/v1/audio/transcriptions`, { method: "POST", body });
        assert.equal(response.status, 400, JSON.stringify(form));
        const { error } = (await response.json()) as { error: { message: string; type: string; param: string | null; code: string | null } };
        assert.equal(error.type, "invalid_request_error");
        assert.equal(error.param, param, JSON.stringify(form));
        assert.match(error.message, message);
      }
      const noFile = new FormData();
      noFile.append("model", "whisper-1");
      const response = await fetch(`${t.baseUrl}/v1/audio/transcriptions`, { method: "POST", body: noFile });
      assert.equal(response.status, 400);
      assert.deepEqual(await response.json(), {
        error: { message: 'Missing form field "file": send the audio as a multipart file part named file', type: "invalid_request_error", param: "file", code: null },
      });
    });

    it("a translation on an engine that cannot translate is a 422 with the engine's reason", async () => {
      await assert.rejects(client.audio.translations.create({ file: speech(), model: "whisper-1" }), (error: unknown) => {
        assert.ok(error instanceof UnprocessableEntityError, String(error));
        assert.equal(error.code, "transcription_failed");
        assert.match(error.message, /pocketsphinx engine cannot translate/);
        return true;
      });
    });
  });
}

for (const provider of TEST_PROVIDERS.slice(1)) {
  describe(`OpenAI-compatible API on ${provider} (official openai SDK, PocketSphinx)`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(provider);
    });
    after(() => t.close());

    it("transcribes through the job system: verbose_json with words and segments, the job visible with origin openai", async () => {
      const { data, response } = await openAiClient(t)
        .audio.transcriptions.create({ file: speech(), model: "whisper-1", response_format: "verbose_json", timestamp_granularities: ["word", "segment"] })
        .withResponse();
      assert.equal(data.language, "english");
      assert.ok(wordErrorRate(clip.reference, data.text) < 0.5);
      assert.ok((data.words ?? []).length > 0 && (data.segments ?? []).length > 0);
      const job = await t.app.jobs.get(response.headers.get("x-request-id")!);
      assert.equal(job.origin, "openai");
      assert.equal(job.status, "DONE");
    });
  });
}

describe("OpenAI-compatible API: translations (tiny Whisper model)", () => {
  let t: TestApp;
  let client: OpenAI;
  before(async () => {
    t = await startTestApp("sqlite", { ASR_ENGINE: "whisper-onnx", ASR_MODEL_DIR: WHISPER_TINY });
    client = openAiClient(t);
  });
  after(() => t.close());

  it("lists the Whisper model by name", async () => {
    const ids = (await client.models.list()).data.map((model) => model.id);
    assert.deepEqual(ids, ["whisper-1", "whisper-onnx", "whisper-tiny"]);
  });

  it("translates: json { text } and verbose_json with task translate, language english and segments", async () => {
    const json = await client.audio.translations.create({ file: speech(), model: "whisper-tiny" });
    assert.deepEqual(Object.keys(json), ["text"]);
    assert.equal(typeof json.text, "string");
    // The SDK types translations' verbose_json loosely; TranslationVerbose is what it returns.
    const verbose = (await client.audio.translations.create({
      file: await toFile(fs.createReadStream(clip.path), "speech.wav"),
      model: "whisper-1",
      response_format: "verbose_json",
    })) as unknown as TranslationVerbose;
    assert.equal((verbose as unknown as { task: string }).task, "translate");
    assert.equal(verbose.language, "english");
    assert.ok(verbose.duration > 6);
    assert.ok(Array.isArray(verbose.segments));
    for (const segment of verbose.segments ?? []) assert.ok(segment.start >= 0 && segment.end <= verbose.duration + 1e-3);
    const job = (await t.app.jobs.list({ limit: 1 })).jobs[0]!;
    assert.equal((job.params as { task: string }).task, "translate");
  });

  it("carries Whisper's per-window decoding figures, word probabilities and where word times come from", async () => {
    const verbose = await client.audio.transcriptions.create({
      file: await toFile(fs.createReadStream(clip.path), "speech.wav"),
      model: "whisper-tiny",
      response_format: "verbose_json",
      timestamp_granularities: ["word", "segment"],
    });
    const segments = verbose.segments ?? [];
    assert.ok(segments.length > 0);
    for (const segment of segments) {
      assert.ok(segment.no_speech_prob >= 0 && segment.no_speech_prob < 1, JSON.stringify(segment));
      assert.ok([0, 0.2, 0.4, 0.6, 0.8, 1].includes(segment.temperature), JSON.stringify(segment));
      assert.ok(segment.avg_logprob < 0);
    }
    const words = (verbose.words ?? []) as unknown as { word: string; start: number; end: number; probability: number }[];
    assert.ok(words.length > 0 && words.every((word) => word.probability >= 0 && word.probability <= 1), JSON.stringify(words));
    const job = (await t.app.jobs.list({ limit: 1 })).jobs[0]!;
    const { document } = await t.app.jobs.transcript(job.id);
    const json = JSON.parse(renderTranscript(document, "json").body) as { word_timings: string; segments: { avg_logprob: number; compression_ratio: number; no_speech_prob: number; temperature: number }[] };
    assert.equal(json.word_timings, "aligned");
    // The decoder's own figures were stored (json has them only then) and verbose_json shows the same.
    assert.ok(json.segments.every((segment) => typeof segment.avg_logprob === "number" && typeof segment.temperature === "number"));
    assert.deepEqual(
      json.segments.map((segment) => [segment.avg_logprob, segment.compression_ratio, segment.no_speech_prob, segment.temperature]),
      segments.map((segment) => [segment.avg_logprob, segment.compression_ratio, segment.no_speech_prob, segment.temperature]),
    );
  });
});

describe("OpenAI-compatible API: keys and the synchronous time limit", () => {
  let t: TestApp;
  before(async () => {
    // 1 ms: every transcription outlasts the wait, so each answer is the timeout.
    t = await startTestApp("sqlite", { API_KEYS: "op-key,alice-key:alice", SYNC_TRANSCRIBE_TIMEOUT_MS: "1" });
  });
  after(() => t.close());

  it("refuses a wrong key with AuthenticationError (invalid_api_key)", async () => {
    await assert.rejects(openAiClient(t, "wrong-key").models.list(), (error: unknown) => {
      assert.ok(error instanceof AuthenticationError, String(error));
      assert.equal(error.code, "invalid_api_key");
      assert.equal(error.type, "invalid_request_error");
      return true;
    });
    await assert.rejects(openAiClient(t, "wrong-key").audio.transcriptions.create({ file: speech(), model: "whisper-1" }), AuthenticationError);
    const models = await openAiClient(t, "alice-key").models.list();
    assert.ok(models.data.some((model) => model.id === "whisper-1"));
  });

  it("answers 504 naming the job when it outlasts SYNC_TRANSCRIBE_TIMEOUT_MS, without a retry; the job finishes and is the caller's", async () => {
    // Retries on: the answer itself must tell the SDK not to upload the file again.
    const retrying = new OpenAI({ apiKey: "alice-key", baseURL: `${t.baseUrl}/v1`, maxRetries: 2 });
    let jobId = "";
    await assert.rejects(retrying.audio.transcriptions.create({ file: speech(), model: "whisper-1" }), (error: unknown) => {
      assert.ok(error instanceof OpenAI.APIError, String(error));
      assert.equal(error.status, 504);
      assert.equal(error.type, "server_error");
      assert.equal(error.code, "timeout");
      jobId = /Job ([0-9a-f]+) did not finish/.exec(error.message)?.[1] ?? "";
      assert.ok(jobId, error.message);
      return true;
    });
    assert.equal((await t.app.jobs.list({ limit: 10 })).jobs.length, 1, "one job: the SDK did not retry");
    const settled = await t.app.jobs.waitForSettled(jobId, 60_000);
    assert.equal(settled.status, "DONE");
    assert.equal(settled.userId, "alice");
    const transcript = await fetch(`${t.baseUrl}/v2/jobs/${jobId}/transcript?format=txt`, { headers: { authorization: "Bearer alice-key" } });
    assert.equal(transcript.status, 200);
    assert.ok(wordErrorRate(clip.reference, await transcript.text()) < 0.5);
  });
});

describe("OpenAI-compatible API: a client that hangs up", () => {
  let t: TestApp;
  before(async () => {
    // The sleepy engine holds every job ten minutes (until it is cancelled).
    const saved = process.env.SLEEPY_MIN_MS;
    process.env.SLEEPY_MIN_MS = "600000";
    try {
      t = await startTestApp("sqlite", { ASR_ENGINE_MODULE: SLEEPY_ENGINE });
    } finally {
      if (saved === undefined) delete process.env.SLEEPY_MIN_MS;
      else process.env.SLEEPY_MIN_MS = saved;
    }
  });
  after(() => t.close());

  it("cancels the job it was waiting for, rather than running it for nobody", async () => {
    const client = openAiClient(t);
    const running = new Promise<string>((resolve) => {
      const unsubscribe = t.app.events.subscribe((event) => {
        if (event.type === "changed" && (event as JobChangedEvent).status === "RUNNING") {
          unsubscribe();
          resolve(event.jobId);
        }
      });
    });
    const abort = new AbortController();
    const request = client.audio.transcriptions.create({ file: speech(), model: "whisper-1" }, { signal: abort.signal });
    const jobId = await running;
    abort.abort();
    await assert.rejects(request, OpenAI.APIUserAbortError);
    const settled = await t.app.jobs.waitForSettled(jobId, 30_000);
    assert.equal(settled.status, "CANCELLED");
  });
});
